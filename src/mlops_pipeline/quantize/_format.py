"""The quantized model file: plain `.npz` arrays plus a JSON header, never a pickle; shared by every model family.

A file is a zip of `.npy` arrays written with `allow_pickle=False` and read with `numpy.load(allow_pickle=False)`,
so a model from an untrusted source cannot run code. The `header` array is UTF-8 JSON (as uint8) holding
`format_version` and the model `family`; each family (`affine_layers`: linear models and MLPs,
`_format_affine.py`; `trees`: tree ensembles, `_format_trees.py`) names its own arrays and checks their dtype and
shape before use with `FileChecker`. Identical models give identical bytes (fixed zip timestamps, sorted header
keys), so a file's hash identifies its model.

Adding a family means a module with its own array layout and checks, and an entry in `model_from_bytes` (the one
loader batch scoring and the service use); the container, the header, the version and the check helpers here stay
as they are. Files written before the `family` key existed hold affine layers (`DEFAULT_FAMILY`).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_pipeline.quantize._errors import QuantizationError

if TYPE_CHECKING:
    from mlops_pipeline.quantize._estimator import QuantizedModel
    from mlops_pipeline.quantize._trees_estimator import QuantizedTrees

# Version 1 (linear models only, one array per vector) is no longer read: re-run the pipeline to rewrite it.
FORMAT_VERSION = 2
AFFINE_FAMILY = "affine_layers"
TREES_FAMILY = "trees"
# the family of a file whose header has no `family` key (every file written before it was added)
DEFAULT_FAMILY = AFFINE_FAMILY
FAMILIES = frozenset({AFFINE_FAMILY, TREES_FAMILY})


def write_model_file(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The file bytes: `header` (with the format version) as the first array, then `arrays`, deterministically."""
    full_header = {**header, "format_version": FORMAT_VERSION}
    encoded = np.frombuffer(json.dumps(full_header, sort_keys=True).encode(), dtype=np.uint8)
    return _deterministic_npz({"header": encoded, **arrays})


def read_model_file(data: bytes, origin: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a model file, with its version and family checked; errors name `origin`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        header = json.loads(arrays.pop("header").astype(np.uint8).tobytes().decode())
    except (ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise QuantizationError(f"{origin}: not a quantized model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise QuantizationError(f"{origin}: header is not a JSON object")
    if header.get("format_version") != FORMAT_VERSION:
        raise QuantizationError(
            f"{origin}: format_version {header.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    family = header.get("family", DEFAULT_FAMILY)
    if family not in FAMILIES:
        raise QuantizationError(f"{origin}: header 'family' is {family!r}, expected one of {sorted(FAMILIES)}")
    return header, arrays


def model_from_bytes(data: bytes, origin: str = "<bytes>") -> QuantizedModel | QuantizedTrees:
    """The model of any family stored in `data` (checked like each family's `from_bytes`); errors name `origin`.

    Batch scoring and the service load through this, so a tree champion is scored without a pickle too.
    """
    from mlops_pipeline.quantize._estimator import QuantizedModel
    from mlops_pipeline.quantize._trees_estimator import QuantizedTrees

    header, _ = read_model_file(data, origin)
    if header.get("family", DEFAULT_FAMILY) == TREES_FAMILY:
        return QuantizedTrees.from_bytes(data, origin)
    return QuantizedModel.from_bytes(data, origin)


class FileChecker:
    """Checks of an untrusted file's header keys and arrays; every error names the file and the key or array."""

    def __init__(self, header: dict[str, Any], arrays: dict[str, np.ndarray], origin: str):
        self.header, self.arrays, self.origin = header, arrays, origin

    def fail(self, what: str) -> QuantizationError:
        return QuantizationError(f"{self.origin}: {what}")

    def require(self, *keys: str) -> None:
        for key in keys:
            if key not in self.header:
                raise self.fail(f"header has no '{key}'")

    def one_of(self, key: str, allowed: frozenset[str] | tuple[str, ...]) -> str:
        """The header value of `key`, which must be in `allowed` (a tuple is named in full, a set as a list)."""
        value = self.header[key]
        if value not in allowed:
            if isinstance(allowed, tuple):
                expected = " or ".join(repr(option) for option in allowed)
            else:
                expected = f"one of {sorted(allowed)}"
            raise self.fail(f"header '{key}' is {value!r}, expected {expected}")
        return str(value)

    def positive_int(self, key: str) -> int:
        value = self.header[key]
        if not isinstance(value, int) or value < 1:
            raise self.fail(f"header '{key}' is {value!r}, expected an integer >= 1")
        return value

    def array(self, name: str, dtype: Any, n_rows: int | None, n_columns: int) -> np.ndarray:
        """The finite 2-D array `name` of `dtype`, (n_rows, n_columns); n_rows None: any number of rows."""
        if name not in self.arrays:
            raise self.fail(f"array '{name}' is missing")
        value = self.arrays[name]
        expected_rows = n_rows if n_rows is not None else (value.shape[0] if value.ndim == 2 else -1)
        if value.dtype != np.dtype(dtype) or value.shape != (expected_rows, n_columns):
            shape = f"({'n' if n_rows is None else n_rows}, {n_columns})"
            raise self.fail(f"array '{name}' is {value.dtype} {value.shape}, expected {np.dtype(dtype)} {shape}")
        if not np.all(np.isfinite(value)):
            raise self.fail(f"array '{name}' holds NaN or infinite values")
        return value


def _deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """Like numpy.savez_compressed, but with fixed zip timestamps so identical models give identical bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.asarray(array), allow_pickle=False)
            archive.writestr(info, payload.getvalue(), compresslevel=9)
    return buffer.getvalue()
