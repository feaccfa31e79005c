"""Post-training int8 quantization of linear models, linear SVMs and MLPs, as a scikit-learn style estimator.

`QuantizedModel(estimator=fitted_model).fit(X_train)` quantizes an already fitted scikit-learn model;
`QuantizedModel.load(path)` restores one from its pickle-free `.npz` file. The package knows nothing of the
pipeline (its quantization gate is `mlops_pipeline.gate`). One concern per module:

- `_weights.py`: the maths: int8 rows with per-row scales, output-aware (GPTQ-style) rounding, calibration rows.
- `_extract.py`: a fitted scikit-learn model (pipeline) read as affine layers in the standardised-input domain.
- `_estimator.py`: `QuantizedModel`, the estimator and its chunked runtime; `_outputs.py`: how the last layer's
  values become predictions, probabilities or decision values.
- `_format.py`: the file container shared by model families (header, version, deterministic bytes, checks of
  untrusted arrays); `_format_affine.py`: the arrays of the affine-layers family.
- `_trees_extract.py`, `_trees_kernel.py`, `_trees_estimator.py`, `_format_trees.py`: the tree form
  (HistGradientBoosting, forests): uint8 bins, numba kernels with a numpy twin, `QuantizedTrees`, its file family.
  `model_from_bytes` loads a file of either family.
- `_errors.py`: `QuantizationError` (a model or file that cannot be used), `ModelInputError` (input it cannot score).
"""

from mlops_pipeline.quantize._errors import ModelInputError, QuantizationError
from mlops_pipeline.quantize._estimator import QuantizedModel, WeightDtype
from mlops_pipeline.quantize._extract import FloatModelLayers, extract_layers
from mlops_pipeline.quantize._format import AFFINE_FAMILY, FORMAT_VERSION, TREES_FAMILY, model_from_bytes
from mlops_pipeline.quantize._format_affine import OUTPUTS
from mlops_pipeline.quantize._trees_estimator import QuantizedTrees
from mlops_pipeline.quantize._trees_extract import TreeEnsemble, extract_trees, is_tree_model
from mlops_pipeline.quantize._trees_kernel import warm_up
from mlops_pipeline.quantize._weights import (
    HIDDEN_ACTIVATIONS,
    AffineLayer,
    StoredLayer,
    calibration_rows,
    dequantize_rows,
    float32_layers,
    quantize_layers,
    quantize_rows,
)

__all__ = [
    "AFFINE_FAMILY",
    "FORMAT_VERSION",
    "HIDDEN_ACTIVATIONS",
    "OUTPUTS",
    "AffineLayer",
    "FloatModelLayers",
    "ModelInputError",
    "QuantizationError",
    "QuantizedModel",
    "QuantizedTrees",
    "TREES_FAMILY",
    "TreeEnsemble",
    "StoredLayer",
    "WeightDtype",
    "calibration_rows",
    "dequantize_rows",
    "extract_layers",
    "extract_trees",
    "is_tree_model",
    "model_from_bytes",
    "warm_up",
    "float32_layers",
    "quantize_layers",
    "quantize_rows",
]

# a model of either family, as model_from_bytes returns it
AnyQuantizedModel = QuantizedModel | QuantizedTrees
