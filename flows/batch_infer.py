"""Batch inference with a stored int8 model, and drift measured against the training data.

Run it:  python flows/batch_infer.py --model digits-logreg --data new.csv --out predictions.csv

The champion's `model.int8.npz`, `contract.json` and `drift_reference.json` are loaded after their sha256 is
checked against the card; the input is read and checked against the contract chunk by chunk, scored, and written
as it goes, so memory stays flat on large files. When the incoming features have drifted from the training data
the flow emits a `model.drift.detected` event, which the retraining deployments are triggered by.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from pydantic import ValidationError

from tasks.artifacts import artifact_key, markdown_table
from tasks.config import ConfigError, DriftConfig, InferenceConfig, load_config
from tasks.contract import (
    CONTRACT_FILE,
    DataContract,
    InferenceChunk,
    iter_inference_chunks,
)
from tasks.drift import DRIFT_REFERENCE_FILE, DriftAccumulator, DriftReport, drift_rows
from tasks.infer import predict_batches
from tasks.quantize import QuantizedModel
from tasks.registry import INT8_MODEL_FILE, ModelStore, RegistryError, atomic_writer

DRIFT_EVENT = "model.drift.detected"


def model_resource_id(model_name: str) -> str:
    """The event resource that names a model: drift events carry it, retraining triggers match on it."""
    return f"mlops.model.{model_name}"


@dataclass(frozen=True)
class ScoringModel:
    name: str
    version: str
    folder: Path
    model: QuantizedModel
    contract: DataContract
    drift_reference: dict[str, Any] | None


@dataclass
class ScoringReport:
    rows: int = 0
    seconds: float = 0.0
    output: str = ""
    warnings: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    prediction_stats: dict[str, float] = field(default_factory=dict)
    accuracy_or_r2: float | None = None  # when the file carries labels

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def load_scoring_model(models_root: str | Path, name: str, version: str | None = None) -> ScoringModel:
    """The champion (or `version`) of `name`: int8 model, contract and drift reference, each hash-verified."""
    store = ModelStore(models_root, name)
    if version is None:
        version = store.champion()
        if version is None:
            raise RegistryError(f"{store.folder}: '{name}' has no champion yet; train one or name a version")
    card = store.card(version)
    if INT8_MODEL_FILE not in card.get("files", {}):
        raise RegistryError(f"{store.folder / version}: no int8 model (trained with quantize.enabled false)")
    if CONTRACT_FILE not in card.get("files", {}):
        raise RegistryError(f"{store.folder / version}: no {CONTRACT_FILE}; retrain to score new data against it")
    contract = DataContract.from_json(store.verified_bytes(version, CONTRACT_FILE),
                                      origin=str(store.folder / version / CONTRACT_FILE))
    reference = None
    if DRIFT_REFERENCE_FILE in card["files"]:
        reference = json.loads(store.verified_bytes(version, DRIFT_REFERENCE_FILE))
    return ScoringModel(name, version, store.folder / version, store.load_quantized_model(version), contract,
                        reference)


def _output_columns(model: QuantizedModel, chunk: InferenceChunk, predictions: np.ndarray) -> dict[str, Any]:
    columns: dict[str, Any] = {"row": np.arange(chunk.row_offset, chunk.row_offset + predictions.shape[0])}
    if chunk.y is not None:
        columns["true"] = chunk.y
    columns["prediction"] = predictions
    if hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(chunk.X)
        for index, label in enumerate(model.classes_):
            columns[f"proba_{label}"] = probabilities[:, index].astype(np.float32)
    return columns


def score_to_file(
    model: QuantizedModel, chunks: Iterator[InferenceChunk], out: Path, drift: DriftAccumulator | None,
) -> ScoringReport:
    """Score every chunk, write predictions (CSV or Parquet), feed the drift measure; the file appears whole or not."""
    import polars as pl

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"--out {out}: predictions are written as .csv or .parquet")
    report = ScoringReport(output=str(out))
    classes: Counter[str] = Counter()
    total = total_sq = 0.0
    low, high = np.inf, -np.inf
    correct = 0.0
    labelled = 0
    frames: list[Any] = []
    started = time.perf_counter()
    current: list[InferenceChunk] = []

    def features(chunks: Iterator[InferenceChunk]) -> Iterator[np.ndarray]:
        # predict_batches streams the matrices (and names absolute rows in input errors); keep each one's chunk
        for chunk in chunks:
            current[:] = [chunk]
            yield chunk.X

    with atomic_writer(out) as handle:
        for predictions in predict_batches(model, features(chunks)):
            [chunk] = current
            report.warnings += [str(f) for f in chunk.findings if f.severity == "warning"]
            if drift is not None:
                drift.add(chunk.X)
            frame = pl.DataFrame(_output_columns(model, chunk, predictions))
            if suffix == ".csv":
                frame.write_csv(handle, include_header=report.rows == 0)
            else:
                frames.append(frame)
            report.rows += predictions.shape[0]
            if model.task_ == "classification":
                classes.update(str(p) for p in predictions.tolist())
                if chunk.y is not None:
                    correct += float(np.sum(predictions == chunk.y))
                    labelled += predictions.shape[0]
            else:
                values = predictions.astype(np.float64)
                total, total_sq = total + values.sum(), total_sq + np.square(values).sum()
                low = min(low, float(values.min(initial=np.inf)))
                high = max(high, float(values.max(initial=-np.inf)))
        if frames:
            pl.concat(frames).write_parquet(handle)
        elif report.rows == 0:  # no rows: still a valid file with the header
            empty = pl.DataFrame({"row": [], "prediction": []})
            if suffix == ".csv":
                empty.write_csv(handle)
            else:
                empty.write_parquet(handle)
    report.seconds = time.perf_counter() - started
    if model.task_ == "classification":
        report.class_counts = dict(sorted(classes.items()))
        report.accuracy_or_r2 = correct / labelled if labelled else None
    elif report.rows:
        mean = total / report.rows
        report.prediction_stats = {"mean": mean, "std": float(np.sqrt(max(total_sq / report.rows - mean**2, 0.0))),
                                   "min": low, "max": high}
    return report


def summary_rows(scoring: ScoringModel, report: ScoringReport, drift: DriftReport | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"item": "model", "value": f"{scoring.name} {scoring.version} (int8)"},
        {"item": "rows scored", "value": report.rows},
        {"item": "seconds", "value": round(report.seconds, 3)},
        {"item": "rows/s", "value": round(report.rows_per_second)},
        {"item": "predictions", "value": report.output},
        {"item": "warnings", "value": len(report.warnings)},
    ]
    rows += [{"item": f"class {label}", "value": count} for label, count in report.class_counts.items()]
    rows += [{"item": f"prediction {name}", "value": round(value, 4)}
             for name, value in report.prediction_stats.items()]
    if report.accuracy_or_r2 is not None:
        rows.append({"item": "accuracy on the file's labels", "value": round(report.accuracy_or_r2, 4)})
    if drift is not None:
        rows.append({"item": "drift", "value": f"{'DETECTED' if drift.drift_detected else 'none'}: "
                     f"{len(drift.drifted_features)} of {len(drift.features)} features, max PSI {drift.max_psi:.3f}"})
    return rows


@task(name="load_model")
def load_model(models_root: str, name: str, version: str | None) -> ScoringModel:
    """The int8 model, contract and drift reference, hash-verified."""
    return load_scoring_model(models_root, name, version)


@task(name="score")
def score(scoring: ScoringModel, config: InferenceConfig) -> tuple[ScoringReport, DriftAccumulator | None]:
    """Read, check, score and write chunk by chunk; accumulate the drift measure on the way."""
    accumulator = (DriftAccumulator(scoring.drift_reference, config.drift.sample_rows)
                   if scoring.drift_reference is not None else None)
    chunks = iter_inference_chunks(config.data, scoring.contract, chunk_rows=config.chunk_rows,
                                   out_of_range=config.out_of_range)
    report = score_to_file(scoring.model, chunks, Path(config.out), accumulator)
    logger = get_run_logger()
    for warning in report.warnings[:20]:
        logger.warning(warning)
    return report, accumulator


@task(name="measure_drift")
def measure_drift(
    scoring: ScoringModel, accumulator: DriftAccumulator, config: DriftConfig, source: str
) -> DriftReport:
    """Compare the batch with the training reference; publish the table; emit the drift event when it drifted."""
    report = accumulator.report(config.psi_threshold, config.ks_alpha, config.min_drifted_share)
    verdict = "DETECTED" if report.drift_detected else "none"
    create_table_artifact(
        key=artifact_key(scoring.name, "drift"), table=drift_rows(report),
        description=f"{scoring.name} {scoring.version} vs {source}: drift {verdict} — "
        f"{len(report.drifted_features)} of {len(report.features)} features drifted (PSI > {config.psi_threshold} "
        f"and KS p < {config.ks_alpha}); threshold {config.min_drifted_share:.0%} of features",
    )
    if report.drift_detected and config.emit_event:
        emit_event(
            event=DRIFT_EVENT,
            resource={"prefect.resource.id": model_resource_id(scoring.name), "prefect.resource.name": scoring.name},
            payload={"version": scoring.version, "source": source, "rows": report.n_rows,
                     "drifted_features": report.drifted_features[:50], "drifted_share": report.drifted_share,
                     "max_psi": report.max_psi},
        )
        get_run_logger().warning("drift detected in %s: %d of %d features; emitted %s", source,
                                 len(report.drifted_features), len(report.features), DRIFT_EVENT)
    return report


@dataclass
class BatchSummary:
    model_name: str
    version: str
    report: ScoringReport
    drift_detected: bool | None
    drifted_features: list[str]


@flow(name="batch-inference", log_prints=True)
def batch_inference(config: InferenceConfig = InferenceConfig()) -> BatchSummary:  # noqa: B008
    """Score a file with a stored int8 model (the champion by default) and measure drift against its training data."""
    scoring = load_model(config.models_root, config.model_name, config.version)
    report, accumulator = score(scoring, config)
    drift = measure_drift(scoring, accumulator, config.drift, config.data) if accumulator is not None else None
    rows = summary_rows(scoring, report, drift)
    create_table_artifact(key=artifact_key(scoring.name, "batch-inference"), table=rows,
                          description=f"{scoring.name} {scoring.version}: batch inference of {config.data}")
    create_markdown_artifact(
        key=artifact_key(scoring.name, "batch-inference-summary"),
        markdown=summary_markdown(scoring.name, scoring.version, rows),
        description=f"{scoring.name}: latest batch inference",
    )
    return BatchSummary(scoring.name, scoring.version, report,
                        drift.drift_detected if drift else None, drift.drifted_features if drift else [])


def summary_markdown(name: str, version: str, rows: list[dict[str, Any]]) -> str:
    return f"### Batch inference: {name} {version}\n\n" + markdown_table(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python flows/batch_infer.py",
        description="Score a file with the champion's int8 model (hash-verified, input checked against the "
        "training contract), write predictions, and measure drift against the training data.",
    )
    parser.add_argument("--model", help="model name in the store (default: registry.model_name of --config, "
                        "else digits-logreg)")
    parser.add_argument("--models-root", help="model store folder (default: registry.root of --config, else models)")
    parser.add_argument("--config", type=Path, help="a training config: model name, store and (without --data) "
                        "its data source come from it")
    parser.add_argument("--data", help="file or URL to score (.csv, .tsv, .parquet, .npz; file://, http(s)://, "
                        "s3://), or a built-in data set name")
    parser.add_argument("--out", default="predictions.csv", help="predictions file, .csv or .parquet "
                        "(default: %(default)s)")
    parser.add_argument("--version", help="score with this version instead of the champion, e.g. v3")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (default: %(default)s)")
    parser.add_argument("--reject-out-of-range", action="store_true",
                        help="fail on values far beyond the training range instead of scoring and reporting them")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="with --config: override a training-config value, e.g. registry.root=models")
    parser.add_argument("--summary-md", type=Path, metavar="PATH",
                        help="also append the summary as markdown to PATH (e.g. \"$GITHUB_STEP_SUMMARY\")")
    return parser.parse_args(argv)


def inference_config(args: argparse.Namespace) -> InferenceConfig:
    values: dict[str, Any] = {}
    if args.config is not None:
        training = load_config(args.config, args.overrides)
        values.update(model_name=training.registry.model_name, models_root=training.registry.root,
                      data=training.data.source)
    elif args.overrides:
        raise ConfigError("--set needs --config (it overrides values of a training config)")
    for key, value in (("model_name", args.model), ("models_root", args.models_root), ("data", args.data),
                       ("version", args.version)):
        if value is not None:
            values[key] = value
    values.update(out=args.out, chunk_rows=args.chunk_rows,
                  out_of_range="error" if args.reject_out_of_range else "warning")
    try:
        return InferenceConfig.model_validate(values)
    except ValidationError as exc:  # name the option at fault, not pydantic's dump of every input
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: "
            f"{error['msg'].removeprefix('Value error, ')}" for error in exc.errors()
        )
        raise ConfigError(f"invalid batch-inference options: {problems}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = inference_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = batch_inference(config, return_state=True)
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        print(f"\nbatch inference failed: {error}", file=sys.stderr)
        return 1
    summary: BatchSummary = state.result()
    report = summary.report
    print(f"model      {summary.model_name} {summary.version} (int8)")
    print(f"scored     {report.rows} rows in {report.seconds:.2f}s ({report.rows_per_second:,.0f} rows/s)")
    print(f"written    {report.output}")
    if report.class_counts:
        print("classes    " + ", ".join(f"{k}: {v}" for k, v in report.class_counts.items()))
    if report.prediction_stats:
        print("predicted  " + ", ".join(f"{k}={v:.3f}" for k, v in report.prediction_stats.items()))
    if summary.drift_detected is not None:
        drifted = ", ".join(summary.drifted_features[:8]) + (" ..." if len(summary.drifted_features) > 8 else "")
        print(f"drift      {'DETECTED: ' + drifted if summary.drift_detected else 'none'}")
    if report.warnings:
        print(f"warnings   {len(report.warnings)} (see the log)")
    if args.summary_md:
        with args.summary_md.open("a", encoding="utf-8") as handle:
            rows = [{"item": "rows scored", "value": report.rows}, {"item": "predictions", "value": report.output}]
            handle.write(summary_markdown(summary.model_name, summary.version, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
