"""The one pipeline configuration: a pydantic model loaded from `config/*.yaml` (or JSON).

The same model is the flow's parameter, so Prefect validates it on every run and the UI renders it as a form.
Unknown keys are errors that name the key (and suggest the closest valid one).
"""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ProblemKind = Literal["classification", "regression"]
MetricName = Literal["accuracy", "macro_f1", "r2", "rmse"]

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
REGRESSION_METRICS: tuple[str, ...] = ("r2", "rmse")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse"})


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the file and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ImputeStrategy = Literal["none", "mean", "median", "most_frequent"]
DataFormat = Literal["auto", "csv", "parquet", "npz"]


class AugmentConfig(Section):
    """Training on augmented digits (mlops_pipeline.augment): square-image data such as digits only."""

    copies: int = Field(4, ge=1, le=20, description="Transformed copies of every training image.")
    max_rotation_degrees: float = Field(12.0, ge=0.0, le=45.0, description="Rotation drawn from +- this.")
    max_shear: float = Field(0.35, ge=0.0, le=1.0, description="Horizontal shear (slant, dx/dy) drawn from +- this.")
    max_shift_cells: float = Field(0.6, ge=0.0, le=2.0, description="Shift in 8x8 cells drawn from +- this.")
    stroke_change: float = Field(
        0.5, ge=0.0, le=1.0, description="Stroke thickened (dilation) or thinned (erosion) by up to this many cells."
    )
    min_width_scale: float = Field(
        0.6, gt=0.0, le=1.0, description="Width squeezed to a factor drawn from [this, 1] (narrow hands)."
    )


class DataConfig(Section):
    """Where the data comes from, how it is read, the rules it must meet, and how it is split."""

    source: str = Field(
        "digits",
        min_length=1,
        description="A built-in scikit-learn set (digits, diabetes, iris, wine, breast_cancer, california_housing), "
        "a local path, or a URL (file://, http(s)://, s3:// with s3fs, any fsspec protocol) to a .csv, .tsv, "
        ".parquet or .npz file.",
    )
    target: str | None = Field(
        None,
        description="Target column of a table (a column named 'target' is used when unset); built-ins and "
        ".npz files (array 'y') know theirs.",
    )
    format: DataFormat = Field("auto", description="File format; 'auto' goes by the file suffix.")
    delimiter: str = Field(
        ",", min_length=1, max_length=1, description="CSV field delimiter ('\\t' is implied for .tsv files)."
    )
    impute: ImputeStrategy = Field(
        "none",
        description="How missing (NaN, empty, inf) feature values are filled, with statistics of the training "
        "split only; 'none' makes any missing value an error.",
    )
    min_rows_per_class: int = Field(2, ge=1, description="Classification: fewest rows any class may have.")
    max_abs_value: float = Field(
        1e12,
        gt=0.0,
        description="Feature values larger than this in magnitude are rejected (they overflow "
        "scaling and quantization).",
    )
    range_tolerance: float = Field(
        0.1,
        ge=0.0,
        description="Inference: values beyond the training min/max by more than this fraction of the "
        "training range are errors; within it, warnings.",
    )
    timeout_seconds: float = Field(30.0, gt=0.0, description="Network timeout for one read of a URL.")
    retries: int = Field(4, ge=0, le=10, description="Retries of a transient load failure (5xx, timeouts, ...).")
    retry_delay_seconds: float = Field(
        1.0, ge=0.0, description="First retry delay; it doubles each retry (with jitter)."
    )
    test_size: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out for the test-gate.")
    seed: int = Field(42, ge=0, description="Seed for the split and every estimator with randomness.")
    augment: AugmentConfig | None = Field(
        None,
        description="Train on the training split plus augmented copies (small rotations, shears, shifts, stroke "
        "widths) of its 8x8 images; off when unset. The held-out split and the contract stay the real data.",
    )

    @field_validator("delimiter", mode="before")
    @classmethod
    def _spelled_out_tab(cls, value: Any) -> Any:
        # `--set data.delimiter=\t` arrives as backslash + t; YAML files may say "tab".
        return "\t" if value in ("\\t", "tab", "TAB") else value


def with_data_source(config: PipelineConfig, source: str | None, target: str | None) -> PipelineConfig:
    """The config with `data.source` / `data.target` replaced (the CLI's --data and --target), re-validated."""
    updates = {key: value for key, value in (("source", source), ("target", target)) if value is not None}
    if not updates:
        return config
    raw = config.model_dump(mode="json")
    raw["data"].update(updates)
    return parse_config(raw, origin="--data/--target")


