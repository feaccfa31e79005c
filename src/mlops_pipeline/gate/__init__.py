"""The gates a candidate passes before promotion, each scored on the held-out test split.

- `_model_gate.py`: the test-gate of the float model: absolute bounds, a per-class recall floor, the champion
  comparison (and the ratchet against the best passed version) and behavioural checks; `GateFailed` lists every
  failed check with its measured value and bound.
- `_quantization.py`: the quantization gate: the int8 model measured next to the float one;
  `QuantizationGateFailed` when it loses more of the primary metric than `quantize.max_metric_drop`; a model
  without a quantized form is kept as a skops file instead (`_float_form.py`: `quantize_or_keep_float`).
"""

from mlops_pipeline.gate._float_form import quantize_or_keep_float
from mlops_pipeline.gate._model_gate import (
    DEFAULT_NOISE_AGREEMENT,
    TREE_NOISE_AGREEMENT,
    BestPassed,
    Champion,
    Check,
    GateFailed,
    GateReport,
    absolute_checks,
    behavioural_checks,
    bound_checks,
    champion_check,
    champion_recheck,
    class_recall_check,
    determinism_check,
    gate_candidate,
    load_champion,
    noise_agreement_bound,
    noise_check,
    ratchet_check,
    run_gate,
    score_champion,
    single_row_check,
    unmet_check,
    verdict_rows,
)
from mlops_pipeline.gate._quantization import (
    REGRESSION_AGREEMENT_TOLERANCE,
    QuantizationGateFailed,
    QuantizationReport,
    QuantizationResult,
    agreement_rate,
    check_quantization,
    comparable_outputs,
    compare_models,
    quantize_and_compare,
    quantize_trained,
)

__all__ = [
    "REGRESSION_AGREEMENT_TOLERANCE",
    "BestPassed",
    "Champion",
    "Check",
    "GateFailed",
    "GateReport",
    "QuantizationGateFailed",
    "QuantizationReport",
    "QuantizationResult",
    "absolute_checks",
    "bound_checks",
    "agreement_rate",
    "behavioural_checks",
    "champion_check",
    "champion_recheck",
    "check_quantization",
    "class_recall_check",
    "comparable_outputs",
    "compare_models",
    "determinism_check",
    "gate_candidate",
    "load_champion",
    "DEFAULT_NOISE_AGREEMENT",
    "TREE_NOISE_AGREEMENT",
    "noise_agreement_bound",
    "noise_check",
    "quantize_and_compare",
    "quantize_or_keep_float",
    "quantize_trained",
    "ratchet_check",
    "run_gate",
    "score_champion",
    "single_row_check",
    "unmet_check",
    "verdict_rows",
]
