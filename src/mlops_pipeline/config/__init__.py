"""The one pipeline configuration: a pydantic model loaded from `config/*.yaml` (or JSON).

The same model is the flow's parameter, so Prefect validates it on every run and the UI renders it as a form.
Unknown keys are errors that name the key (and suggest the closest valid one). Import every name from here
(`from mlops_pipeline.config import PipelineConfig`); the modules below are where each concern lives:

    problems.py       problem kinds, metric names, the primary metric
    base.py           `Section`: the base of every section (unknown keys forbidden, frozen)
    data.py           the `data` section
    model_kinds.py    one config class per model kind, the `ModelConfig` union, each kind's problem
    model_section.py  the `model` section: one model or several candidates, and how they are compared
    sections.py       the `gate`, `quantize` and `registry` sections
    pipeline.py       `PipelineConfig`, the root, and the checks that span sections
    inference.py      `InferenceConfig` and `DriftConfig`, the batch-inference flow's parameter
    errors.py         `ConfigError` and validation errors turned into messages naming the dotted key
    overrides.py      `--set section.key=value` on a raw mapping
    loading.py        files, raw mappings and run parameters to a validated `PipelineConfig`
"""

from __future__ import annotations

from mlops_pipeline.config.base import Section
from mlops_pipeline.config.data import AugmentConfig, DataConfig, DataFormat, ImputeStrategy, MissingPolicy
from mlops_pipeline.config.errors import ConfigError
from mlops_pipeline.config.inference import DriftConfig, InferenceConfig
from mlops_pipeline.config.loading import (
    fill_from_defaults,
    load_config,
    parse_config,
    read_config_file,
    with_data_source,
)
from mlops_pipeline.config.model_kinds import (
    MODEL_PROBLEM,
    LayerWidth,
    LinearRegressionConfig,
    LinearSVMConfig,
    LinearSVRConfig,
    LogisticRegressionConfig,
    MLPClassifierConfig,
    MLPRegressorConfig,
    ModelConfig,
    RidgeConfig,
)
from mlops_pipeline.config.model_section import SELECTION_KEYS, ModelSection
from mlops_pipeline.config.overrides import apply_overrides
from mlops_pipeline.config.pipeline import PipelineConfig
from mlops_pipeline.config.problems import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    MetricName,
    ProblemKind,
    primary_metric,
)
from mlops_pipeline.config.sections import GateConfig, GoldenSetConfig, QuantizeConfig, RegistryConfig

__all__ = [
    "AugmentConfig",
    "GoldenSetConfig",
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "MODEL_PROBLEM",
    "REGRESSION_METRICS",
    "SELECTION_KEYS",
    "ConfigError",
    "DataConfig",
    "DataFormat",
    "DriftConfig",
    "GateConfig",
    "ImputeStrategy",
    "InferenceConfig",
    "LayerWidth",
    "LinearRegressionConfig",
    "LinearSVMConfig",
    "LinearSVRConfig",
    "LogisticRegressionConfig",
    "MLPClassifierConfig",
    "MLPRegressorConfig",
    "MetricName",
    "MissingPolicy",
    "ModelConfig",
    "ModelSection",
    "PipelineConfig",
    "ProblemKind",
    "QuantizeConfig",
    "RegistryConfig",
    "RidgeConfig",
    "Section",
    "apply_overrides",
    "fill_from_defaults",
    "load_config",
    "parse_config",
    "primary_metric",
    "read_config_file",
    "with_data_source",
]
