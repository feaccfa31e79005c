"""The `gate` task: run every check, publish the verdict table, raise GateFailed unless all passed.

Named `gate`, not `test_gate`, so pytest does not collect it as a test.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from mlops_pipeline.config import GateConfig, GoldenSetConfig, primary_metric
from mlops_pipeline.gate import BestPassed, Champion, GateFailed, GateReport, gate_candidate, verdict_rows
from mlops_pipeline.golden import GoldenSet, load_golden_sets, with_golden_checks
from mlops_pipeline.reports import artifact_key
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


def publish_verdict(report: GateReport, model_name: str) -> None:
    """The verdict table artifact (call inside a flow or task run)."""
    verdict = "PASSED" if report.passed else f"FAILED {len(report.failed)} of {len(report.checks)} checks"
    create_table_artifact(
        key=artifact_key(model_name, "gate"),
        table=verdict_rows(report),
        description=f"{model_name} test-gate: {verdict} (champion: {report.champion_version or 'none'})",
    )


@task(name="load_golden_sets", persist_result=False)
def load_golden(configs: list[GoldenSetConfig], feature_names: list[str]) -> list[GoldenSet]:
    """Read gate.golden_sets at the start of the run: a missing file or column fails it before training, with
    nothing stored, not at the gate after training (where a failure is stored as a rejected version)."""
    return load_golden_sets(configs, feature_names)


@task(name="gate", persist_result=False)
def gate(
    trained: TrainedModel,
    data: PreparedData,
    config: GateConfig,
    champion: Champion | None,
    model_name: str,
    best: BestPassed | None = None,
    golden: list[GoldenSet] | None = None,
) -> GateReport:
    """Publish the verdict table; raise GateFailed (listing every failed check) unless every check passed."""
    report = gate_candidate(trained, data, config, champion, best)
    report = with_golden_checks(
        report, trained.estimator, golden or [], champion, primary_metric(data.problem), data.problem
    )
    publish_verdict(report, model_name)
    if not report.passed:
        raise GateFailed(report)
    return report
