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

TaskKind = Literal["classification", "regression"]
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
        None, description="Target column of a table (a column named 'target' is used when unset); built-ins and "
        ".npz files (array 'y') know theirs."
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
        1e12, gt=0.0, description="Feature values larger than this in magnitude are rejected (they overflow "
        "scaling and quantization)."
    )
    range_tolerance: float = Field(
        0.1, ge=0.0, description="Inference: values beyond the training min/max by more than this fraction of the "
        "training range are errors; within it, warnings."
    )
    timeout_seconds: float = Field(30.0, gt=0.0, description="Network timeout for one read of a URL.")
    retries: int = Field(4, ge=0, le=10, description="Retries of a transient load failure (5xx, timeouts, ...).")
    retry_delay_seconds: float = Field(
        1.0, ge=0.0, description="First retry delay; it doubles each retry (with jitter)."
    )
    test_size: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out for the test-gate.")
    seed: int = Field(42, ge=0, description="Seed for the split and every estimator with randomness.")

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


ModelConfig = Annotated[
    LogisticRegressionConfig | LinearRegressionConfig | RidgeConfig,
    Field(discriminator="kind"),
]

MODEL_TASK: dict[str, TaskKind] = {
    "logistic_regression": "classification",
    "linear_regression": "regression",
    "ridge": "regression",
}


class GateConfig(Section):
    """Bounds a candidate must meet before it may become the champion."""

    min_metrics: dict[MetricName, float] = Field(
        default_factory=lambda: {"accuracy": 0.95, "macro_f1": 0.95},
        description="Metric -> lowest acceptable value on the held-out split.",
    )
    max_metrics: dict[MetricName, float] = Field(
        default_factory=dict, description="Metric -> highest acceptable value (e.g. rmse)."
    )
    champion_tolerance: float = Field(
        0.005, ge=0.0, description="How much worse than the champion (primary metric) a candidate may be."
    )


class QuantizeConfig(Section):
    """Post-training int8 quantization."""

    enabled: bool = True
    max_metric_drop: float = Field(
        0.005, ge=0.0, description="Largest allowed loss of the primary metric, int8 vs float."
    )


class RegistryConfig(Section):
    """The versioned model store on local disk."""

    root: str = Field("models", description="Folder of the model store (relative to the working directory).")
    model_name: str = Field(
        "digits-logreg",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Lowercase letters, digits and dashes; names the store folder and the artifact keys.",
    )


class PipelineConfig(Section):
    """Everything one training run needs. Defaults are `config/digits.yaml`."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=LogisticRegressionConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    @property
    def task(self) -> TaskKind:
        return MODEL_TASK[self.model.kind]

    @property
    def primary_metric(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"

    @model_validator(mode="after")
    def _gate_metrics_fit_the_task(self) -> PipelineConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        for section in ("min_metrics", "max_metrics"):
            for metric in getattr(self.gate, section):
                if metric not in allowed:
                    raise ValueError(
                        f"gate.{section}.{metric}: a {self.model.kind} model is a {self.task} model; "
                        f"its metrics are {', '.join(allowed)}"
                    )
        return self

    @field_validator("model", mode="before")
    @classmethod
    def _default_kind(cls, value: Any) -> Any:
        # The seeds' config.json had only C/solver/max_iter: a model section without `kind` is logistic regression.
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": "logistic_regression", **value}
        return value


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (one, or the members of a union)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _model_classes(arg)]


def _allowed_keys(loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """Walk an error location through the config models; return the dotted key and the keys valid beside it."""
    models: list[type[BaseModel]] = [PipelineConfig]
    path: list[str] = []
    for part in loc[:-1]:
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
    path.append(str(loc[-1]))
    allowed = sorted({k for m in models for k in m.model_fields})
    return ".".join(path), allowed


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        key, allowed = _allowed_keys(tuple(error["loc"]))
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}'{hint} (allowed here: {', '.join(allowed)})"
    key, _ = _allowed_keys(tuple(error["loc"])) if error["loc"] else ("<top level>", [])
    message = error["msg"].removeprefix("Value error, ")
    return f"'{key}': {message} (got {error.get('input')!r})"


def parse_config(raw: Any, origin: str = "<config>") -> PipelineConfig:
    """Validate a mapping into a PipelineConfig; every problem is listed, each naming its key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e)}" for e in exc.errors())  # type: ignore[arg-type]
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
    """Apply `section.key=value` overrides (values parsed as YAML scalars) to a raw config mapping."""
    result = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{origin} {item!r}: expected KEY=VALUE, e.g. model.C=0.5")
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{origin} {item!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Load, override and validate a config file."""
    path = Path(path)
    raw = read_config_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, origin=str(path))
