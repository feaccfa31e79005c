"""The training pipeline: load -> validate -> train candidates -> test-gate -> quantize -> infer -> commit.

Run it:  python flows/pipeline.py [--config config/digits.yaml] [--set model.C=0.5] [--data URI --target COLUMN]
"""

from __future__ import annotations

import gc

if __name__ == "__main__":  # this command's own process: no cyclic GC during the imports (see command_process)
    gc.disable()

import argparse
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from mlops_pipeline.runtime.local_server import run_on_local_server
from mlops_pipeline.runtime.runners import TaskRunnerSpecError, task_runner_from_spec, with_environment_runner
from mlops_pipeline.tasks.artifacts import CandidateProgress, deployment_id, run_context
from mlops_pipeline.tasks.champion import load_best_passed, load_champion
from mlops_pipeline.tasks.commit import commit
from mlops_pipeline.tasks.diagnose import diagnose, feature_importance
from mlops_pipeline.tasks.drift import drift_reference
from mlops_pipeline.tasks.gate import gate, load_golden
from mlops_pipeline.tasks.infer import infer
from mlops_pipeline.tasks.load import load_with_retries
from mlops_pipeline.tasks.quantize import quantize
from mlops_pipeline.tasks.results import with_result_storage
from mlops_pipeline.tasks.train import publish_candidate_table, train, train_candidate
from mlops_pipeline.tasks.validate import validate
from prefect import flow, get_run_logger, unmapped
from prefect.client.orchestration import get_client
from prefect.states import Completed, State
from prefect.utilities.annotations import opaque

from mlops_pipeline.commands import add_summary_md_option, command_process, run_flow_command
from mlops_pipeline.commit import Commit, Evaluation, Selection
from mlops_pipeline.config import (
    ConfigError,
    PipelineConfig,
    apply_overrides,
    fill_from_defaults,
    load_config,
    parse_config,
    with_data_source,
)
from mlops_pipeline.estimators import check_model_factories
from mlops_pipeline.gate import BestPassed, Champion, GateFailed
from mlops_pipeline.golden import GoldenSet
from mlops_pipeline.quantize import QuantizationError
from mlops_pipeline.registry import RegistryError, Store, open_store
from mlops_pipeline.reports import artifact_key, with_importance
from mlops_pipeline.security import allowed_roots, check_allowed_paths
from mlops_pipeline.settings import get_settings
from mlops_pipeline.skops_form import FloatForm
from mlops_pipeline.train import CandidateResult, TrainedModel, candidate_rows, select_best
from mlops_pipeline.validate import PreparedData


@dataclass
class RunSummary:
    model_name: str
    version: str | None
    status: str  # "passed" (promoted to champion), "rejected", or "unchanged" (nothing stored, `version` remains)
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
    outcome: str = ""  # one line: "v2 stored and promoted to champion", "unchanged: v1 remains champion"


