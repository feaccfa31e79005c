"""The test-gate task: run every check, publish the verdict table, raise GateFailed unless all passed."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from mlops_pipeline.config import GateConfig
from mlops_pipeline.gate import BestPassed, Champion, GateFailed, GateReport, run_gate, verdict_rows
from mlops_pipeline.reports import artifact_key
from mlops_pipeline.validate import PreparedData


def publish_verdict(report: GateReport, model_name: str) -> None:
    """The verdict table artifact (call inside a flow or task run)."""
    verdict = "PASSED" if report.passed else f"FAILED {len(report.failed)} of {len(report.checks)} checks"
    create_table_artifact(
        key=artifact_key(model_name, "gate"),
        table=verdict_rows(report),
        description=f"{model_name} test-gate: {verdict} (champion: {report.champion_version or 'none'})",
    )


@task(name="test_gate", persist_result=False)
def test_gate(
    estimator: Any,
    model_bytes: bytes,
    data: PreparedData,
    config: GateConfig,
    primary_metric: str,
    champion: Champion | None,
    seed: int,
    model_name: str,
    best: BestPassed | None = None,
) -> GateReport:
    """Publish the verdict table; raise GateFailed (listing every failed check) unless every check passed."""
    report = run_gate(estimator, model_bytes, data, config, primary_metric, champion, seed, best)
    publish_verdict(report, model_name)
    if not report.passed:
        raise GateFailed(report)
    return report

