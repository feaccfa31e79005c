"""The `gate`, `quantize` and `registry` sections: the bounds a model must meet, int8 quantization, the store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops_pipeline.config.base import Section
from mlops_pipeline.config.problems import MetricName

# The absolute bounds a run on a built-in classification set gets when the config names none (PipelineConfig fills
# them in): known, attainable levels for those sets. A table of your own gets none by default (nobody knows what its
# data allows); the baseline and champion checks still gate it.
BUILTIN_MIN_METRICS: dict[MetricName, float] = {"accuracy": 0.95, "macro_f1": 0.95}


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
        default_factory=dict,
        description="Metric -> lowest acceptable value on the held-out split. Unset: accuracy and macro_f1 0.95 on "
        "a built-in classification set (digits, iris, wine, breast_cancer), none for your own data.",
    )
    max_metrics: dict[MetricName, float] = Field(
        default_factory=dict, description="Metric -> highest acceptable value (e.g. rmse)."
    )
    champion_tolerance: float = Field(
        0.005, ge=0.0, description="How much worse than the champion (primary metric) a candidate may be."
    )
    beat_baseline: bool = Field(
        True,
        description="The primary metric must beat always predicting the training split's most frequent class "
        "(classification) or its mean (regression), on the same held-out rows.",
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
    min_noise_agreement: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Noise check: lowest fraction of predictions that must not change. Unset: 0.95, or 0.85 for tree "
        "ensembles (hist_gradient_boosting, random_forest, extra_trees, a custom one), whose step-shaped predictions "
        "change wherever a little noise crosses a split threshold.",
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

    enabled: bool | Literal["auto"] = Field(
        "auto",
        description="auto: quantize every model that has a quantized form (linear, MLP, tree ensembles) and store "
        "the others as a skops file, saying why in the run; true: a model without one is a config error; false: "
        "no quantized form (batch scoring and the service then cannot load it).",
    )
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
