"""One served model version: the champion's int8 model, contract and drift reference, loaded hash-verified."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from mlops_pipeline.batch import ScoringModel, load_scoring_model
from mlops_pipeline.contract import DataContract
from mlops_pipeline.features import ColumnSpec
from mlops_pipeline.registry import INT8_MODEL_FILE, Store
from mlops_pipeline.skops_form import SKOPS_MODEL_FILE

from .inputs import ContractLimits


@dataclass(frozen=True)
class ServedModel:
    """What one request is answered with. Immutable: a champion change builds a new one and swaps the reference,
    so a request that picked this one up finishes on it."""

    name: str
    version: str
    sha256: str  # of the file the predictions come from, as recorded in the version's card
    model: Any  # QuantizedModel in production; anything with predict (and predict_proba) for the benchmark twin
    contract: DataContract
    drift_reference: dict[str, Any] | None
    loaded_at: float = field(default_factory=time.time)
    kind: str = "int8"

    @cached_property
    def columns(self) -> list[ColumnSpec]:
        """The contract's column specs (kind, categories, date format), in feature order."""
        return self.contract.columns()

    @cached_property
    def limits(self) -> ContractLimits:
        return ContractLimits.of(self.contract, self.columns)

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return [_plain(c) for c in classes] if classes is not None else None

    def answer(self, X: np.ndarray) -> dict[str, Any]:
        """The /predict body for rows already checked against the contract."""
        body: dict[str, Any] = {"predictions": [_plain(p) for p in np.asarray(self.model.predict(X))]}
        if hasattr(self.model, "predict_proba"):
            body["probabilities"] = np.asarray(self.model.predict_proba(X), dtype=np.float64).tolist()
        if self.classes is not None:
            body["classes"] = self.classes
        body.update(model=self.name, version=self.version)
        return body


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def from_scoring_model(scoring: ScoringModel, sha256: str, kind: str = "int8") -> ServedModel:
    return ServedModel(
        scoring.name, scoring.version, sha256, scoring.model, scoring.contract, scoring.drift_reference, kind=kind
    )


def load_int8(store: Store, version: str) -> ServedModel:
    """The production loader: the version's `model.int8.npz` (never the pickle), contract and drift reference,
    each checked against the sha256 in the card by the store before it is parsed."""
    scoring = load_scoring_model(store, store.name, version)
    files = store.card(version)["files"]
    # a model without a quantized form is served from its skops file (trusted types only), never the pickle
    served_file = INT8_MODEL_FILE if INT8_MODEL_FILE in files else SKOPS_MODEL_FILE
    return from_scoring_model(scoring, files[served_file]["sha256"], kind=scoring.form)


# store + version -> ServedModel; the benchmark passes another to serve the float twin the same way
ModelLoader = Callable[[Store, str], ServedModel]
