"""Mixed tables built in code for the table-model tests: numbers with missing cells, a boolean, text categories
(one rare, missing cells), a date with times of day, and a target that depends on all of them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mlops_pipeline.features import ColumnSpec

COLOURS = ("red", "green", "blue", "grey", "rare")
SIZES = ("S", "M", "L")
SPECS = [
    ColumnSpec("amount", "numeric"),
    ColumnSpec("member", "boolean"),
    ColumnSpec("colour", "categorical", categories=COLOURS),
    ColumnSpec("seen", "datetime", has_time=True),
    ColumnSpec("size", "categorical", categories=SIZES),
    ColumnSpec("score", "numeric"),
]


def mixed_table(n_rows: int, seed: int = 0, regression: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(encoded X, y): codes for categories, days since 1970 for dates, NaN for missing cells."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(50.0, 10.0, n_rows)
    member = rng.integers(0, 2, n_rows).astype(float)
    colour = rng.choice(5, n_rows, p=[0.4, 0.25, 0.2, 0.149, 0.001]).astype(float)
    seen = 19_000.0 + rng.uniform(0.0, 700.0, n_rows)
    size = rng.choice(3, n_rows, p=[0.5, 0.3, 0.2]).astype(float)
    score = rng.normal(size=n_rows)
    signal = (
        0.08 * (amount - 50.0)
        + 0.7 * member
        + np.array([0.0, 1.2, -1.0, 0.4, 2.0])[colour.astype(int)]
        + np.sin((seen - 19_000.0) / 60.0)
        + 0.5 * np.cos(2 * np.pi * (seen % 1.0))
        + np.array([-0.5, 0.0, 0.6])[size.astype(int)]
        + 0.3 * score
    )
    amount[rng.random(n_rows) < 0.1] = np.nan
    colour[rng.random(n_rows) < 0.05] = np.nan
    seen[rng.random(n_rows) < 0.03] = np.nan
    member[rng.random(n_rows) < 0.02] = np.nan
    X = np.asfortranarray(np.column_stack([amount, member, colour, seen, size, score]))
    noisy = signal + rng.normal(0.0, 0.4, n_rows)
    return X, (noisy if regression else (noisy > 0.4).astype(int))


def with_unseen_categories(X: np.ndarray, share: float = 0.05, seed: int = 1) -> np.ndarray:
    """A copy of X where some colour cells hold the unknown code (-1) and some sizes are missing."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.random(X.shape[0]) < share, 2] = -1.0
    X[rng.random(X.shape[0]) < share, 4] = np.nan
    return X


def raw_frame(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """The raw table behind encoded rows: text categories, yes/no booleans, ISO date-times, empty missing cells."""

    def text(values: np.ndarray, names: tuple[str, ...]) -> list[str | None]:
        return [None if np.isnan(v) else ("purple" if v < 0 else names[int(v)]) for v in values]

    epoch = dt.datetime(1970, 1, 1)
    return pd.DataFrame(
        {
            "label": y,
            "size": text(X[:, 4], SIZES),
            "seen": [None if np.isnan(v) else (epoch + dt.timedelta(days=float(v))).isoformat() for v in X[:, 3]],
            "colour": text(X[:, 2], COLOURS),
            "member": [None if np.isnan(v) else ("yes" if v else "no") for v in X[:, 1]],
            "amount": X[:, 0],
            "score": X[:, 5],
            "note": ["free text"] * len(y),
        }
    )
