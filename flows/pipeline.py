"""The training pipeline: load -> validate -> train candidates -> test-gate -> quantize -> infer -> commit.

Run it:  python flows/pipeline.py [--config config/digits.yaml] [--set model.C=0.5] [--data URI --target COLUMN]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from mlops_pipeline.tasks.artifacts import (
    CandidateProgress,
    publish_quantization_artifacts,
    publish_run_artifacts,
    run_context,
)
from mlops_pipeline.tasks.gate import publish_verdict, test_gate
from mlops_pipeline.tasks.infer import infer
from mlops_pipeline.tasks.load import load_with_retries
from mlops_pipeline.tasks.quantize import quantize
from mlops_pipeline.tasks.train import publish_candidate_table, train, train_candidate
from mlops_pipeline.tasks.validate import validate
from prefect import flow, get_run_logger, unmapped
from prefect.client.orchestration import get_client
from prefect.runtime import deployment as prefect_deployment
from prefect.runtime import flow_run

from mlops_pipeline.caching import code_version
from mlops_pipeline.config import (
    LOWER_IS_BETTER,
    ConfigError,
    ModelConfig,
    PipelineConfig,
    apply_overrides,
    fill_from_defaults,
    load_config,
    parse_config,
    with_data_source,
)
from mlops_pipeline.contract import CONTRACT_FILE
from mlops_pipeline.drift import DRIFT_REFERENCE_FILE, learn_reference
from mlops_pipeline.gate import BestPassed, Champion, Check, GateFailed, GateReport, champion_recheck
from mlops_pipeline.infer import InferenceReport
from mlops_pipeline.quantize import QuantizationError, QuantizationGateFailed, QuantizationResult
from mlops_pipeline.registry import (
    CHAMPION_FILE,
    FLOAT_MODEL_FILE,
    INT8_MODEL_FILE,
    ModelStore,
    RegistryError,
    json_bytes,
)
from mlops_pipeline.reports import artifact_key, diagnose
from mlops_pipeline.security import allowed_roots, check_allowed_paths
from mlops_pipeline.train import CandidateResult, TrainedModel, candidate_rows, select_best
from mlops_pipeline.validate import PreparedData


@dataclass
class RunSummary:
    model_name: str
    version: str | None
    status: str  # "passed" (promoted to champion) or "rejected"
    became_champion: bool
    champion_version: str | None
    metrics: dict[str, float]
    int8_metrics: dict[str, float]
    gate_passed: bool
    gate_checks: list[str]
    model_folder: str | None
    candidates: list[str] = field(default_factory=list)
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


@dataclass(frozen=True)
class Selection:
    """The outcome of the candidate comparison."""

    index: int
    spec: ModelConfig
    result: CandidateResult
    rows: list[dict[str, Any]]


def select_candidate(data: PreparedData, config: PipelineConfig, tasks: _TaskRecorder) -> Selection:
    """Train every candidate as a mapped task, publish the comparison table, return the best one.

    A candidate that fails to train is a row in the table with its error; the run fails only if all do.
    """
    specs = list(config.model.candidates)
    progress = CandidateProgress(config.registry.model_name, total=len(specs))
    started = time.perf_counter()
    futures = train_candidate.map(
        data=unmapped(data), spec=specs, index=list(range(len(specs))),
        selection=unmapped(config.model), data_config=unmapped(config.data),
    )
    results: list[CandidateResult | None] = []
    states: list[str] = []
    errors: list[str] = []
    for index, future in enumerate(futures):
        future.wait()
        state = future.state
        tasks.states[f"train_candidate-{index}"] = state.name
        states.append(state.name)
        progress.finished(f"candidate {index} ({specs[index].kind}): {state.name}")
        if state.is_completed():
            results.append(future.result())
            errors.append("")
        else:
            results.append(None)
            errors.append(str(future.result(raise_on_failure=False)))
    elapsed = round(time.perf_counter() - started, 3)
    for index in range(len(specs)):  # mapped tasks run side by side: each shows the wall time of the whole map
        tasks.seconds[f"train_candidate-{index}"] = elapsed
    selected = select_best(results) if any(r is not None for r in results) else None
    rows = candidate_rows(specs, results, states, errors, selected, cross_validated=bool(config.model.cv_folds))
    how = f"{config.model.cv_folds}-fold cross-validation" if config.model.cv_folds else (
        f"a validation split of {config.model.validation_size:.0%} of the training rows")
    publish_candidate_table(
        config.registry.model_name, rows,
        f"{config.registry.model_name}: {len(specs)} candidate(s) compared by {config.primary_metric} on {how}; "
        + (f"candidate {selected} selected" if selected is not None else "none could be trained"),
    )
    if selected is None:
        listed = "\n".join(f"  - candidate {i} ({spec.kind}): {error}" for i, (spec, error)
                           in enumerate(zip(specs, errors, strict=True)))
        raise RuntimeError(f"every candidate failed to train:\n{listed}")
    return Selection(selected, specs[selected], results[selected], rows)  # type: ignore[arg-type]


def final_model(selection: Selection, data: PreparedData, config: PipelineConfig, tasks: _TaskRecorder) -> TrainedModel:
    """The model that goes to the gate.

    By default (model.refit) the winning settings are refit on the whole training split: the validation rows
    only chose the settings, the champion should learn from every training row, and a single-model config
    then yields exactly the model (and bytes) it did before candidates existed. The test split stays unseen,
    so the gate's numbers are still an honest estimate. With refit off, the model scored on the validation
    split is used as is (cross-validation has no single fitted model, so it always refits).
    """
    if config.model.refit or selection.result.model is None:
        return tasks.run(train, data, selection.spec, config.data).result()
    return selection.result.model


def load_champion(store: ModelStore, version: str | None = None) -> Champion | None:
    """The champion (or the version named) loaded hash-verified; a load failure is kept as its reason.

    None means there is no champion yet (the first model of a name).
    """
    try:
        version = version or store.champion()
    except RegistryError as exc:
        return Champion(version=CHAMPION_FILE, error=str(exc))
    if version is None:
        return None
    try:
        return Champion(version, store.load_float_model(version))
    except Exception as exc:  # IntegrityError, or a pickle this library version cannot read
        return Champion(version, error=f"{type(exc).__name__}: {exc}")


def load_best_passed(store: ModelStore, config: PipelineConfig, data: PreparedData) -> BestPassed | None:
    """The gate ratchet's bound: the best primary metric a passed version reached on this held-out split."""
    best = store.best_passed_metric(config.primary_metric, data.fingerprint,
                                    config.primary_metric in LOWER_IS_BETTER)
    return BestPassed(*best) if best else None


