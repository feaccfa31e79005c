"""The float model's deployable form when it has no quantized one: a `skops.io` file, loaded against trusted types.

A model whose final step is neither a linear model, an MLP nor a tree ensemble (a custom estimator, say) cannot be
quantized. Its version then stores `model.skops` beside `model.joblib`, and batch scoring and the service load that
file, never the pickle: `skops.io` rebuilds only the types it is told to trust, so a tampered or hostile file
cannot run code on load. The trusted types are the pipeline's own (`PIPELINE_TRUSTED_TYPES`: scikit-learn's tree
and optimizer internals, the table preprocessing) plus those the model's config names (`model.trusted_types`,
recorded in the version's card); the file's sha256 is checked against the card before it is parsed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import skops.io
from sklearn.base import is_classifier
from sklearn.utils.metaestimators import available_if

from mlops_pipeline.quantize import ModelInputError

SKOPS_MODEL_FILE = "model.skops"
SCHEMA = "schema.json"  # skops's description of the object tree; the arrays are .npy files beside it
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

# Types the pipeline's own models hold that skops.io does not trust by default (scikit-learn's estimators and
# numpy arrays it trusts already). Checked against every built-in kind by tests/unit/test_skops_form.py and the
# table pipelines by tests/unit/test_model_kinds_tables.py.
PIPELINE_TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # the table steps (mlops_pipeline.features): the raw-column reader, its column specs, date parts, and the
    # native family's check_array partial (a partial's function is itself checked against this list)
    "mlops_pipeline.features._steps.TableEncoder",
    "mlops_pipeline.features._spec.ColumnSpec",
    "mlops_pipeline.features._steps.DateParts",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


class UntrustedModelError(ValueError):
    """A skops file holds types nobody said to trust: it is not loaded."""


def dump_skops(estimator: Any) -> bytes:
    """The fitted estimator as skops bytes (no pickle inside), made deterministic by `canonical_skops`."""
    return canonical_skops(bytes(skops.io.dumps(estimator)))


def _zero_padding(name: str, data: bytes) -> bytes:
    """A structured array (a tree's nodes) has padding bytes between its fields that hold whatever memory held:
    write it again with the padding zeroed. Other files are returned as they are."""
    if not name.endswith(".npy"):
        return data
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype.names is None:
        return data
    clean = np.zeros(array.shape, dtype=array.dtype)
    for field in array.dtype.names:
        clean[field] = array[field]
    out = io.BytesIO()
    np.save(out, clean, allow_pickle=False)
    return out.getvalue()


def _is_id(key: str, value: Any) -> bool:
    return key == "__id__" and isinstance(value, int)


def canonical_skops(data: bytes) -> bytes:
    """skops bytes that depend only on the model: skops names its array files and memo ids after `id()` of the
    objects and stamps the time into the zip, so equal models give different bytes (and a retrain that changed
    nothing would look like a new model). Ids and file names are renumbered in the order the schema lists them
    (equal ids stay equal, so shared objects stay shared) and every entry gets one fixed time."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {name for name in source.namelist() if name != SCHEMA}
        files: dict[str, str] = {}
        ids: dict[int, int] = {}

        def renumber(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    key: ids.setdefault(value, len(ids)) if _is_id(key, value) else renumber(value)
                    for key, value in node.items()
                }
            if isinstance(node, list):
                return [renumber(value) for value in node]
            if isinstance(node, str) and node in members:
                return files.setdefault(node, f"{len(files)}{PurePosixPath(node).suffix}")
            return node

        schema = renumber(json.loads(source.read(SCHEMA)))
        names = {**{m: m for m in sorted(members - set(files))}, **files}  # unreferenced members keep their names
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
            for old, new in names.items():
                target.writestr(zipfile.ZipInfo(new, date_time=_FIXED_TIME), _zero_padding(old, source.read(old)))
            target.writestr(zipfile.ZipInfo(SCHEMA, date_time=_FIXED_TIME), json.dumps(schema, indent=2))
    return out.getvalue()


def trusted_types(extra: Sequence[str] = ()) -> list[str]:
    """The pipeline's own trusted types plus `extra` (a config's `model.trusted_types`)."""
    return sorted({*PIPELINE_TRUSTED_TYPES, *extra})


def load_skops(data: bytes, trusted: Sequence[str], origin: str) -> Any:
    """The estimator in skops bytes, only if every type it holds is trusted (by skops or in `trusted`)."""
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # not a skops file (truncated, another format)
        raise UntrustedModelError(f"{origin}: not a readable skops file ({type(exc).__name__}: {exc})") from None
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise UntrustedModelError(
            f"{origin}: holds types that are not trusted: {', '.join(refused)}; refusing to load it (if they are "
            "your estimator's own, list them in the model's config as model.trusted_types and retrain)"
        )
    return skops.io.loads(data, trusted=list(untrusted))


def card_trusted_types(card: dict[str, Any]) -> list[str]:
    """The trusted types of a stored version: the pipeline's own plus those its (verified) card's model names."""
    model = (card.get("selection") or {}).get("model") or {}
    return trusted_types(model.get("trusted_types") or [])


def _has_proba(model: FloatModel) -> bool:
    return hasattr(model.estimator, "predict_proba")


@dataclass(frozen=True)
class FloatModel:
    """A float scikit-learn model loaded from skops, with the scoring interface of `QuantizedModel` that batch
    scoring and the service use: predict, predict_proba (when the model has it), predict_with_proba, classes_,
    problem_."""

    estimator: Any
    problem_: str

    @property
    def classes_(self) -> np.ndarray:
        """The classes of a classifier (AttributeError for a regressor, as scikit-learn's)."""
        if not is_classifier(self.estimator):
            raise AttributeError(f"{type(self.estimator).__name__} is a regressor: it has no classes_")
        return np.asarray(self.estimator.classes_)

    def _call(self, method: str, X: Any) -> np.ndarray:
        try:
            return np.asarray(getattr(self.estimator, method)(X))
        except ValueError as exc:  # wrong width, NaN where the model takes none: the input's fault
            raise ModelInputError(str(exc)) from None

    def predict(self, X: Any) -> np.ndarray:
        return self._call("predict", X)

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        return self._call("predict_proba", X)

    @available_if(_has_proba)
    def predict_with_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(X), self.predict_proba(X)


@dataclass(frozen=True)
class FloatForm:
    """The quantize step's result for a model without a quantized form: the skops bytes and why."""

    skops_bytes: bytes
    reason: str  # why there is no quantized form
    trusted_types: list[str]
    agreement: float  # share of held-out rows where the reloaded file predicts what the fitted model does
    n_test_rows: int

    def card(self) -> dict[str, Any]:
        return {
            "file": SKOPS_MODEL_FILE,
            "reason": self.reason,
            "trusted_types": self.trusted_types,
            "agreement_with_fitted_model": self.agreement,
            "n_test_rows": self.n_test_rows,
        }


def build_float_form(estimator: Any, X_test: np.ndarray, problem: str, reason: str, extra: Sequence[str]) -> FloatForm:
    """Write the fitted model as skops, load it back the way scoring will (trusted types only) and check it
    predicts the held-out rows exactly as the fitted model does: a type nobody trusted fails here, in training,
    not in the service. Raises UntrustedModelError, or ValueError if the reloaded model predicts differently."""
    data = dump_skops(estimator)
    trusted = trusted_types(extra)
    reloaded = FloatModel(load_skops(data, trusted, "the model's skops file"), problem)
    expected, got = np.asarray(estimator.predict(X_test)), reloaded.predict(X_test)
    agreement = float(np.mean(expected == got)) if len(expected) else 1.0
    if agreement < 1.0:
        raise ValueError(f"the model reloaded from its skops file predicts differently on {1 - agreement:.2%} of rows")
    return FloatForm(data, reason, trusted, agreement, int(X_test.shape[0]))
