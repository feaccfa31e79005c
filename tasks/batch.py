"""Prefect tasks of batch inference: load the stored model, score the file, measure drift and publish."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from mlops_pipeline.batch import (
    DRIFT_EVENT,
    ScoringModel,
    ScoringReport,
    drift_event,
    load_scoring_model,
    score_to_file,
    summary_markdown,
    summary_rows,
)
from mlops_pipeline.config import DriftConfig, InferenceConfig
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator, DriftReport, drift_rows
from mlops_pipeline.reports import artifact_key


@task(name="load_model")
def load_model(models_root: str, name: str, version: str | None) -> ScoringModel:
    """The int8 model, contract and drift reference, hash-verified."""
    return load_scoring_model(models_root, name, version)


@task(name="score")
def score(scoring: ScoringModel, config: InferenceConfig) -> tuple[ScoringReport, DriftAccumulator | None]:
    """Read, check, score and write chunk by chunk; accumulate the drift measure on the way."""
    accumulator = (
        DriftAccumulator(scoring.drift_reference, config.drift.sample_rows)
        if scoring.drift_reference is not None
        else None
    )
    chunks = iter_inference_chunks(
        config.data,
        scoring.contract,
        chunk_rows=config.chunk_rows,
        out_of_range=config.out_of_range,
        unknown_categories=config.unknown_categories,
    )
    report = score_to_file(scoring.model, chunks, Path(config.out), accumulator)
    logger = get_run_logger()
    for warning in report.warnings[:20]:
        logger.warning(warning)
    return report, accumulator


@task(name="report_drift")
def report_drift(scoring: ScoringModel, accumulator: DriftAccumulator, config: DriftConfig, source: str) -> DriftReport:
    """Compare the batch with the training reference; publish the table; emit the drift event when it drifted."""
    report = accumulator.report(config.psi_threshold, config.ks_alpha, config.min_drifted_share)
    verdict = "DETECTED" if report.drift_detected else "none"
    create_table_artifact(
        key=artifact_key(scoring.name, "drift"),
        table=drift_rows(report),
        description=f"{scoring.name} {scoring.version} vs {source}: drift {verdict} — "
        f"{len(report.drifted_features)} of {len(report.features)} features drifted (PSI > {config.psi_threshold} "
        f"and KS p < {config.ks_alpha}); threshold {config.min_drifted_share:.0%} of features",
    )
    if report.drift_detected and config.emit_event:
        emit_event(**drift_event(scoring.name, scoring.version, source, report))
        get_run_logger().warning(
            "drift detected in %s: %d of %d features; emitted %s",
            source,
            len(report.drifted_features),
            len(report.features),
            DRIFT_EVENT,
        )
    return report


@task(name="publish_summary", cache_policy=NO_CACHE)
def publish_summary(scoring: ScoringModel, report: ScoringReport, drift: DriftReport | None, source: str) -> None:
    """The batch-inference table and the latest-run markdown summary artifacts."""
    rows = summary_rows(scoring, report, drift)
    create_table_artifact(
        key=artifact_key(scoring.name, "batch-inference"),
        table=rows,
        description=f"{scoring.name} {scoring.version}: batch inference of {source}",
    )
    create_markdown_artifact(
        key=artifact_key(scoring.name, "batch-inference-summary"),
        markdown=summary_markdown(scoring.name, scoring.version, rows),
        description=f"{scoring.name}: latest batch inference",
    )