class LogisticRegressionConfig(Section):
    """Multinomial logistic regression; C, solver and max_iter are the seeds' `config.json` keys."""

    kind: Literal["logistic_regression"] = "logistic_regression"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    solver: Literal["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"] = "lbfgs"
    max_iter: int = Field(1000, ge=1)
    standardize: bool = Field(True, description="Put a StandardScaler in front of the model.")


class LinearRegressionConfig(Section):
    """Ordinary least squares."""

    kind: Literal["linear_regression"] = "linear_regression"
    fit_intercept: bool = True
    standardize: bool = False


class RidgeConfig(Section):
    """L2-regularised least squares."""

    kind: Literal["ridge"] = "ridge"
    alpha: float = Field(1.0, ge=0.0)
    standardize: bool = True


class LinearSVMConfig(Section):
    """Linear support-vector classifier (scikit-learn's LinearSVC, one-vs-rest)."""

    kind: Literal["linear_svm"] = "linear_svm"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    loss: Literal["hinge", "squared_hinge"] = "squared_hinge"
    max_iter: int = Field(2000, ge=1)
    standardize: bool = True


class LinearSVRConfig(Section):
    """Linear support-vector regression (scikit-learn's LinearSVR)."""

    kind: Literal["linear_svr"] = "linear_svr"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    epsilon: float = Field(0.0, ge=0.0, description="Width of the insensitive tube, in target units.")
    # squared loss by default: with the plain epsilon-insensitive loss the solver needs far more iterations on
    # unscaled targets such as diabetes (R² 0.28 vs 0.45 at C=1).
    loss: Literal["epsilon_insensitive", "squared_epsilon_insensitive"] = "squared_epsilon_insensitive"
    max_iter: int = Field(2000, ge=1)
    standardize: bool = True


LayerWidth = Annotated[int, Field(ge=1, le=1024)]


class _MLPFields(Section):
    hidden_layer_sizes: list[LayerWidth] = Field(
        default_factory=lambda: [64],
        min_length=1,
        max_length=4,
        description="Width of each hidden layer (1 to 4 layers of 1 to 1024 units): a small MLP.",
    )
    activation: Literal["relu", "tanh", "logistic", "identity"] = "relu"
    solver: Literal["adam", "lbfgs", "sgd"] = "adam"
    alpha: float = Field(1e-4, ge=0.0, description="L2 penalty.")
    learning_rate_init: float = Field(1e-3, gt=0.0, le=1.0)
    max_iter: int = Field(300, ge=1, description="Epochs (adam, sgd) or iterations (lbfgs).")
    early_stopping: bool = Field(
        False, description="Stop when a 10% slice of the training rows stops improving (seeded)."
    )
    standardize: bool = True


class MLPClassifierConfig(_MLPFields):
    """A small multi-layer perceptron classifier."""

    kind: Literal["mlp_classifier"] = "mlp_classifier"


class MLPRegressorConfig(_MLPFields):
    """A small multi-layer perceptron regressor."""

    kind: Literal["mlp_regressor"] = "mlp_regressor"
    learning_rate_init: float = Field(1e-2, gt=0.0, le=1.0)
    max_iter: int = Field(2000, ge=1, description="Epochs (adam, sgd) or iterations (lbfgs).")


ModelConfig = Annotated[
    LogisticRegressionConfig
    | LinearRegressionConfig
    | RidgeConfig
    | LinearSVMConfig
    | LinearSVRConfig
    | MLPClassifierConfig
    | MLPRegressorConfig,
    Field(discriminator="kind"),
]

MODEL_PROBLEM: dict[str, ProblemKind] = {
    "logistic_regression": "classification",
    "linear_regression": "regression",
    "ridge": "regression",
    "linear_svm": "classification",
    "linear_svr": "regression",
    "mlp_classifier": "classification",
    "mlp_regressor": "regression",
}

# Keys of the model section that are about choosing between candidates, not about one model.
SELECTION_KEYS: frozenset[str] = frozenset({"validation_size", "cv_folds", "refit"})


def _with_default_kind(candidate: Any) -> Any:
    # The seeds' config.json had only C/solver/max_iter: a model without `kind` is logistic regression.
    if isinstance(candidate, dict) and "kind" not in candidate:
        return {"kind": "logistic_regression", **candidate}
    return candidate


def _default_candidates() -> list[ModelConfig]:
    return [LogisticRegressionConfig()]