class StepRecorder:
    """Runs the pipeline's steps, recording each one's final state (Completed, Cached...) and wall time.

    `run` returns the task's result or raises its exception, like calling the task directly.
    """

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def run(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        state = task(*args, return_state=True, **kwargs)
        self.seconds[task.name] = round(time.perf_counter() - started, 3)
        self.states[task.name] = state.name
        return state.result()


@flow(name="training-pipeline", log_prints=True)
def training_pipeline(config: PipelineConfig = PipelineConfig()) -> State[RunSummary]:  # noqa: B008
    """Train candidates, gate the best, quantize and smoke-test it; promote it only if every step passed."""
    config = with_deployment_defaults(config)
    check_model_factories(config)  # a custom factory that cannot be used fails now, before anything is stored
    store = open_store(config.registry.root, config.registry.model_name, config.registry.lock_timeout_seconds)
    store.check_writable()  # a read-only or unwritable store fails now, not after training
    steps = StepRecorder()

    # load (retries and backoff from the data config) -> validate (fails the run on any contract violation)
    dataset = steps.run(load_with_retries(config.data), config.data)
    data = steps.run(validate, dataset, config.data, config.problem, artifact_key(store.name, "data-quality"))
    golden = load_golden(config.gate.golden_sets, data.feature_names)  # a bad golden set fails before training

    # select -> train: every candidate scored on validation rows, the winner refit on the training split
    selection = select_candidate(data, config, steps)
    trained = final_model(selection, data, config, steps)

    # evaluate: gate against the champion -> quantize -> int8 smoke test; a failure is kept for the commit
    champion = load_champion(store)
    evaluation = evaluate(trained, data, config, champion, load_best_passed(store, data, champion), golden, steps)

    # commit: nothing is written to the store before this; a failed run is stored as rejected, the champion kept
    diagnostics = with_importance(diagnose(trained, data, store.name), feature_importance(trained, data, store.name))
    reference = drift_reference(data)
    # opaque: the reference's ~14,000 bin edges and counts are not walked twice looking for upstream results (~0.09 s);
    # the reference itself is still drift_reference's result, so the commit keeps that dependency in the UI; the
    # task gets the unwrapped dict (hence the cast)
    reference = cast("dict[str, Any]", opaque(reference))
    committed = commit(
        store, config, data, selection, trained, champion, evaluation, diagnostics, reference, run_context()
    )
    failure = evaluation.failure or committed.failure
    if failure is not None:
        raise failure
    # the final state's message ("v2 stored and promoted to champion", "unchanged: v1 remains champion") is what
    # the UI's run list and a deployment's run history show; Prefect hands callers the summary as the result
    return Completed(message=committed.outcome, data=run_summary(store, committed, selection, steps))


# $MLOPS_TASK_RUNNER (e.g. a deployment's job variable env) picks the task runner of every run of this module's flow
training_pipeline = with_environment_runner(training_pipeline, os.environ)


def with_deployment_defaults(config: PipelineConfig) -> PipelineConfig:
    """The run's config, with the keys it did not set taken from its deployment's config (if it has one)."""
    get_settings()  # a wrong MLOPS_* variable on this worker fails the run here, naming it
    defaults = deployment_config()
    if defaults is None:
        return config
    filled = fill_from_defaults(config, defaults)
    if filled != config:
        get_run_logger().info("config keys this run did not set come from its deployment's config")
    # a deployment run's parameters may only point the store and the data inside the roots this worker allows
    check_allowed_paths(filled, allowed_roots(os.environ, Path.cwd(), defaults), Path.cwd())
    return filled


def select_candidate(data: PreparedData, config: PipelineConfig, steps: StepRecorder) -> Selection:
    """Train every candidate as a mapped task, publish the comparison table, return the best one.

    A candidate that fails to train is a row in the table with its error; the run fails only if all do.
    """
    specs = config.candidates  # with the run's problem set on kinds that can be either
    progress = CandidateProgress(config.registry.model_name, total=len(specs))
    started = time.perf_counter()
    futures = with_result_storage(train_candidate, os.environ).map(
        data=unmapped(data),
        spec=specs,
        index=list(range(len(specs))),
        selection=unmapped(config.model),
    )
    results: list[CandidateResult | None] = []
    states: list[str] = []
    errors: list[str] = []
    for index, future in enumerate(futures):
        future.wait()
        state = future.state
        name = state.name or state.type.value  # Prefect names every state after its type when not told otherwise
        steps.states[f"train_candidate-{index}"] = name
        states.append(name)
        progress.finished(f"candidate {index} ({specs[index].kind}): {name}")
        completed = state.is_completed()
        results.append(future.result() if completed else None)
        errors.append("" if completed else str(future.result(raise_on_failure=False)))
    elapsed = round(time.perf_counter() - started, 3)
    for index in range(len(specs)):  # mapped tasks run side by side: each shows the wall time of the whole map
        steps.seconds[f"train_candidate-{index}"] = elapsed
    selected = select_best(results) if any(r is not None for r in results) else None
    rows = candidate_rows(specs, results, states, errors, selected, cross_validated=bool(config.model.cv_folds))
    how = (
        f"{config.model.cv_folds}-fold cross-validation"
        if config.model.cv_folds
        else (f"a validation split of {config.model.validation_size:.0%} of the training rows")
    )
    publish_candidate_table(
        config.registry.model_name,
        rows,
        f"{config.registry.model_name}: {len(specs)} candidate(s) compared by {config.primary_metric} on {how}; "
        + (f"candidate {selected} selected" if selected is not None else "none could be trained"),
    )
    if selected is None:
        listed = "\n".join(
            f"  - candidate {i} ({spec.kind}): {error}"
            for i, (spec, error) in enumerate(zip(specs, errors, strict=True))
        )
        raise RuntimeError(f"every candidate failed to train:\n{listed}")
    return Selection(selected, specs[selected], results[selected], rows)  # type: ignore[arg-type]


def final_model(selection: Selection, data: PreparedData, config: PipelineConfig, steps: StepRecorder) -> TrainedModel:
    """The model that goes to the gate.

    By default (model.refit) the winning settings are refit on the whole training split: the validation rows
    only chose the settings, the champion should learn from every training row, and a single-model config
    then yields exactly the model (and bytes) it did before candidates existed. The test split stays unseen,
    so the gate's numbers are still an honest estimate. With refit off, the model scored on the validation
    split is used as is (cross-validation has no single fitted model, so it always refits).
    """
    if config.model.refit or selection.result.model is None:
        return steps.run(with_result_storage(train, os.environ), data, selection.spec)
    return selection.result.model


def evaluate(
    trained: TrainedModel,
    data: PreparedData,
    config: PipelineConfig,
    champion: Champion | None,
    best: BestPassed | None,
    golden: list[GoldenSet],
    steps: StepRecorder,
) -> Evaluation:
    """gate -> quantize -> infer (the int8 smoke test); the first failure stops the chain and is kept.

    A failure here does not end the run at once: the commit step stores the candidate as rejected first, then
    the flow raises the failure.
    """
    evaluation = Evaluation()
    try:
        evaluation.gate = steps.run(
            gate, trained, data, config.gate, champion, config.registry.model_name, best, golden
        )
        if not config.quantize.enabled:
            get_run_logger().info("quantize.enabled is false: no int8 model, no int8 inference smoke test")
            return evaluation
        quantized = steps.run(quantize, trained, data, config.quantize)
        if isinstance(quantized, FloatForm):  # no quantized form: the skops file, already loaded back and checked
            evaluation.float_form = quantized
            return evaluation
        evaluation.quantization = quantized
        evaluation.inference = steps.run(infer, evaluation.quantization.model, trained.estimator, data)
    except Exception as exc:  # every failure is recorded as the rejected version's reason
        evaluation.failure = exc
        if isinstance(exc, GateFailed):
            evaluation.gate = exc.report
    return evaluation


def run_summary(store: Store, committed: Commit, selection: Selection, steps: StepRecorder) -> RunSummary:
    """What the command line prints (and the flow run returns) for a promoted model."""
    gate_report, publication = committed.gate, committed.publication
    assert gate_report is not None  # a promoted model passed the gate
    return RunSummary(
        model_name=store.name,
        version=publication.version,
        status="unchanged" if committed.unchanged else publication.status,
        became_champion=publication.promoted,
        champion_version=store.champion(),
        metrics=gate_report.metrics,
        int8_metrics=committed.card["int8_metrics"],
        gate_passed=gate_report.passed,
        gate_checks=[str(c) for c in gate_report.checks],
        model_folder=store.location(publication.version),
        candidates=[
            f"#{r['candidate']} {r['kind']} {r['selection metric']}={r['score']}"
            + (" (selected)" if r["selected"] else "")
            for r in selection.rows
        ],
        task_states=steps.states,
        task_seconds=steps.seconds,
        reason=committed.reason,
        outcome=committed.outcome,
    )


def deployment_config() -> dict[str, Any] | None:
    """The `config` parameter of the deployment this run belongs to, or None outside a deployment."""
    deployment = deployment_id()
    if deployment is None:
        return None
    with get_client(sync_client=True) as client:
        return client.read_deployment(UUID(deployment)).parameters.get("config")


def champion_text(summary: RunSummary) -> str:
    if summary.status == "unchanged":  # nothing was stored: the candidate was the champion itself
        return f"{summary.outcome} (same model bytes, data, config and code: no new version)"
    return f"yes, {summary.version} is the champion" if summary.became_champion else "no"


def format_summary(summary: RunSummary) -> str:
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in summary.metrics.items())
    int8 = ", ".join(f"{k}={v:.4f}" for k, v in summary.int8_metrics.items()) or "n/a"
    states = ", ".join(
        f"{name}={state} ({summary.task_seconds.get(name, 0):.2f}s)" for name, state in summary.task_states.items()
    )
    lines = [
        f"model      {summary.model_name} {summary.version}",
        f"candidates {'; '.join(summary.candidates)}",
        f"float      {metrics}",
        f"int8       {int8}",
        f"gate       {'PASSED' if summary.gate_passed else 'FAILED'}: " + "; ".join(summary.gate_checks),
        f"champion   {champion_text(summary)}",
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
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML or JSON pipeline config (default: the built-in defaults, which are config/digits.yaml)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set model.C=0.5 --set registry.root=/tmp/models (repeatable)",
    )
    add_summary_md_option(parser)
    parser.add_argument(
        "--data",
        metavar="URI",
        help="data source, overrides data.source: a built-in set (digits, iris, ...), a .csv, .tsv, "
        ".parquet or .npz path, or a URL (file://, http(s)://, s3:// with s3fs)",
    )
    parser.add_argument("--target", metavar="COLUMN", help="target column of a table, overrides data.target")
    parser.add_argument(
        "--task-runner",
        default=None,
        metavar="SPEC",
        help="thread (default), dask (a local Dask cluster of processes) or dask=tcp://HOST:PORT; "
        "default: $MLOPS_TASK_RUNNER, else thread",
    )
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
    champion = champion_text(summary)
    heading = f"{summary.model_name} {summary.version}"
    if summary.status == "unchanged":  # nothing was stored: say so where a CI job summary shows it first
        heading = f"{summary.model_name}: {summary.outcome}"
    return (
        f"### {heading}\n\n| metric | float | int8 |\n|---|---|---|\n{rows}\n\n"
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


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The run's config from --config, --set, --data and --target (ConfigError names the key at fault)."""
    if args.config is None:
        config = parse_config(apply_overrides({}, args.overrides), origin="defaults")
    else:
        config = load_config(args.config, args.overrides)
    require_model_name_for_new_data(config, args.data, args.overrides)
    config = with_data_source(config, args.data, args.target)
    check_model_factories(config)  # exit 2 before any Prefect work; the flow checks again where it runs
    return config


def failure_text(config: PipelineConfig, error: BaseException | Any) -> str:
    """Why the run ended without a promoted model, and the champion that is still serving."""
    kind = "rejected" if isinstance(error, GateFailed | QuantizationError) else "failed"
    text = f"\npipeline {kind}: {error}"
    with contextlib.suppress(RegistryError):
        text += (
            f"\nchampion unchanged: {open_store(config.registry.root, config.registry.model_name).champion() or 'none'}"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def build() -> tuple[PipelineConfig, Any]:
        config = pipeline_config(args)
        try:
            runner = task_runner_from_spec(args.task_runner)
        except TaskRunnerSpecError as exc:
            raise ConfigError(str(exc)) from None
        return config, training_pipeline if runner is None else training_pipeline.with_options(task_runner=runner)

    return run_flow_command(
        build,
        run_flow=lambda built: run_on_local_server(lambda: built[1](built[0], return_state=True)),
        report=lambda summary: (format_summary(summary), summary_markdown(summary)),
        explain_failure=lambda built, error: failure_text(built[0], error),
        summary_md=args.summary_md,
    )


if __name__ == "__main__":
    raise SystemExit(command_process(main))
