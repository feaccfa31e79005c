"""Feature importance of any model: permutation importance on the held-out split, per raw input column.

Each input column of the model (the raw columns it is given, so a category is one column however it is encoded
inside) is shuffled in turn, `n_repeats` times with a seeded generator, and the drop of the primary metric is its
importance. It needs nothing from the model but `predict`, so every kind (trees, linear models, MLPs, your own
estimator) gets the same table and plot. At most `max_rows` held-out rows (a seeded sample) are used, which bounds
the cost at n_columns x n_repeats predictions of that many rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.inspection import permutation_importance

from mlops_pipeline.config import ProblemKind, primary_metric
from mlops_pipeline.plots import importance_svg

N_REPEATS = 5
MAX_ROWS = 2_000
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
    """Permutation importance of every input column on (a seeded sample of at most `max_rows` of) X, y."""
    if X.shape[1] != len(feature_names):
        raise ValueError(f"{X.shape[1]} columns but {len(feature_names)} feature names")
    if X.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=max_rows, replace=False))
        X, y = X[rows], y[rows]
    metric = primary_metric(problem)
    result = permutation_importance(
        estimator, X, y, scoring=metric, n_repeats=n_repeats, random_state=seed, n_jobs=None
    )
    order = sorted(range(len(feature_names)), key=lambda i: (-result.importances_mean[i], i))
    table = [
        {
            "rank": rank,
            "feature": feature_names[i],
            "importance": round(float(result.importances_mean[i]), 6),
            "std": round(float(result.importances_std[i]), 6),
        }
        for rank, i in enumerate(order, start=1)
    ]
    return FeatureImportance(metric=metric, n_rows=int(X.shape[0]), n_repeats=n_repeats, rows=table)
