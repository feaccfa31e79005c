"""Batch inference with a stored int8 model: load it hash-verified, score a file chunk by chunk, summarise.

The champion's `model.int8.npz`, `contract.json` and `drift_reference.json` are loaded after their sha256 is
checked against the card; the input is read and checked against the contract chunk by chunk, scored, and written
as it goes, so memory stays flat on large files.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from mlops_pipeline.contract import CONTRACT_FILE, DataContract
from mlops_pipeline.data import InferenceChunk
from mlops_pipeline.drift import DRIFT_REFERENCE_FILE, DriftAccumulator, DriftReport, shares_by_column
from mlops_pipeline.infer import predict_batches
from mlops_pipeline.quantize import QuantizedModel
from mlops_pipeline.registry import INT8_MODEL_FILE, RegistryError, Store, atomic_writer, open_store
from mlops_pipeline.reports import markdown_table
from mlops_pipeline.skops_form import SKOPS_MODEL_FILE, FloatModel, card_trusted_types, load_skops

DRIFT_EVENT = "model.drift.detected"
PREFETCH_CHUNKS = 1  # chunks read ahead while one is scored: memory holds about 3 chunks, whatever the file's size
_T = TypeVar("_T")
_DONE = object()


def model_resource_id(model_name: str) -> str:
    """The event resource that names a model: drift events carry it, retraining triggers match on it."""
    return f"mlops.model.{model_name}"


def drift_event(model_name: str, version: str, source: str, report: DriftReport) -> dict[str, Any]:
    """The `model.drift.detected` event of a drifted batch, as keyword arguments of Prefect's `emit_event`.

    Built here (no Prefect import) so batch inference and the online prediction service emit the same event,
    and the retraining triggers that match on its resource fire for either. Mixed tables add, per column, the share
    of categories never seen in training and of dates outside the training range (empty for numeric tables).
    """
    return {
        "event": DRIFT_EVENT,
        "resource": {"prefect.resource.id": model_resource_id(model_name), "prefect.resource.name": model_name},
        "payload": {
            "version": version,
            "source": source,
            "rows": report.n_rows,
            "drifted_features": report.drifted_features[:50],
            "drifted_share": report.drifted_share,
            "max_psi": report.max_psi,
            **shares_by_column(report),
        },
    }


@dataclass(frozen=True)
class ScoringModel:
    name: str
    version: str
    folder: str  # where the version's files are: a local folder or an s3:// URL
    model: QuantizedModel | FloatModel
    contract: DataContract
    drift_reference: dict[str, Any] | None
    form: str = "int8"  # or "float, skops" for a model without a quantized form


@dataclass
class ScoringReport:
    rows: int = 0
    seconds: float = 0.0
    output: str = ""
    warnings: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    prediction_stats: dict[str, float] = field(default_factory=dict)
    accuracy_or_r2: float | None = None  # when the file carries labels

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def load_scoring_model(models_root: str | Path | Store, name: str, version: str | None = None) -> ScoringModel:
    """The champion (or `version`) of `name`: int8 model, contract and drift reference, each hash-verified.

    `models_root` is a store root (a folder, an s3:// URL) or an open store.
    """
    store = models_root if isinstance(models_root, Store) else open_store(models_root, name)
    if version is None:
        version = store.champion()
        if version is None:
            raise RegistryError(f"{store.location()}: '{name}' has no champion yet; train one or name a version")
    card = store.verified_card(version)  # HMAC / champion card_sha256 checked before any file is trusted
    model = scoring_estimator(store, version, card)
    if CONTRACT_FILE not in card.get("files", {}):
        raise RegistryError(f"{store.location(version)}: no {CONTRACT_FILE}; retrain to score new data against it")
    contract = DataContract.from_json(
        store.verified_bytes(version, CONTRACT_FILE), origin=store.location(version, CONTRACT_FILE)
    )
    reference = None
    if DRIFT_REFERENCE_FILE in card["files"]:
        reference = json.loads(store.verified_bytes(version, DRIFT_REFERENCE_FILE))
    form = "float, skops" if isinstance(model, FloatModel) else "int8"
    return ScoringModel(name, version, store.location(version), model, contract, reference, form)


def scoring_estimator(store: Store, version: str, card: dict[str, Any]) -> QuantizedModel | FloatModel:
    """What a version is scored with: its int8 `.npz`, else (a model without a quantized form) its skops file loaded
    against the trusted types; each only after its sha256 matches the verified card. Never the pickle."""
    files = card.get("files", {})
    if INT8_MODEL_FILE in files:
        return store.load_quantized_model(version)
    if SKOPS_MODEL_FILE in files:
        data = store.verified_bytes(version, SKOPS_MODEL_FILE)
        origin = store.location(version, SKOPS_MODEL_FILE)
        return FloatModel(load_skops(data, card_trusted_types(card), origin), str(card.get("problem")))
    raise RegistryError(f"{store.location(version)}: no int8 model (trained with quantize.enabled false)")


def _output_columns(
    model: QuantizedModel | FloatModel, chunk: InferenceChunk, predictions: np.ndarray, probabilities: np.ndarray | None
) -> dict[str, Any]:
    columns: dict[str, Any] = {"row": np.arange(chunk.row_offset, chunk.row_offset + predictions.shape[0])}
    if chunk.y is not None:
        columns["true"] = chunk.y
    columns["prediction"] = predictions
    if probabilities is not None:
        for index, label in enumerate(model.classes_):
            columns[f"proba_{label}"] = probabilities[:, index].astype(np.float32)
    return columns


def _scored(
    model: QuantizedModel | FloatModel, batches: Iterator[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(labels, probabilities or None) per batch: both from one pass of the network, not a predict and a
    predict_proba."""
    if hasattr(model, "predict_proba"):
        yield from predict_batches(model, batches, "predict_with_proba")
    else:
        for predictions in predict_batches(model, batches):
            yield predictions, None


def prefetched(items: Iterable[_T], depth: int = PREFETCH_CHUNKS) -> Generator[_T, None, None]:
    """`items` in order, the next `depth` produced ahead in a background thread.

    So the next chunk is parsed and checked (polars and numpy release the GIL) while this one is scored and written.
    An exception of the source is raised here at its place in the sequence, after every item before it. When the
    consumer stops early (an error, a break, close()), the thread stops at its next item and closes the source, so
    a downloaded copy is still deleted.
    """
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def offer(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed over to the consumer, raised there in order
            offer((_DONE, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def score_to_file(
    model: QuantizedModel | FloatModel,
    chunks: Iterator[InferenceChunk],
    out: Path,
    drift: DriftAccumulator | None,
) -> ScoringReport:
    """Score every chunk, write predictions (CSV or Parquet), feed the drift measure; the file appears whole or not."""
    import polars as pl

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"--out {out}: predictions are written as .csv or .parquet")
    report = ScoringReport(output=str(out))
    classes: Counter[str] = Counter()
    total = total_sq = 0.0
    low, high = np.inf, -np.inf
    correct = 0.0
    labelled = 0
    frames: list[Any] = []
    started = time.perf_counter()
    current: list[InferenceChunk] = []

    def features(chunks: Iterator[InferenceChunk]) -> Iterator[np.ndarray]:
        # predict_batches streams the matrices (and names absolute rows in input errors); keep each one's chunk
        for chunk in chunks:
            current[:] = [chunk]
            yield chunk.X

    # The int8 network multiplies cache-sized slices of a chunk: a second BLAS thread only spin-waits between
    # them (1M rows: 1.2 s of CPU for no wall time) and takes the core polars parses with. Same results.
    # closing(): an error here stops the reader thread now, not when the traceback lets go of the generator.
    ahead = prefetched(chunks)
    with closing(ahead), threadpool_limits(1, user_api="blas"), atomic_writer(out) as handle:
        for predictions, probabilities in _scored(model, features(ahead)):
            [chunk] = current
            report.warnings += [str(f) for f in chunk.findings if f.severity == "warning"]
            if drift is not None:
                drift.add(chunk.X)
            frame = pl.DataFrame(_output_columns(model, chunk, predictions, probabilities))
            if suffix == ".csv":
                frame.write_csv(handle, include_header=report.rows == 0)
            else:
                frames.append(frame)
            report.rows += predictions.shape[0]
            if model.problem_ == "classification":
                labels, counts = np.unique(predictions, return_counts=True)
                classes.update(dict(zip((str(label) for label in labels.tolist()), counts.tolist(), strict=True)))
                if chunk.y is not None:
                    correct += float(np.sum(predictions == chunk.y))
                    labelled += predictions.shape[0]
            else:
                values = predictions.astype(np.float64)
                total, total_sq = total + values.sum(), total_sq + np.square(values).sum()
                low = min(low, float(values.min(initial=np.inf)))
                high = max(high, float(values.max(initial=-np.inf)))
        if frames:
            pl.concat(frames).write_parquet(handle)
        elif report.rows == 0:  # no rows: still a valid file with the header
            empty = pl.DataFrame({"row": [], "prediction": []})
            if suffix == ".csv":
                empty.write_csv(handle)
            else:
                empty.write_parquet(handle)
    report.seconds = time.perf_counter() - started
    if model.problem_ == "classification":
        report.class_counts = dict(sorted(classes.items()))
        report.accuracy_or_r2 = correct / labelled if labelled else None
    elif report.rows:
        mean = total / report.rows
        report.prediction_stats = {
            "mean": mean,
            "std": float(np.sqrt(max(total_sq / report.rows - mean**2, 0.0))),
            "min": low,
            "max": high,
        }
    return report


def summary_rows(scoring: ScoringModel, report: ScoringReport, drift: DriftReport | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"item": "model", "value": f"{scoring.name} {scoring.version} ({scoring.form})"},
        {"item": "rows scored", "value": report.rows},
        {"item": "seconds", "value": round(report.seconds, 3)},
        {"item": "rows/s", "value": round(report.rows_per_second)},
        {"item": "predictions", "value": report.output},
        {"item": "warnings", "value": len(report.warnings)},
    ]
    rows += [{"item": f"class {label}", "value": count} for label, count in report.class_counts.items()]
    rows += [
        {"item": f"prediction {name}", "value": round(value, 4)} for name, value in report.prediction_stats.items()
    ]
    if report.accuracy_or_r2 is not None:
        rows.append({"item": "accuracy on the file's labels", "value": round(report.accuracy_or_r2, 4)})
    if drift is not None:
        rows.append(
            {
                "item": "drift",
                "value": f"{'DETECTED' if drift.drift_detected else 'none'}: "
                f"{len(drift.drifted_features)} of {len(drift.features)} features, max PSI {drift.max_psi:.3f}",
            }
        )
    return rows


def summary_markdown(name: str, version: str, rows: list[dict[str, Any]]) -> str:
    return f"### Batch inference: {name} {version}\n\n" + markdown_table(rows)
