"""The test-gate: absolute bounds from the config and a comparison with the current champion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import task

from tasks.config import LOWER_IS_BETTER, GateConfig, TaskKind
from tasks.train import evaluate
from tasks.validate import PreparedData


class GateFailed(RuntimeError):
    """The candidate failed the test-gate; the message lists every failed check with value and bound."""

    def __init__(self, report: GateReport):
        self.report = report
        failed = "\n".join(f"  - {check}" for check in report.checks if not check.passed)
        super().__init__(f"test-gate failed {len(report.failed)} of {len(report.checks)} check(s):\n{failed}")


@dataclass(frozen=True)
class Check:
    name: str
    measured: float
    bound: float
    operator: str  # ">=" or "<="
    passed: bool

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{self.name}: {self.measured:.4f} {self.operator} {self.bound:.4f} -> {verdict}"


@dataclass(frozen=True)
class GateReport:
    metrics: dict[str, float]
    champion_version: str | None
    champion_metrics: dict[str, float] | None
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed


def _at_least(name: str, measured: float, bound: float) -> Check:
    return Check(name, measured, bound, ">=", measured >= bound)


def _at_most(name: str, measured: float, bound: float) -> Check:
    return Check(name, measured, bound, "<=", measured <= bound)


def gate_checks(
    metrics: dict[str, float],
    config: GateConfig,
    primary_metric: str,
    champion_metrics: dict[str, float] | None,
) -> list[Check]:
    """Every gate check: absolute bounds, then not worse than the champion by more than the tolerance."""
    checks = [_at_least(f"{m} >= min", metrics[m], bound) for m, bound in config.min_metrics.items()]
    checks += [_at_most(f"{m} <= max", metrics[m], bound) for m, bound in config.max_metrics.items()]
    if champion_metrics is not None and primary_metric in champion_metrics:
        champion = champion_metrics[primary_metric]
        if primary_metric in LOWER_IS_BETTER:
            checks.append(_at_most(f"{primary_metric} vs champion", metrics[primary_metric],
                                   champion + config.champion_tolerance))
        else:
            checks.append(_at_least(f"{primary_metric} vs champion", metrics[primary_metric],
                                    champion - config.champion_tolerance))
    return checks


def run_gate(
    estimator: Any,
    data: PreparedData,
    config: GateConfig,
    task_kind: TaskKind,
    primary_metric: str,
    champion: tuple[str, Any] | None,
) -> GateReport:
    """Score the candidate (and the champion, on the same held-out rows) and run every check."""
    metrics = evaluate(estimator.predict, data.X_test, data.y_test, task_kind)
    champion_version, champion_metrics = None, None
    if champion is not None:
        champion_version, champion_estimator = champion
        champion_metrics = evaluate(champion_estimator.predict, data.X_test, data.y_test, task_kind)
    checks = gate_checks(metrics, config, primary_metric, champion_metrics)
    return GateReport(metrics, champion_version, champion_metrics, checks)


@task(name="test_gate", persist_result=False)
def test_gate(
    estimator: Any,
    data: PreparedData,
    config: GateConfig,
    task_kind: TaskKind,
    primary_metric: str,
    champion: tuple[str, Any] | None,
) -> GateReport:
    """Raise GateFailed (listing every failed check) unless the candidate meets every bound."""
    report = run_gate(estimator, data, config, task_kind, primary_metric, champion)
    if not report.passed:
        raise GateFailed(report)
    return report