class ModelSection(Section):
    """The model to train: one model, or several candidates compared on a validation split.

    The single form (`model: {kind: ridge, alpha: 1.0}`) is one candidate; `model: {candidates: [...]}` lists
    several. Candidates are scored on a validation split carved from the training split (or by k-fold
    cross-validation on it), never on the test split, which stays for the test-gate.
    """

    candidates: list[ModelConfig] = Field(
        default_factory=_default_candidates,
        min_length=1,
        description="Model settings to compare; the best on the validation split goes to the test-gate.",
    )
    validation_size: float = Field(
        0.2, gt=0.0, lt=1.0, description="Fraction of the training split held out to compare candidates."
    )
    cv_folds: int | None = Field(
        None,
        ge=2,
        le=20,
        description="Compare candidates by k-fold cross-validation on the training split instead (slower).",
    )
    refit: bool = Field(
        True,
        description="Refit the winning settings on the whole training split (train + validation) before the gate.",
    )

    @model_validator(mode="before")
    @classmethod
    def _single_form(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if "candidates" in value:
            model_keys = sorted(set(value) - SELECTION_KEYS - {"candidates"})
            if model_keys:
                raise ValueError(
                    f"give either one model's keys or a 'candidates' list, not both (found {', '.join(model_keys)}"
                    " beside candidates; move them into a candidate)"
                )
            candidates = value["candidates"]
            if isinstance(candidates, list):
                candidates = [_with_default_kind(c) for c in candidates]
            return {**value, "candidates": candidates}
        selection = {k: v for k, v in value.items() if k in SELECTION_KEYS}
        model = {k: v for k, v in value.items() if k not in SELECTION_KEYS}
        return {**selection, "candidates": [_with_default_kind(model)]}

    @model_validator(mode="after")
    def _one_problem(self) -> ModelSection:
        tasks = {MODEL_PROBLEM[c.kind] for c in self.candidates}
        if len(tasks) > 1:
            kinds = ", ".join(f"{c.kind} ({MODEL_PROBLEM[c.kind]})" for c in self.candidates)
            raise ValueError(f"candidates must all be classifiers or all regressors; got {kinds}")
        seen: dict[str, int] = {}
        for index, candidate in enumerate(self.candidates):
            text = candidate.model_dump_json()
            if text in seen:
                raise ValueError(f"candidates[{index}] repeats candidates[{seen[text]}]: {text}")
            seen[text] = index
        return self

    @property
    def problem(self) -> ProblemKind:
        return MODEL_PROBLEM[self.candidates[0].kind]

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.candidates]


def _default_min_metrics() -> dict[MetricName, float]:
    return {"accuracy": 0.95, "macro_f1": 0.95}


class GoldenSetConfig(Section):
    """An extra labelled set the gate scores every candidate on (mlops_pipeline.golden)."""

    name: str = Field(..., min_length=1, description="Shown in the gate table before each of the set's checks.")
    source: str = Field(
        ...,
        min_length=1,
        description="A golden set that ships with the package (drawn_digits: digits drawn with the mouse on the "
        "serving page) or a path / URL to a labelled .csv, .parquet or .npz with the model's feature columns.",
    )
    target: str | None = Field(None, description="Target column of the file ('target' when unset).")
    min_metrics: dict[MetricName, float] = Field(default_factory=dict, description="Metric -> lowest value on the set.")
    max_metrics: dict[MetricName, float] = Field(
        default_factory=dict, description="Metric -> highest value on the set."
    )
    no_worse_than_champion: bool = Field(
        True, description="The primary metric on this set may not fall below the champion's on the same set ..."
    )
    champion_tolerance: float = Field(0.01, ge=0.0, description="... by more than this.")


class GateConfig(Section):
    """Bounds a candidate must meet before it may become the champion."""

    min_metrics: dict[MetricName, float] = Field(
        default_factory=_default_min_metrics,
        description="Metric -> lowest acceptable value on the held-out split.",
    )
    max_metrics: dict[MetricName, float] = Field(
        default_factory=dict, description="Metric -> highest acceptable value (e.g. rmse)."
    )
    champion_tolerance: float = Field(
        0.005, ge=0.0, description="How much worse than the champion (primary metric) a candidate may be."
    )
    min_class_recall: float | None = Field(
        None, gt=0.0, le=1.0, description="Classification only: every class's recall must reach this floor."
    )
    behavioural_checks: bool = Field(
        True, description="Check determinism, a batch of one row and agreement under tiny input noise."
    )
    noise_scale: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Noise check: Gaussian noise of this fraction of each feature's training std is added.",
    )
    min_noise_agreement: float = Field(
        0.95, ge=0.0, le=1.0, description="Noise check: lowest fraction of predictions that must not change."
    )
    noise_tolerance: float = Field(
        0.05,
        gt=0.0,
        description="Noise check, regression only: predictions agree within this fraction of the target's std.",
    )
    golden_sets: list[GoldenSetConfig] = Field(
        default_factory=list,
        description="Extra labelled sets every candidate is scored on, each with its own bounds and a "
        "no-worse-than-champion rule (mlops_pipeline.golden).",
    )


