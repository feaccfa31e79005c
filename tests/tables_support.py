"""A mixed table built in code for the tests of issue 20 (training, batch scoring, the service, drift)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_shop_table(
    path: Path, rows: int = 600, seed: int = 0, *, first_day: str = "2023-01-01", new_colour_share: float = 0.0
) -> None:
    """Text categories with NA cells, numbers with empty cells, ISO dates, yes/no, and a name per row (an
    identifier the pipeline must leave out). `label` is "buy" when a clear score of colour, size, membership and
    how early the customer joined is positive."""
    rng = np.random.default_rng(seed)
    colours = rng.choice(["red", "green", "blue"], rows, p=[0.4, 0.35, 0.25])
    sizes = rng.uniform(1.0, 10.0, rows).round(1)
    days = rng.integers(0, 365, rows)
    member = rng.random(rows) < 0.5
    score = 2.0 * (colours == "red") - 2.0 * (colours == "blue") + (sizes - 5.5) + 1.5 * member - (days - 180) / 120
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", "colour", "size", "joined", "member", "label"])
        for i in range(rows):
            colour = "NA" if i % 37 == 5 else colours[i]
            size = "" if i % 41 == 7 else f"{sizes[i]:.1f}"
            if rng.random() < new_colour_share:
                colour = "purple"  # a category the training file never had
            joined = str(np.datetime64(first_day) + np.timedelta64(int(days[i]), "D"))
            writer.writerow(
                [f"customer {i:04d} {rng.integers(1e6)}", colour, size, joined, "yes" if member[i] else "no"]
                + ["buy" if score[i] > 0 else "skip"]
            )


SHOP_MODEL = "shop"


def train_shop(root: Path) -> Path:
    """The shop table trained by the project's own training flow into the store at `root` (needs the harness)."""
    from mlops_pipeline.flows.pipeline import training_pipeline

    from mlops_pipeline.config import parse_config

    data = root / "shop.csv"
    write_shop_table(data)
    registry = {"root": str(root), "model_name": SHOP_MODEL}
    values = {"registry": registry, "data": {"source": str(data), "target": "label"}}
    state = training_pipeline(parse_config(values), return_state=True)
    assert state.is_completed(), state.message
    return root
