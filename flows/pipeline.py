"""The training pipeline: load -> validate -> train -> test-gate -> quantize -> infer, then register.

Run it:  python flows/pipeline.py [--config config/digits.yaml] [--set model.C=0.5] [--data URI --target COLUMN]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.artifacts import artifact_key, publish_run_artifacts
from tasks.caching import code_version
from tasks.config import ConfigError, PipelineConfig, load_config, with_data_source
from tasks.contract import CONTRACT_FILE
from tasks.data import load_task
from tasks.gate import GateFailed, GateReport, test_gate
from tasks.infer import InferenceReport, infer
from tasks.quantize import QuantizationError, QuantizationResult, quantize
from tasks.registry import (
    FLOAT_MODEL_FILE,
    INT8_MODEL_FILE,
    ModelStore,
    RegistryError,
)
from tasks.train import TrainedModel, train
from tasks.validate import PreparedData, validate

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "digits.yaml"


@dataclass
class RunSummary:
    model_name: str
    version: str | None
    status: str  # "champion" or "rejected"
    became_champion: bool
    champion_version: str | None
    metrics: dict[str, float]
    int8_metrics: dict[str, float]
    gate_passed: bool
    gate_checks: list[str]
    model_folder: str | None
    task_states: dict[str, str] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)
    reason: str = ""


class _TaskRecorder:
    """Runs tasks with return_state=True so the summary can say which were Cached and how long each took."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def run(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        state = task(*args, return_state=True, **kwargs)
        self.seconds[task.name] = round(time.perf_counter() - started, 3)
        self.states[task.name] = state.name
        return state


def load_champion(store: ModelStore) -> tuple[str, Any] | None:
    """The champion's version and float model (hash-verified), or None for the first model of a name."""
    version = store.champion()
    if version is None:
        return None
    return version, store.load_float_model(version)


def build_card(
    config: PipelineConfig, data: PreparedData, trained: TrainedModel, gate: GateReport,
    quantization: QuantizationResult | None, inference: InferenceReport | None, status: str, reason: str,
) -> dict[str, Any]:
    """Everything recorded about a candidate: metrics, config, lineage."""
    quant_report = asdict(quantization.report) if quantization else None
    int8_metrics = {}
    if quantization:
        int8_metrics = {quantization.report.metric_name: quantization.report.int8_metric}
    return {
        "status": status,
        "reason": reason,
        "task": config.task,
        "metrics": gate.metrics,
        "int8_metrics": int8_metrics,
        "champion_metrics": gate.champion_metrics,
        "gate": {
            "passed": gate.passed,
            "champion_version": gate.champion_version,
            "checks": [asdict(c) for c in gate.checks],
        },
        "quantization": quant_report,
        "inference": {k: v for k, v in asdict(inference).items() if k != "sample"} if inference else None,
        "config": config.model_dump(mode="json"),
        "data": {
            "source": data.source,
            "fingerprint": data.fingerprint,
            "n_train": int(data.X_train.shape[0]),
            "n_test": int(data.X_test.shape[0]),
            "feature_names": data.feature_names,
            "target": data.target_name,
        },
        "fit_seconds": round(trained.fit_seconds, 4),
        "code_version": code_version(),
        "flow_run_id": flow_run.get_id(),
    }


