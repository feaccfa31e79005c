"""The two errors of the quantize package: a model or file that cannot be used, and input a model cannot score."""


class QuantizationError(RuntimeError):
    """The model cannot be quantized, or a quantized model file is invalid."""


class ModelInputError(ValueError):
    """Input for a quantized model does not match what it was trained on."""
