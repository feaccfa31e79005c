"""Batch inference with a stored int8 model, and drift measured against the training data.

Run it:  python flows/batch_infer.py --model digits-logreg --data new.csv --out predictions.csv

The champion's `model.int8.npz`, `contract.json` and `drift_reference.json` are loaded after their sha256 is
checked against the card; the input is read and checked against the contract chunk by chunk, scored, and written
as it goes, so memory stays flat on large files. When the incoming features have drifted from the training data
the flow emits a `model.drift.detected` event, which the retraining deployments are triggered by.
The steps are in `mlops_pipeline.batch` (plain) and `tasks/batch.py` (their Prefect tasks).
"""

from __future__ import annotations

import gc

if __name__ == "__main__":  # this command's own process: no cyclic GC during the imports (see command_process)
    gc.disable()

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.runtime.local_server import run_on_local_server
from mlops_pipeline.tasks.batch import load_model, publish_summary, report_drift, score
from prefect import flow
from pydantic import ValidationError

from mlops_pipeline.batch import ScoringReport, summary_markdown
from mlops_pipeline.commands import add_summary_md_option, command_process, run_flow_command
from mlops_pipeline.config import ConfigError, InferenceConfig, load_config


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
    drift = report_drift(scoring, accumulator, config.drift, config.data) if accumulator is not None else None
    publish_summary(scoring, report, drift, config.data)
    return BatchSummary(
        scoring.name,
        scoring.version,
        report,
        drift.drift_detected if drift else None,
        drift.drifted_features if drift else [],
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python flows/batch_infer.py",
        description="Score a file with the champion's int8 model (hash-verified, input checked against the "
        "training contract), write predictions, and measure drift against the training data.",
    )
    parser.add_argument(
        "--model", help="model name in the store (default: registry.model_name of --config, else digits-logreg)"
    )
    parser.add_argument("--models-root", help="model store folder (default: registry.root of --config, else models)")
    parser.add_argument(
        "--config",
        type=Path,
        help="a training config: model name, store and (without --data) its data source come from it",
    )
    parser.add_argument(
        "--data",
        help="file or URL to score (.csv, .tsv, .parquet, .npz; file://, http(s)://, "
        "s3://), or a built-in data set name",
    )
    parser.add_argument(
        "--out", default="predictions.csv", help="predictions file, .csv or .parquet (default: %(default)s)"
    )
    parser.add_argument("--version", help="score with this version instead of the champion, e.g. v3")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (default: %(default)s)")
    parser.add_argument(
        "--reject-out-of-range",
        action="store_true",
        help="fail on values far beyond the training range instead of scoring and reporting them",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --config: override a training-config value, e.g. registry.root=models",
    )
    add_summary_md_option(parser)
    return parser.parse_args(argv)


def inference_config(args: argparse.Namespace) -> InferenceConfig:
    values: dict[str, Any] = {}
    if args.config is not None:
        training = load_config(args.config, args.overrides)
        values.update(
            model_name=training.registry.model_name, models_root=training.registry.root, data=training.data.source
        )
    elif args.overrides:
        raise ConfigError("--set needs --config (it overrides values of a training config)")
    for key, value in (
        ("model_name", args.model),
        ("models_root", args.models_root),
        ("data", args.data),
        ("version", args.version),
    ):
        if value is not None:
            values[key] = value
    values.update(
        out=args.out, chunk_rows=args.chunk_rows, out_of_range="error" if args.reject_out_of_range else "warning"
    )
    try:
        return InferenceConfig.model_validate(values)
    except ValidationError as exc:  # name the option at fault, not pydantic's dump of every input
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid batch-inference options: {problems}") from None


def summary_text(summary: BatchSummary) -> str:
    """What the command line prints after a batch-inference run."""
    report = summary.report
    lines = [
        f"model      {summary.model_name} {summary.version} (int8)",
        f"scored     {report.rows} rows in {report.seconds:.2f}s ({report.rows_per_second:,.0f} rows/s)",
        f"written    {report.output}",
    ]
    if report.class_counts:
        lines.append("classes    " + ", ".join(f"{k}: {v}" for k, v in report.class_counts.items()))
    if report.prediction_stats:
        lines.append("predicted  " + ", ".join(f"{k}={v:.3f}" for k, v in report.prediction_stats.items()))
    if summary.drift_detected is not None:
        drifted = ", ".join(summary.drifted_features[:8]) + (" ..." if len(summary.drifted_features) > 8 else "")
        lines.append(f"drift      {'DETECTED: ' + drifted if summary.drift_detected else 'none'}")
    if report.warnings:
        lines.append(f"warnings   {len(report.warnings)} (see the log)")
    return "\n".join(lines)


def summary_md_text(summary: BatchSummary) -> str:
    rows: list[dict[str, Any]] = [
        {"item": "rows scored", "value": summary.report.rows},
        {"item": "predictions", "value": summary.report.output},
    ]
    return summary_markdown(summary.model_name, summary.version, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_flow_command(
        lambda: inference_config(args),
        run_flow=lambda config: run_on_local_server(lambda: batch_inference(config, return_state=True)),
        report=lambda summary: (summary_text(summary), summary_md_text(summary)),
        explain_failure=lambda config, error: f"\nbatch inference failed: {error}",
        summary_md=args.summary_md,
    )


if __name__ == "__main__":
    raise SystemExit(command_process(main))
