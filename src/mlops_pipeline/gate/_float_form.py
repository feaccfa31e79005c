"""The quantize step's choice: the quantized form when the model has one, else its float skops form.

A model whose final step is neither a linear model, an MLP nor a tree ensemble has no quantized form
(`mlops_pipeline.estimators.quantizable`). With `quantize.enabled` auto it is kept as a skops file
(`mlops_pipeline.skops_form`), loaded back with the trusted types and checked against the fitted model; with
`quantize.enabled: true` it is an error.
"""

from __future__ import annotations

import io

import joblib

from mlops_pipeline.config import QuantizeConfig
from mlops_pipeline.estimators import buildable
from mlops_pipeline.gate._quantization import QuantizationResult, quantize_trained
from mlops_pipeline.quantize import QuantizationError
from mlops_pipeline.skops_form import FloatForm, UntrustedModelError, build_float_form
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


def quantize_or_keep_float(
    trained: TrainedModel, data: PreparedData, config: QuantizeConfig
) -> QuantizationResult | FloatForm:
    """The quantize step: the quantized form when the model has one this version builds (`quantize_trained`);
    otherwise, with `quantize.enabled` auto, the float model as a skops file (`FloatForm`, saying why), reloaded
    with the trusted types and checked against the fitted model. `quantize.enabled: true` on such a model raises
    QuantizationError naming why."""
    ok, why = buildable(trained.estimator)
    if ok:
        return quantize_trained(trained, data, config)
    if config.enabled is True:
        raise QuantizationError(f"quantize.enabled is true, but the model has no quantized form: {why}")
    extra = trained.model_config.get("trusted_types") or []
    # from the stored model bytes, not the estimator in memory: a cached estimator (unpickled) shares objects
    # differently, and the skops file must be the same bytes on every run that stores the same model
    stored = joblib.load(io.BytesIO(trained.model_bytes))
    try:
        return build_float_form(stored, data.X_test, data.problem, why, extra)
    except (UntrustedModelError, ValueError) as exc:
        raise QuantizationError(f"no quantized form ({why}), and the skops form cannot be used: {exc}") from None
