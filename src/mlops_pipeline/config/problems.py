"""Problem kinds and their metrics: which metric ranks candidates and compares a candidate with the champion."""

from __future__ import annotations

from typing import Literal

ProblemKind = Literal["classification", "regression"]
MetricName = Literal["accuracy", "macro_f1", "r2", "rmse"]

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
REGRESSION_METRICS: tuple[str, ...] = ("r2", "rmse")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse"})


def primary_metric(problem: ProblemKind) -> str:
    """The metric candidates are selected by and the champion is compared on: the one place this rule lives."""
    return "accuracy" if problem == "classification" else "r2"
