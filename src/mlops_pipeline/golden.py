"""Golden sets: extra labelled sets the test-gate scores every candidate on (`gate.golden_sets`).

The held-out split says how a model does on more of its training data; a golden set says how it does on data
that matters and that training never saw (the digits configs name `drawn_digits`: digits drawn with the mouse on
the serving page). Each set has its own metric bounds and, unless switched off, a no-worse-than-champion rule:
the candidate's primary metric on the set may not be below the champion's on the same set by more than the set's
`champion_tolerance`. The checks join the gate's table, one row each, and fail the gate like any other check.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.config import DataConfig, GoldenSetConfig, ProblemKind
from mlops_pipeline.data import DataLoadError, load_dataset
from mlops_pipeline.findings import DataValidationError
from mlops_pipeline.gate import Champion, Check, GateReport, bound_checks, champion_check, unmet_check
from mlops_pipeline.train import evaluate

# Sets that ship with the package (mlops_pipeline/datasets): name -> file
BUILTIN_GOLDEN_SETS = {"drawn_digits": "drawn_digits.csv"}


class GoldenSetError(ValueError):
    """A golden set that cannot be used; the message names the config key and the file."""


@dataclass(frozen=True)
class GoldenSet:
    name: str
    X: np.ndarray
    y: np.ndarray
    config: GoldenSetConfig


def golden_set_path(source: str) -> str:
    """A built-in set's installed file, or `source` itself (a path or URL)."""
    if source in BUILTIN_GOLDEN_SETS:
        return str(resources.files("mlops_pipeline.datasets").joinpath(BUILTIN_GOLDEN_SETS[source]))
    return source


def load_golden_set(config: GoldenSetConfig, feature_names: list[str], key: str) -> GoldenSet:
    """Read one set and put its columns in the model's feature order; errors name `key` and the file."""
    location = golden_set_path(config.source)
    if "://" not in location and not Path(location).is_file():
        known = ", ".join(sorted(BUILTIN_GOLDEN_SETS))
        raise GoldenSetError(f"{key}.source: no such file {location!r} (built-in golden sets: {known})")
    try:
        dataset = load_dataset(DataConfig(source=location, target=config.target, retries=0))
    except (DataLoadError, DataValidationError, OSError) as exc:
        raise GoldenSetError(f"{key}.source {location!r}: {exc}") from None
    missing = [name for name in feature_names if name not in dataset.feature_names]
    if missing or dataset.y is None:
        what = f"no column(s) {missing[:5]} of the model's features" if missing else "no target column"
        raise GoldenSetError(f"{key}.source {location!r}: {what}")
    order = [dataset.feature_names.index(name) for name in feature_names]
    return GoldenSet(config.name, np.asarray(dataset.X[:, order], dtype=np.float64), dataset.y, config)


def load_golden_sets(configs: list[GoldenSetConfig], feature_names: list[str]) -> list[GoldenSet]:
    return [load_golden_set(c, feature_names, f"gate.golden_sets[{i}]") for i, c in enumerate(configs)]


def golden_checks(
    estimator: Any, golden: GoldenSet, champion: Champion | None, primary_metric: str, problem: ProblemKind
) -> list[Check]:
    """The set's metric bounds and the no-worse-than-champion rule: the gate's own checks, named after the set."""
    prefix, config = f"{golden.name}: ", golden.config
    try:
        metrics = evaluate(estimator.predict, golden.X, golden.y, problem)
    except Exception as exc:  # a model that cannot score the set fails its checks, with the reason
        return [unmet_check(f"{prefix}scored", f"{type(exc).__name__}: {exc}")]
    checks = bound_checks(metrics, config.min_metrics, config.max_metrics, prefix, f"{golden.X.shape[0]} rows")
    if config.no_worse_than_champion and champion is not None:
        checks.append(_champion_check(metrics, golden, champion, primary_metric, problem))
    return checks


def _champion_check(
    metrics: dict[str, float], golden: GoldenSet, champion: Champion, primary_metric: str, problem: ProblemKind
) -> Check:
    prefix = f"{golden.name}: "
    try:
        if champion.error is not None:
            raise RuntimeError(f"cannot load the champion: {champion.error}")
        theirs = evaluate(champion.estimator.predict, golden.X, golden.y, problem)
    except Exception as exc:
        name = f"{prefix}{primary_metric} vs champion {champion.version}"
        return unmet_check(name, f"the champion cannot score the set: {exc}")
    tolerance = golden.config.champion_tolerance
    return champion_check(metrics, theirs, primary_metric, tolerance, champion.version, prefix)


def with_golden_checks(
    report: GateReport, estimator: Any, golden: list[GoldenSet], champion: Champion | None, primary_metric: str,
    problem: ProblemKind,
) -> GateReport:  # fmt: skip
    """The report with every golden set's checks added (the gate fails if any of them fails)."""
    extra = [check for g in golden for check in golden_checks(estimator, g, champion, primary_metric, problem)]
    return dataclasses.replace(report, checks=[*report.checks, *extra])