class QuantizeConfig(Section):
    """Post-training int8 quantization."""

    enabled: bool = True
    max_metric_drop: float = Field(
        0.005, ge=0.0, description="Largest allowed loss of the primary metric, int8 vs float."
    )
    calibration_rows: int = Field(
        10_000,
        ge=1,
        description="Training rows (evenly spaced) that int8 rounding is tuned on: output-aware "
        "rounding (GPTQ) and each layer's bias correction.",
    )


class RegistryConfig(Section):
    """The versioned model store: a local folder or an object store."""

    root: str = Field(
        "models",
        description="Folder of the model store (relative to the working directory), or s3://bucket/prefix "
        "(docs/object-store.md).",
    )
    model_name: str = Field(
        "digits-logreg",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Lowercase letters, digits and dashes; names the store folder and the artifact keys.",
    )
    lock_timeout_seconds: float = Field(
        120.0, gt=0.0, description="How long a run waits for another run's promotion to finish before failing."
    )


def primary_metric(problem: ProblemKind) -> str:
    """The metric candidates are selected by and the champion is compared on: the one place this rule lives."""
    return "accuracy" if problem == "classification" else "r2"


class PipelineConfig(Section):
    """Everything one training run needs. Defaults are `config/digits.yaml`, except `gate.golden_sets` (none by
    default: a default run may be on any data set; the digits config names the drawn-digit set)."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelSection = Field(default_factory=ModelSection)
    gate: GateConfig = Field(default_factory=GateConfig)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    @property
    def problem(self) -> ProblemKind:
        return self.model.problem

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.problem)

    @model_validator(mode="after")
    def _gate_metrics_fit_the_task(self) -> PipelineConfig:
        allowed = CLASSIFICATION_METRICS if self.problem == "classification" else REGRESSION_METRICS
        kinds = ", ".join(self.model.kinds)
        for section in ("min_metrics", "max_metrics"):
            for metric in getattr(self.gate, section):
                if metric not in allowed:
                    raise ValueError(
                        f"gate.{section}.{metric}: the model ({kinds}) is a {self.problem} model; "
                        f"its metrics are {', '.join(allowed)}"
                    )
        if self.gate.min_class_recall is not None and self.problem != "classification":
            raise ValueError(f"gate.min_class_recall: only for classification; the model ({kinds}) is a regressor")
        return self


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (one, or the members of a union)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _model_classes(arg)]


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _allowed_keys(loc: tuple[Any, ...], single_model_form: bool = False) -> tuple[str, list[str]]:
    """Walk an error location through the config models; return the dotted key and the keys valid beside it.

    With `single_model_form` (the model section was written as one model, not a candidates list), the
    location `model.candidates[0].C` is shown as the user wrote it: `model.C`.
    """
    models: list[type[BaseModel]] = [PipelineConfig]
    path: list[str | int] = []
    for part in loc[:-1]:
        if isinstance(part, int):
            path.append(part)
            continue
        part = str(part)
        matching = [m for m in models if part in m.model_fields]
        if matching:
            path.append(part)
            models = _model_classes(matching[0].model_fields[part].annotation)
            continue
        # a discriminated-union tag (e.g. "logistic_regression") sits in the location between section and key
        tagged = [m for m in models if "kind" in m.model_fields and m.model_fields["kind"].default == part]
        if tagged:
            models = tagged
    last = loc[-1] if loc else "<top level>"
    path.append(last if isinstance(last, int) else str(last))
    allowed = sorted({k for m in models for k in m.model_fields})
    if single_model_form and path[:3] == ["model", "candidates", 0]:
        path = ["model", *path[3:]]
        if len(path) == 2:  # a key of the model itself: the selection keys are allowed beside it too
            allowed = sorted({*allowed, *SELECTION_KEYS})
    return _dotted(path), allowed


def _describe(error: dict[str, Any], single_model_form: bool = False) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        key, allowed = _allowed_keys(loc, single_model_form)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}'{hint} (allowed here: {', '.join(allowed)})"
    key, _ = _allowed_keys(loc, single_model_form) if loc else ("<top level>", [])
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    # a whole section as "got" says nothing the message doesn't; a scalar is worth echoing
    return f"'{key}': {message}" + ("" if isinstance(got, dict) else f" (got {got!r})")


def parse_config(raw: Any, origin: str = "<config>") -> PipelineConfig:
    """Validate a mapping into a PipelineConfig; every problem is listed, each naming its key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        model_section = raw.get("model")
        single = not (isinstance(model_section, dict) and "candidates" in model_section)
        problems = "\n".join(f"  - {_describe(e, single)}" for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{origin}: invalid configuration\n{problems}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping; parse errors name the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return raw if raw is not None else {}


def apply_overrides(raw: dict[str, Any], overrides: list[str], origin: str = "--set") -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML scalars) to a raw config mapping.

    A number in the key indexes a list (`model.candidates.1.C=0.5`). `model.<key>` on a model section that
    holds exactly one candidate edits that candidate, so `--set model.C=0.5` works on the single-model form and
    on a config that was normalised into `candidates` (as deployments store it).
    """
    result = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{origin} {item!r}: expected KEY=VALUE, e.g. model.C=0.5")
        node: Any = result
        parts = key.strip().split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{origin} {item!r}: '{part}' is not an index of a {len(node)}-item list")
                if last:
                    node[int(part)] = _override_value(value)
                else:
                    node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"{origin} {item!r}: '{parts[depth - 1]}' is not a section")
            if depth == 1 and parts[0] == "model" and _is_candidate_key(node, part):
                if len(node["candidates"]) != 1:
                    raise ConfigError(
                        f"{origin} {item!r}: model has {len(node['candidates'])} candidates; "
                        f"name one, e.g. model.candidates.0.{part}"
                    )
                node = node["candidates"][0]
            if last:
                node[part] = _override_value(value)
            else:
                node = node.setdefault(part, {})
    return result


def _is_candidate_key(model_section: dict[str, Any], key: str) -> bool:
    return isinstance(model_section.get("candidates"), list) and key not in SELECTION_KEYS | {"candidates"}


def _override_value(text: str) -> Any:
    return yaml.safe_load(text) if text.strip() else None


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Load, override and validate a config file."""
    path = Path(path)
    raw = read_config_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, origin=str(path))


