"""The `affine_layers` family of the model file: linear models, linear SVMs and MLPs as int8 (or float32) layers.

Arrays: `input_standardisation` (rows mean and scale; float32, or float64 when some feature's mean is over 100 of
its standard deviations from zero), and per layer `layer{i}_weight` (int8, or float32 for the unquantized twin;
n_out x n_in, standardised-input domain) with `layer{i}_scale_bias` (float32, rows: per-output-row weight scale,
bias). Vectors share an array because every zip entry costs ~200 bytes, more than a small model's weights.
Header keys besides the shared ones (`_format.py`): model_kind, problem, output, hidden_activation, weight_dtype,
n_layers, n_features, classes, feature_names.

A table model (mixed column types, missing cells) also has the `features` block (`_format_features.py`): its input
is the encoded matrix (`n_features` and `feature_names` are the raw columns), and `input_standardisation` and the
first layer span the block's `n_outputs` model inputs (dense inputs, then one-hot columns). Files without the block
are exactly those written before it existed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.quantize._format import AFFINE_FAMILY, FileChecker, read_model_file, write_model_file
from mlops_pipeline.quantize._format_features import FEATURES_KEY, FeatureBlock, features_from_file, features_to_file
from mlops_pipeline.quantize._weights import HIDDEN_ACTIVATIONS, StoredLayer

# identity: regression. logistic / softmax: classifier with probabilities (binary / multiclass).
# decision: classifier with a decision function only (LinearSVC); predict_proba is absent, as in scikit-learn.
OUTPUTS = frozenset({"identity", "logistic", "softmax", "decision"})


def write_affine_file(
    header: dict[str, Any],
    input_mean: np.ndarray,
    input_scale: np.ndarray,
    layers: list[StoredLayer],
    features: FeatureBlock | None = None,
) -> bytes:
    """The file of an affine-layers model; `header` holds the family's keys (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {"input_standardisation": np.stack([input_mean, input_scale])}
    if features is not None:
        block_header, feature_arrays = features_to_file(features)
        header = {**header, FEATURES_KEY: block_header}
        arrays.update(feature_arrays)
    for i, layer in enumerate(layers):
        row_scale = layer.row_scale if layer.row_scale is not None else np.ones_like(layer.bias)
        arrays[f"layer{i}_weight"] = layer.weight
        arrays[f"layer{i}_scale_bias"] = np.stack([row_scale, layer.bias]).astype(np.float32)
    return write_model_file({**header, "family": AFFINE_FAMILY}, arrays)


def read_affine_file(
    data: bytes, origin: str
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[StoredLayer], FeatureBlock | None]:
    """Header, input mean and scale, layers and (table models) feature block of an affine-layers file, every key
    and array checked."""
    header, arrays = read_model_file(data, origin)
    checker = FileChecker(header, arrays, origin)
    if header.get("family", AFFINE_FAMILY) != AFFINE_FAMILY:
        raise checker.fail(f"header 'family' is {header['family']!r}: not an {AFFINE_FAMILY} model")
    features = features_from_file(checker)
    return (header, *_checked_contents(checker, features), features)


def _checked_contents(
    checker: FileChecker, features: FeatureBlock | None
) -> tuple[np.ndarray, np.ndarray, list[StoredLayer]]:
    """Check every header key and array (dtype, shape) of an untrusted file; errors name the key or array."""
    header, arrays = checker.header, checker.arrays
    checker.require("model_kind", "problem", "output", "hidden_activation", "weight_dtype", "n_layers", "n_features")
    problem = checker.one_of("problem", ("classification", "regression"))
    checker.one_of("output", OUTPUTS)
    checker.one_of("hidden_activation", HIDDEN_ACTIVATIONS)
    weight_dtype = np.int8 if checker.one_of("weight_dtype", ("int8", "float32")) == "int8" else np.float32
    n_layers = checker.positive_int("n_layers")
    n_features = checker.positive_int("n_features")
    if features is not None and features.n_columns != n_features:
        raise checker.fail(f"header 'n_features' is {n_features}, the features block has {features.n_columns} columns")
    n_inputs = features.n_outputs if features is not None else n_features

    standardisation = arrays.get("input_standardisation")
    precision = np.float64 if standardisation is not None and standardisation.dtype == np.float64 else np.float32
    input_mean, input_scale = checker.array("input_standardisation", precision, 2, n_inputs)
    if not np.all(input_scale > 0):
        raise checker.fail("array 'input_standardisation': the scale row must be > 0")
    layers: list[StoredLayer] = []
    n_in = n_inputs
    for i in range(n_layers):
        weight = checker.array(f"layer{i}_weight", weight_dtype, None, n_in)
        n_out = weight.shape[0]
        row_scale, bias = checker.array(f"layer{i}_scale_bias", np.float32, 2, n_out)
        layers.append(StoredLayer(weight, row_scale if weight_dtype == np.int8 else None, bias))
        n_in = n_out
    classes = header.get("classes")
    if problem == "classification":
        if not isinstance(classes, list) or len(classes) < 2:
            raise checker.fail("header 'classes': a classifier needs at least two classes")
        if n_in != (1 if len(classes) == 2 else len(classes)):
            raise checker.fail(f"header 'classes': {len(classes)} classes but the last layer has {n_in} outputs")
    feature_names = header.get("feature_names")
    if feature_names is not None and (not isinstance(feature_names, list) or len(feature_names) != n_features):
        raise checker.fail(f"header 'feature_names' must list {n_features} names")
    return input_mean, input_scale, layers