@flow(name="training-pipeline", log_prints=True)
def training_pipeline(config: PipelineConfig = PipelineConfig()) -> RunSummary:  # noqa: B008
    """Train, gate, quantize and smoke-test a model; promote it to champion only if every step passed."""
    logger = get_run_logger()
    store = ModelStore(config.registry.root, config.registry.model_name)
    tasks = _TaskRecorder()

    # Data in (issue 3): retries/backoff from the data config; the data-quality table is published by `validate`,
    # which fails the run on any contract violation before anything is trained or stored.
    dataset = tasks.run(load_task(config.data), config.data).result()
    data = tasks.run(validate, dataset, config.data, config.task,
                     artifact_key(config.registry.model_name, "data-quality")).result()
    trained: TrainedModel = tasks.run(train, data, config.model, config.data).result()
    float_bytes = trained.model_bytes

    champion = load_champion(store)
    gate_state = tasks.run(test_gate, trained.estimator, data, config.gate, config.task,
                           config.primary_metric, champion)
    quantization: QuantizationResult | None = None
    inference: InferenceReport | None = None
    failure: Exception | None = None
    if gate_state.is_failed():
        failure = gate_state.result(raise_on_failure=False)
        if not isinstance(failure, GateFailed):
            raise failure
        gate = failure.report
    else:
        gate = gate_state.result()
        quant_state = tasks.run(quantize, trained.estimator, data.X_train, data.X_test, data.y_test,
                                data.feature_names, config.task, len(float_bytes), config.quantize)
        if quant_state.is_failed():
            failure = quant_state.result(raise_on_failure=False)
            if not isinstance(failure, QuantizationError):
                raise failure
        else:
            quantization = quant_state.result()
            inference = tasks.run(infer, quantization.model, trained.estimator, data).result()

    status = "rejected" if failure else "champion"
    reason = str(failure) if failure else "passed the test-gate, quantization gate and inference smoke test"
    card = build_card(config, data, trained, gate, quantization, inference, status, reason)
    files = {FLOAT_MODEL_FILE: float_bytes}
    # Data in (issue 3): the contract the model's input must meet, and the sha256 of exactly the data read.
    if data.contract is not None:
        files[CONTRACT_FILE] = data.contract.to_json_bytes()
        card["data"].update(contract=CONTRACT_FILE)
    card["data"].update(sha256=data.data_fingerprint,
                        warnings=[str(f) for f in data.findings if f.severity == "warning"])
    if quantization:
        files[INT8_MODEL_FILE] = quantization.npz_bytes
    # The commit step: nothing is written to the store until every check above has run; only a candidate that
    # passed all of them moves the champion pointer.
    version = store.publish(files, card)
    if not failure:
        store.promote(version, reason=f"{reason}; flow run {flow_run.get_id()}")
    folder = store.folder / version
    publish_run_artifacts(store.card(version), folder)
    logger.info("stored %s %s (%s) at %s", store.name, version, status, folder)
    if failure:
        raise failure

    return RunSummary(
        model_name=store.name,
        version=version,
        status=status,
        became_champion=True,
        champion_version=version,
        metrics=gate.metrics,
        int8_metrics=card["int8_metrics"],
        gate_passed=gate.passed,
        gate_checks=[str(c) for c in gate.checks],
        model_folder=str(folder),
        task_states=tasks.states,
        task_seconds=tasks.seconds,
        reason=reason,
    )


def format_summary(summary: RunSummary) -> str:
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in summary.metrics.items())
    int8 = ", ".join(f"{k}={v:.4f}" for k, v in summary.int8_metrics.items()) or "n/a"
    states = ", ".join(f"{name}={state} ({summary.task_seconds.get(name, 0):.2f}s)"
                       for name, state in summary.task_states.items())
    lines = [
        f"model      {summary.model_name} {summary.version}",
        f"float      {metrics}",
        f"int8       {int8}",
        f"gate       {'PASSED' if summary.gate_passed else 'FAILED'}: " + "; ".join(summary.gate_checks),
        f"champion   {'yes, ' + summary.version + ' is the champion' if summary.became_champion else 'no'}",
        f"files      {summary.model_folder}",
        f"tasks      {states}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python flows/pipeline.py",
        description="Train, test-gate, quantize to int8 and batch-infer a scikit-learn model as a Prefect flow. "
        "Runs on Prefect's ephemeral local server unless PREFECT_API_URL points at a server.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML or JSON pipeline config (default: config/digits.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set model.C=0.5 --set registry.root=/tmp/models "
                        "(repeatable)")
    parser.add_argument("--data", metavar="URI",
                        help="data source, overrides data.source: a built-in set (digits, iris, ...), a .csv, .tsv, "
                        ".parquet or .npz path, or a URL (file://, http(s)://, s3:// with s3fs)")
    parser.add_argument("--target", metavar="COLUMN", help="target column of a table, overrides data.target")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = with_data_source(load_config(args.config, args.overrides), args.data, args.target)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = training_pipeline(config, return_state=True)
    if state.is_completed():
        print(format_summary(state.result()))
        return 0
    error = state.result(raise_on_failure=False)
    kind = "rejected" if isinstance(error, GateFailed | QuantizationError) else "failed"
    print(f"\npipeline {kind}: {error}", file=sys.stderr)
    if isinstance(error, GateFailed | QuantizationError):
        store = ModelStore(config.registry.root, config.registry.model_name)
        with contextlib.suppress(RegistryError):
            print(f"champion unchanged: {store.champion() or 'none'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
