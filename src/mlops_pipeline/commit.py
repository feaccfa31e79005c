"""The commit step: the model card, the files of a version, and storing it (promoted only if every step passed).

Plain functions over the step results; the Prefect task `mlops_pipeline.tasks.commit.commit` wraps them and
publishes the artifacts. Nothing is written to the store before this step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_pipeline.caching import code_version
from mlops_pipeline.config import ModelConfig, PipelineConfig
from mlops_pipeline.contract import CONTRACT_FILE
from mlops_pipeline.drift import DRIFT_REFERENCE_FILE
from mlops_pipeline.gate import (
    Champion,
    Check,
    GateFailed,
    GateReport,
    QuantizationGateFailed,
    QuantizationReport,
    QuantizationResult,
    champion_recheck,
    load_champion,
)
from mlops_pipeline.infer import InferenceReport
from mlops_pipeline.registry import (
    FLOAT_MODEL_FILE,
    INT8_MODEL_FILE,
    PASSED,
    Publication,
    RegistryError,
    Store,
    json_bytes,
    sha256_bytes,
)
from mlops_pipeline.reports import Diagnostics, columns_card
from mlops_pipeline.skops_form import SKOPS_MODEL_FILE, FloatForm
from mlops_pipeline.train import CandidateResult, TrainedModel
from mlops_pipeline.validate import PreparedData


@dataclass(frozen=True)
class Selection:
    """The outcome of the candidate comparison."""

    index: int
    spec: ModelConfig
    result: CandidateResult
    rows: list[dict[str, Any]]


@dataclass
class Evaluation:
    """What the evaluate steps (gate, quantize, smoke test) produced, and the first failure, if any."""

    gate: GateReport | None = None
    quantization: QuantizationResult | None = None
    inference: InferenceReport | None = None
    float_form: FloatForm | None = None  # instead of `quantization`, for a model that has no quantized form
    failure: BaseException | None = None

    @property
    def quantization_report(self) -> QuantizationReport | None:
        """The float-vs-int8 report, also when the quantization gate failed (to say by how much)."""
        if isinstance(self.failure, QuantizationGateFailed):
            return self.failure.report
        return self.quantization.report if self.quantization else None


@dataclass
class Commit:
    """The stored version; `gate` is the verdict, re-checked if another run moved the champion meanwhile.

    `unchanged`: the candidate was the champion itself (see `unchanged_champion`), so nothing was stored and
    `publication` names the champion that remains (promoted False).
    """

    publication: Publication
    gate: GateReport | None
    reason: str
    card: dict[str, Any] = field(default_factory=dict)
    champion_moved: bool = False  # the candidate passed but lost the re-check against a newer champion
    unchanged: bool = False

    @property
    def outcome(self) -> str:
        """One line for logs, summaries and the run's final state: what the commit did."""
        version = self.publication.version
        if self.unchanged:
            return f"unchanged: {version} remains champion"
        if self.publication.promoted:
            return f"{version} stored and promoted to champion"
        return f"{version} stored as {self.publication.status}"

    @property
    def failure(self) -> GateFailed | None:
        return GateFailed(self.gate) if self.champion_moved and self.gate is not None else None


def build_card(
    config: PipelineConfig,
    data: PreparedData,
    selection: Selection,
    trained: TrainedModel,
    evaluation: Evaluation,
    diagnostics: Diagnostics,
    run: dict[str, Any],
) -> dict[str, Any]:
    """Everything recorded about a candidate: metrics, checks, selection, config, data, lineage.

    The registry adds the version, status, reason and file hashes when it stores the card.
    """
    gate, quantization, inference = evaluation.gate, evaluation.quantization, evaluation.inference
    quant_report = evaluation.quantization_report
    int8_metrics = {quantization.report.metric_name: quantization.report.int8_metric} if quantization else {}
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
        "quantization": asdict(quant_report) if quant_report else None,
        "float_form": evaluation.float_form.card() if evaluation.float_form else None,
        "inference": {k: v for k, v in asdict(inference).items() if k != "sample"} if inference else None,
        "config": config.model_dump(mode="json"),
        "data": data_card(data),
        "fit_seconds": round(trained.fit_seconds, 4),
        "code_version": code_version(),
        "flow_run_id": run.get("flow_run_id"),
        "run": run,
        "diagnostics": diagnostics.summary,
    }


def data_card(data: PreparedData) -> dict[str, Any]:
    """The card's `data` section: where the rows came from, their sha256, the split and the contract file."""
    card: dict[str, Any] = {
        "source": data.source,
        "fingerprint": data.fingerprint,
        "n_train": int(data.X_train.shape[0]),
        "n_test": int(data.X_test.shape[0]),
        "feature_names": data.feature_names,
        "target": data.target_name,
    }
    if data.contract is not None:
        card["contract"] = CONTRACT_FILE
        card["columns"] = columns_card(data.contract.columns(), data.contract.dropped)
    card["sha256"] = data.data_sha256
    card["warnings"] = [str(f) for f in data.findings if f.severity == "warning"]
    return card


