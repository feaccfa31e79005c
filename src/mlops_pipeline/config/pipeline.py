"""The root model: everything one training run needs, and the checks that span sections."""

from __future__ import annotations

from pydantic import Field, model_validator

from mlops_pipeline.config.base import Section
from mlops_pipeline.config.data import DataConfig
from mlops_pipeline.config.model_kinds import ModelConfig
from mlops_pipeline.config.model_section import ModelSection
from mlops_pipeline.config.problems import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    ProblemKind,
    primary_metric,
)
from mlops_pipeline.config.sections import BUILTIN_MIN_METRICS, GateConfig, QuantizeConfig, RegistryConfig

# Built-in classification sets whose attainable level is known (BUILTIN_MIN_METRICS applies when the gate names no
# bound); the names are mlops_pipeline.data's built-in sets (the config package does not import the data package).
BUILTIN_CLASSIFICATION_SETS = frozenset({"digits", "iris", "wine", "breast_cancer"})


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
        """The run's problem: the one the candidates fix (by kind or `problem` key); when every candidate can be
        either (hist_gradient_boosting, random_forest, extra_trees, custom), the gate's metrics decide (only r2
        and rmse: regression), else classification. Decided from the config alone, before any data is read."""
        fixed = self.model.problem
        if fixed is not None:
            return fixed
        named = {*self.gate.min_metrics, *self.gate.max_metrics}
        return "regression" if named and named <= set(REGRESSION_METRICS) else "classification"

    @property
    def candidates(self) -> list[ModelConfig]:
        """The candidates as trained: `model.candidates` with the run's problem set on kinds that can be either."""
        return self.model.resolved(self.problem)

    @property
    def primary_metric(self) -> str:
        return primary_metric(self.problem)

    @model_validator(mode="after")
    def _gate_metrics_fit_the_task(self) -> PipelineConfig:
        unset = "min_metrics" not in self.gate.model_fields_set and not self.gate.min_metrics
        if unset and self.data.source in BUILTIN_CLASSIFICATION_SETS and self.problem == "classification":
            # frozen model: the default bounds are filled in once, here, on this config's own copy of the gate
            # section, and not marked as set, so a config re-read with another data source (--data) applies the
            # rule again instead of carrying the built-in set's bounds over
            gate = self.gate.model_copy()
            object.__setattr__(gate, "min_metrics", dict(BUILTIN_MIN_METRICS))
            object.__setattr__(self, "gate", gate)
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
