"""The `validate` task: enforce the data contract, hold out the test split, publish the data-quality table."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from mlops_pipeline.config import DataConfig, ProblemKind
from mlops_pipeline.data import Dataset
from mlops_pipeline.findings import DataValidationError, Finding
from mlops_pipeline.validate import PreparedData, prepare, quality_rows


def publish_quality_table(key: str, findings: list[Finding], dataset: Dataset) -> None:
    """The data-quality table artifact (inside a flow or task run)."""
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    create_table_artifact(
        key=key,
        table=quality_rows(findings, dataset),
        description=f"{dataset.source}: {errors} error(s), {warnings} warning(s); fingerprint "
        f"{dataset.fingerprint[:16]}",
    )


@task(name="validate", persist_result=False)
def validate(
    dataset: Dataset, config: DataConfig, problem: ProblemKind, quality_artifact_key: str | None = None
) -> PreparedData:
    """Enforce the data contract before anything is trained; hold out the test split; learn the contract.

    Warnings are logged; with `quality_artifact_key` every finding also goes to a data-quality table artifact,
    errors included (the artifact is written before the run fails).
    """
    logger = get_run_logger()
    try:
        data = prepare(dataset, config, problem)
    except DataValidationError as exc:
        if quality_artifact_key:
            publish_quality_table(quality_artifact_key, exc.findings, dataset)
        raise
    for finding in data.findings:
        logger.warning("data quality: %s", finding)
    if quality_artifact_key:
        publish_quality_table(quality_artifact_key, data.findings, dataset)
    return data