def build_card(
    config: PipelineConfig, data: PreparedData, selection: Selection, trained: TrainedModel,
    gate: GateReport | None, quantization: QuantizationResult | None, inference: InferenceReport | None,
) -> dict[str, Any]:
    """Everything recorded about a candidate: metrics, checks, selection, config, lineage.

    The registry adds the version, status, reason and file hashes when it stores the card.
    """
    quant_report = asdict(quantization.report) if quantization else None
    int8_metrics = {}
    if quantization:
        int8_metrics = {quantization.report.metric_name: quantization.report.int8_metric}
    return {
        "problem": config.problem,
        "metrics": gate.metrics if gate else {},
        "int8_metrics": int8_metrics,
        "champion_metrics": gate.champion_metrics if gate else None,
        "gate": {
            "passed": bool(gate and gate.passed),
            "champion_version": gate.champion_version if gate else None,
            "checks": [asdict(c) for c in gate.checks] if gate else [],
        },
        "selection": {
            "selected": selection.index,
            "model": selection.spec.model_dump(mode="json"),
            "validation_size": config.model.validation_size,
            "cv_folds": config.model.cv_folds,
            "refit": config.model.refit,
            "candidates": selection.rows,
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
        "run": run_context(),
    }


def deployment_config() -> dict[str, Any] | None:
    """The `config` parameter of the deployment this run belongs to, or None outside a deployment."""
    deployment_id = prefect_deployment.get_id()
    if deployment_id is None:
        return None
    with get_client(sync_client=True) as client:
        return client.read_deployment(UUID(str(deployment_id))).parameters.get("config")


def _failure(state: Any) -> BaseException:
    error = state.result(raise_on_failure=False)
    return error if isinstance(error, BaseException) else RuntimeError(f"task ended {state.name}: {error!r}")


@flow(name="training-pipeline", log_prints=True)
def training_pipeline(config: PipelineConfig = PipelineConfig()) -> RunSummary:  # noqa: B008
    """Train candidates, gate the best, quantize and smoke-test it; promote it only if every step passed."""
    logger = get_run_logger()
    defaults = deployment_config()
    if defaults is not None:
        filled = fill_from_defaults(config, defaults)
        if filled != config:
            logger.info("config keys this run did not set come from its deployment's config")
            config = filled
        check_allowed_paths(config, allowed_roots(os.environ, Path.cwd(), defaults), Path.cwd())
    store = ModelStore(config.registry.root, config.registry.model_name, config.registry.lock_timeout_seconds)
    store.check_writable()  # a read-only or unwritable store fails now, not after training
    tasks = _TaskRecorder()

    # Retries and backoff come from the data config; `validate` publishes the data-quality table and fails the run
    # on any contract violation before anything is trained or stored.
    dataset = tasks.run(load_with_retries(config.data), config.data).result()
    data = tasks.run(validate, dataset, config.data, config.problem,
                     artifact_key(config.registry.model_name, "data-quality")).result()
    selection = select_candidate(data, config, tasks)
    trained = final_model(selection, data, config, tasks)

    # From here on nothing is written to the store until the commit step below; any failure is recorded as a
    # rejected version (kept for inspection) and the champion pointer does not move.
    champion = load_champion(store)
    gate: GateReport | None = None
    quantization: QuantizationResult | None = None
    inference: InferenceReport | None = None
    failure: BaseException | None = None
    gate_state = tasks.run(test_gate, trained.estimator, trained.model_bytes, data, config.gate,
                           config.primary_metric, champion, config.data.seed, store.name,
                           load_best_passed(store, config, data))
    if gate_state.is_failed():
        failure = _failure(gate_state)
        gate = failure.report if isinstance(failure, GateFailed) else None
    else:
        gate = gate_state.result()
    if failure is None and config.quantize.enabled:
        quant_state = tasks.run(quantize, trained.estimator, data.X_train, data.X_test, data.y_test,
                                data.feature_names, config.problem, len(trained.model_bytes), config.quantize)
        if quant_state.is_failed():
            failure = _failure(quant_state)
        else:
            quantization = quant_state.result()
            infer_state = tasks.run(infer, quantization.model, trained.estimator, data)
            if infer_state.is_failed():
                failure = _failure(infer_state)
            else:
                inference = infer_state.result()
    elif failure is None:
        logger.info("quantize.enabled is false: no int8 model, no int8 inference smoke test")

    # The commit step.
    card = build_card(config, data, selection, trained, gate, quantization, inference)
    quant_report = failure.report if isinstance(failure, QuantizationGateFailed) else (
        quantization.report if quantization else None)
    if quant_report is not None and card["quantization"] is None:  # the quantization gate failed: say by how much
        card["quantization"] = asdict(quant_report)
    diagnostics = diagnose(config.problem, data.y_test, trained.estimator.predict(data.X_test), store.name)
    card["diagnostics"] = diagnostics.summary
    files = {FLOAT_MODEL_FILE: trained.model_bytes, **diagnostics.files}
    # the contract the model's input must meet, and the sha256 of exactly the data read
    if data.contract is not None:
        files[CONTRACT_FILE] = data.contract.to_json_bytes()
        card["data"].update(contract=CONTRACT_FILE)
    card["data"].update(sha256=data.data_fingerprint,
                        warnings=[str(f) for f in data.findings if f.severity == "warning"])
    # what batch inference compares incoming data with to measure drift (a summary: no training rows are kept)
    files[DRIFT_REFERENCE_FILE] = json_bytes(learn_reference(data.X_train, data.feature_names))
    if quantization:
        files[INT8_MODEL_FILE] = quantization.npz_bytes
    if failure is None:
        steps = "the test-gate" + (", quantization gate and inference smoke test" if config.quantize.enabled else "")
        reason = f"passed {steps}; flow run {flow_run.get_id()}"
    else:
        reason = str(failure)
    rechecked: list[Check] = []
    rechecked_against: list[str] = []

    def recheck(current: str) -> list[str]:
        # called by the registry, under its lock, only if another run moved the champion since our gate
        assert gate is not None
        checks = champion_recheck(gate, data, config.gate, config.primary_metric,
                                  lambda version: load_champion(store, version))(current)
        rechecked.extend(checks)
        rechecked_against.append(current)
        return [str(c) for c in checks if not c.passed]

    publication = store.publish(files, card, promote=failure is None,
                                gated_against=champion.version if champion else None, recheck=recheck,
                                reason=reason)
    if failure is None and not publication.promoted:
        assert gate is not None
        gate = GateReport(gate.metrics, rechecked_against[-1], gate.champion_metrics, [*gate.checks, *rechecked])
        publish_verdict(gate, store.name)
        failure = GateFailed(gate)
    folder = store.folder / publication.version
    publish_run_artifacts(store.card(publication.version), folder)
    publish_quantization_artifacts(store.name, publication.version, quant_report, inference, config.problem)
    logger.info("stored %s %s (%s) at %s", store.name, publication.version, publication.status, folder)
    if failure is not None:
        raise failure

    assert gate is not None
    return RunSummary(
        model_name=store.name,
        version=publication.version,
        status=publication.status,
        became_champion=publication.promoted,
        champion_version=store.champion(),
        metrics=gate.metrics,
        int8_metrics=card["int8_metrics"],
        gate_passed=gate.passed,
        gate_checks=[str(c) for c in gate.checks],
        model_folder=str(folder),
        candidates=[f"#{r['candidate']} {r['kind']} {r['selection metric']}={r['score']}"
                    + (" (selected)" if r["selected"] else "") for r in selection.rows],
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
        f"candidates {'; '.join(summary.candidates)}",
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
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML or JSON pipeline config (default: the built-in defaults, which are "
                        "config/digits.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set model.C=0.5 --set registry.root=/tmp/models "
                        "(repeatable)")
    parser.add_argument("--summary-md", type=Path, default=None, metavar="PATH",
                        help="also append the run summary as markdown to PATH (e.g. \"$GITHUB_STEP_SUMMARY\")")
    parser.add_argument("--data", metavar="URI",
                        help="data source, overrides data.source: a built-in set (digits, iris, ...), a .csv, .tsv, "
                        ".parquet or .npz path, or a URL (file://, http(s)://, s3:// with s3fs)")
    parser.add_argument("--target", metavar="COLUMN", help="target column of a table, overrides data.target")
    return parser.parse_args(argv)


def summary_markdown(summary: RunSummary) -> str:
    """The run summary as a markdown section (for CI job summaries)."""
    rows = "\n".join(
        f"| {name} | {value:.4f} | "
        + (f"{summary.int8_metrics[name]:.4f}" if name in summary.int8_metrics else "")
        + " |"
        for name, value in summary.metrics.items()
    )
    checks = "\n".join(f"- {check}" for check in summary.gate_checks)
    champion = f"yes, {summary.version} is the champion" if summary.became_champion else "no"
    return (
        f"### {summary.model_name} {summary.version}\n\n| metric | float | int8 |\n|---|---|---|\n{rows}\n\n"
        f"**Gate:** {'passed' if summary.gate_passed else 'FAILED'}\n\n{checks}\n\n"
        f"**Champion:** {champion}  \n**Files:** `{summary.model_folder}`\n"
    )


def require_model_name_for_new_data(config: PipelineConfig, data: str | None, overrides: list[str]) -> None:
    """--data on another data set must name its model: under the config's name it would become (or be gated
    against) the champion of a model for different data."""
    named = any(item.partition("=")[0].strip() == "registry.model_name" for item in overrides)
    if data is not None and data != config.data.source and not named:
        raise ConfigError(
            f"--data {data}: the model name '{config.registry.model_name}' holds models trained on "
            f"'{config.data.source}'; name the model for this data with --set registry.model_name=NAME"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.config is None:
            config = parse_config(apply_overrides({}, args.overrides), origin="defaults")
        else:
            config = load_config(args.config, args.overrides)
        require_model_name_for_new_data(config, args.data, args.overrides)
        config = with_data_source(config, args.data, args.target)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = training_pipeline(config, return_state=True)
    if state.is_completed():
        summary = state.result()
        print(format_summary(summary))
        if args.summary_md:
            with args.summary_md.open("a", encoding="utf-8") as handle:
                handle.write(summary_markdown(summary))
        return 0
    error = state.result(raise_on_failure=False)
    kind = "rejected" if isinstance(error, GateFailed | QuantizationError) else "failed"
    print(f"\npipeline {kind}: {error}", file=sys.stderr)
    store = ModelStore(config.registry.root, config.registry.model_name)
    with contextlib.suppress(RegistryError):
        print(f"champion unchanged: {store.champion() or 'none'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