def version_files(
    trained: TrainedModel,
    data: PreparedData,
    evaluation: Evaluation,
    diagnostics: Diagnostics,
    drift_reference: dict[str, Any],
) -> dict[str, bytes]:
    """The files of a version: float model, plots, the input contract, the drift reference, the int8 model."""
    files = {FLOAT_MODEL_FILE: trained.model_bytes, **diagnostics.files}
    if data.contract is not None:
        files[CONTRACT_FILE] = data.contract.to_json_bytes()
    # what batch inference compares incoming data with to measure drift (a summary: no training rows are kept)
    files[DRIFT_REFERENCE_FILE] = json_bytes(drift_reference)
    if evaluation.quantization:
        files[INT8_MODEL_FILE] = evaluation.quantization.npz_bytes
    if evaluation.float_form:
        files[SKOPS_MODEL_FILE] = evaluation.float_form.skops_bytes
    return files


def commit_reason(config: PipelineConfig, evaluation: Evaluation, flow_run_id: Any) -> str:
    """The reason stored with the version: the steps it passed, or the failure."""
    if evaluation.failure is not None:
        return str(evaluation.failure)
    steps = "the test-gate" + (", quantization gate and inference smoke test" if config.quantize.enabled else "")
    if evaluation.float_form is not None:
        steps = f"the test-gate and the skops round trip (not quantized: {evaluation.float_form.reason})"
    return f"passed {steps}; flow run {flow_run_id}"


# The model files whose bytes decide what a version serves; the other files (plots, contract, drift reference)
# follow from the model and the data, which the card's data fingerprint and config already pin.
MODEL_FILES = (FLOAT_MODEL_FILE, INT8_MODEL_FILE, SKOPS_MODEL_FILE)


def unchanged_champion(store: Store, files: dict[str, bytes], card: dict[str, Any]) -> str | None:
    """The champion this candidate is a copy of, or None when storing it would record something new.

    A candidate is the champion when (1) its model files have the sha256 the champion's verified card lists for
    them (the same float model and the same int8 model, or both without one), and (2) it was made from the same
    data fingerprint, the same config (all but the `registry` section, which says where the model is kept, not
    what it is) and the same code version. (1) is the direct test: the bytes are what the store would serve, and
    comparing them catches anything the inputs miss (a library upgrade that changes the fit). (2) keeps a version
    for every change to what a card records: new data that happened to give the same model still needs its own
    drift reference, and a changed gate bound is a different promotion decision. A daily retrain on unchanged data
    therefore adds nothing, while a retrain with any change publishes as before.

    A champion that cannot be verified is never "the same": the run then stores its candidate as usual. Two runs
    that commit at the very same moment may both store (each checks before the other's version exists): a
    duplicate at worst, never a lost version.
    """
    try:
        champion = store.champion()
        if champion is None:
            return None
        stored = store.verified_card(champion)
    except RegistryError:
        return None
    stored_files = stored.get("files") or {}
    for name in MODEL_FILES:
        candidate_sha = sha256_bytes(files[name]) if name in files else None
        if candidate_sha != (stored_files.get(name) or {}).get("sha256"):
            return None
    if _what_made_it(stored) != _what_made_it(card):
        return None
    return champion


def _what_made_it(card: dict[str, Any]) -> tuple[Any, Any, Any]:
    config = {section: value for section, value in (card.get("config") or {}).items() if section != "registry"}
    return (card.get("data") or {}).get("fingerprint"), config, card.get("code_version")


def commit_version(
    store: Store,
    files: dict[str, bytes],
    card: dict[str, Any],
    evaluation: Evaluation,
    champion: Champion | None,
    data: PreparedData,
    config: PipelineConfig,
    reason: str,
) -> Commit:
    """Store the version; promote it if every step passed and it still beats whichever champion is current.

    A candidate that passed and is the champion itself (`unchanged_champion`) is not stored: the returned commit
    says `unchanged` and names the champion.

    If another run moved the champion since the gate, the registry calls the re-check under its lock; a failed
    re-check stores the version as rejected and the returned gate report lists the re-checked champion checks.
    """
    gate = evaluation.gate
    rechecked: list[Check] = []
    rechecked_against: list[str] = []

    def recheck(current: str) -> list[str]:
        assert gate is not None  # only called for a promotion, which needs a passed gate
        checks = champion_recheck(
            gate, data, config.gate, config.primary_metric, lambda version: load_champion(store, version)
        )(current)
        rechecked.extend(checks)
        rechecked_against.append(current)
        return [str(c) for c in checks if not c.passed]

    passed = evaluation.failure is None
    if passed and (champion_version := unchanged_champion(store, files, card)) is not None:
        kept = f"unchanged: {champion_version} remains champion (same model bytes, data, config and code)"
        return Commit(Publication(champion_version, PASSED, False, kept), gate, kept, card, unchanged=True)
    publication = store.publish(
        files,
        card,
        promote=passed,
        gated_against=champion.version if champion else None,
        recheck=recheck,
        reason=reason,
    )
    if passed and not publication.promoted and gate is not None:
        gate = GateReport(gate.metrics, rechecked_against[-1], gate.champion_metrics, [*gate.checks, *rechecked])
        return Commit(publication, gate, reason, card, champion_moved=True)
    return Commit(publication, gate, reason, card)


def commit_markdown(committed: Commit, folder: str) -> str:
    """The run's `commit` artifact: what was stored (or that nothing was), and why; one per run in its history."""
    publication = committed.publication
    lines = [f"### {committed.outcome}", ""]
    if committed.unchanged:
        lines.append(
            f"This run's candidate has the same model bytes as {publication.version} and was made from the same "
            "data, config and code, so no new version was stored."
        )
    else:
        lines.append(f"**Reason:** {publication.reason}")
    lines += ["", f"**Files:** `{folder}`", ""]
    return "\n".join(lines)
