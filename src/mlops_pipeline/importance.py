"""Feature importance of any model: permutation importance on the held-out split, per raw input column.

Each input column of the model (the raw columns it is given, so a category is one column however it is encoded
inside) is shuffled in turn, `n_repeats` times with a seeded generator, and the drop of the primary metric
(accuracy or R²) is its importance (scikit-learn's `permutation_importance`, computed in a few large predict calls).
It needs nothing from the model but `predict`, so every kind (trees, linear models, MLPs, your own estimator) gets
the same table and plot. A seeded sample of at most `MAX_ROWS` held-out rows is used, fewer on wide tables, which
bounds the cost at about `ROW_BUDGET` predicted rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mlops_pipeline.config import ProblemKind, primary_metric
from mlops_pipeline.plots import importance_svg

N_REPEATS = 3
MAX_ROWS = 2_000
ROW_BUDGET = 60_000  # rows predicted in all (columns x repeats x rows): fewer held-out rows on wide tables
BLOCK_ROWS = 50_000  # rows per predict call: shuffled copies are scored in a few large calls, not one per column
PLOTTED = 20  # the plot shows the most important columns; the table has every one


@dataclass(frozen=True)
class FeatureImportance:
    metric: str  # the metric whose drop is measured (the primary metric)
    n_rows: int
    n_repeats: int
    rows: list[dict[str, Any]]  # feature, importance (mean drop), std, rank; most important first

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for the model card."""
        return asdict(self)

    def svg(self, title: str) -> str:
        shown = self.rows[:PLOTTED]
        return importance_svg(
            [r["feature"] for r in shown],
            [r["importance"] for r in shown],
            [r["std"] for r in shown],
            f"{title}: permutation importance ({self.metric}, held-out split"
            + (f", top {PLOTTED} of {len(self.rows)})" if len(self.rows) > PLOTTED else ")"),
        )


def _metric(y: np.ndarray, predictions: np.ndarray, problem: ProblemKind) -> float:
    if problem == "classification":
        return float(np.mean(predictions == y))
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - predictions) ** 2)) / total if total > 0 else 0.0


def feature_importance(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    problem: ProblemKind,
    seed: int,
    n_repeats: int = N_REPEATS,
    max_rows: int = MAX_ROWS,
) -> FeatureImportance:
    """Permutation importance of every input column on (a seeded sample of) X, y.

    At most `max_rows` rows, fewer when columns x repeats x rows would pass `ROW_BUDGET`. Each shuffled copy of
    the rows is stacked with others and scored in calls of about `BLOCK_ROWS` rows: one predict per column and
    repeat costs more in per-call overhead (and thread start-up, for HistGradientBoosting) than in scoring.
    """
    X, y = np.asarray(X), np.asarray(y)
    n_columns = X.shape[1]
    if n_columns != len(feature_names):
        raise ValueError(f"{n_columns} columns but {len(feature_names)} feature names")
    rng = np.random.default_rng(seed)
    keep = min(max_rows, max(ROW_BUDGET // max(n_columns * n_repeats, 1), 100))
    if X.shape[0] > keep:
        rows = np.sort(rng.choice(X.shape[0], size=keep, replace=False))
        X, y = X[rows], y[rows]
    if problem == "regression":
        y = y.astype(np.float64)
    with threadpool_limits(1):  # one thread: on a busy machine BLAS / OpenMP threads cost 3-7x the time here
        return _importance(estimator, X, y, feature_names, problem, rng, n_repeats)


def _importance(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    problem: ProblemKind,
    rng: np.random.Generator,
    n_repeats: int,
) -> FeatureImportance:
    n_rows, n_columns = X.shape
    baseline = _metric(y, np.asarray(estimator.predict(X)), problem)
    jobs = [(column, repeat) for column in range(n_columns) for repeat in range(n_repeats)]
    orders = {job: rng.permutation(n_rows) for job in jobs}  # drawn up front: the result does not depend on blocks
    drops = np.zeros((n_columns, n_repeats))
    per_block = max(BLOCK_ROWS // max(n_rows, 1), 1)
    for start in range(0, len(jobs), per_block):
        block = jobs[start : start + per_block]
        stacked = np.repeat(X[np.newaxis], len(block), axis=0)
        for copy, job in enumerate(block):
            stacked[copy, :, job[0]] = X[orders[job], job[0]]
        predictions = np.asarray(estimator.predict(stacked.reshape(-1, n_columns))).reshape(len(block), n_rows)
        for copy, (column, repeat) in enumerate(block):
            drops[column, repeat] = baseline - _metric(y, predictions[copy], problem)
    means, stds = drops.mean(axis=1), drops.std(axis=1)
    order = sorted(range(n_columns), key=lambda i: (-means[i], i))
    table = [
        {
            "rank": rank,
            "feature": feature_names[i],
            "importance": round(float(means[i]), 6),
            "std": round(float(stds[i]), 6),
        }
        for rank, i in enumerate(order, start=1)
    ]
    return FeatureImportance(metric=primary_metric(problem), n_rows=int(n_rows), n_repeats=n_repeats, rows=table)