class DriftConfig(Section):
    """When incoming data counts as drifted from the training data (see tasks/drift.py)."""

    psi_threshold: float = Field(0.25, gt=0.0, description="A feature drifts when its PSI exceeds this ...")
    ks_alpha: float = Field(0.01, gt=0.0, lt=1.0, description="... and the KS test's p-value is below this.")
    min_drifted_share: float = Field(
        0.1, gt=0.0, le=1.0, description="The batch drifts when at least this share of features drifts."
    )
    sample_rows: int = Field(20_000, ge=100, description="Rows kept for the KS test (bin counts use every row).")
    emit_event: bool = Field(True, description="Emit `model.drift.detected` (retraining deployments trigger on it).")


class InferenceConfig(Section):
    """One batch-inference run: which model, which data, where the predictions go."""

    model_name: str = Field(
        "digits-logreg",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Model in the store; its champion's int8 model scores the data.",
    )
    models_root: str = Field("models", description="Folder of the model store, or s3://bucket/prefix.")
    version: str | None = Field(None, pattern=r"^v[0-9]+$", description="Score with this version, not the champion.")
    data: str = Field("digits", description="A file or URL (CSV, TSV, Parquet, npz), or a built-in data set name.")
    out: str = Field("predictions.csv", description="Where predictions go: a .csv or .parquet path.")
    chunk_rows: int = Field(100_000, ge=1, description="Rows scored at a time; memory stays flat on large files.")
    out_of_range: Literal["error", "warning"] = Field(
        "warning",
        description="Values beyond the training range (past its tolerance): reject the file, or score "
        "them and report them (drift measures them either way).",
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)

    @model_validator(mode="after")
    def _output_is_not_the_input(self) -> InferenceConfig:
        if "://" not in self.data and Path(self.data).resolve() == Path(self.out).resolve():
            raise ValueError(f"out: '{self.out}' is the input file; the predictions would replace the data")
        return self


def fill_from_defaults(config: PipelineConfig, defaults: dict[str, Any]) -> PipelineConfig:
    """`config` with every key it did not set explicitly taken from `defaults` (a deployment's config).

    Prefect merges run parameters one level deep, so a run of a deployment given `{"model": {...}}` would otherwise
    silently train with the flow's defaults for every other section (the digits data and model name).
    """
    explicit = config.model_dump(mode="json", exclude_unset=True)
    # section by section, key by key; a key's value (a threshold table, the candidate list) replaces whole
    merged = {section: {**defaults.get(section, {}), **explicit.get(section, {})} for section in {*defaults, *explicit}}
    return parse_config(merged, origin="run parameters over the deployment's config")
