"""Benchmark: predict speed and file size of the tree form (QuantizedTrees) against scikit-learn, Treelite and ONNX
Runtime (not a test: it prints figures).

    python benchmarks/trees.py             # optional: pip install treelite onnxruntime skl2onnx (skipped if absent)
    python benchmarks/trees.py --quick     # fewer repeats, smaller forest training set

Models (issue 21's targets): a HistGradientBoostingClassifier of 100 iterations of 31 leaves, and a
RandomForestClassifier of 100 fully grown trees, on 20 numeric features (a few NaN). Speed is rows/s of `predict`
on a 200,000-row batch, the median of interleaved rounds (every engine timed once per round, so a loaded, shared
machine slows them alike: read the ratios). "1 thread": threadpoolctl limits OpenMP/BLAS to one thread, the forest
and our scorer get n_jobs=1, Treelite nthread=1, ONNX Runtime one intra-op thread; "all": every CPU. Ours includes
input checks, binning and the label lookup (the whole `predict`). Our kernel is compiled before timing (numba's
cache; the warm-up a model load does) and its compile time on this machine is printed separately.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from threadpoolctl import threadpool_limits

from mlops_pipeline.quantize import QuantizedTrees
from mlops_pipeline.quantize._trees_kernel import default_backend

BATCH_ROWS = 200_000
N_FEATURES = 20
SEED = 42


def _data(n_train: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=n_train + BATCH_ROWS, n_features=N_FEATURES, n_informative=12, n_redundant=4, random_state=SEED
    )
    rng = np.random.default_rng(SEED)
    X[rng.random(X.shape) < 0.02] = np.nan  # a few missing cells, as the tables of issue 20 have
    return X[:n_train], y[:n_train], X[n_train:]


def _joblib_bytes(model: Any) -> int:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)  # as train.serialize_estimator stores model.joblib
    return len(buffer.getvalue())


def _first_line(error: BaseException) -> str:
    """The error's type and first line, and its cause's (skl2onnx wraps the onnx error in a message of the model)."""
    text = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120] if str(error).strip() else ''}"
    cause = error.__cause__ or error.__context__
    return f"{text} (caused by {_first_line(cause)})" if cause is not None else text


def _treelite(model: Any, batch: np.ndarray) -> tuple[dict[str, Callable[[], Any]], int] | str:
    try:
        import treelite
    except ImportError:
        return "treelite is not installed (pip install treelite)"
    try:
        imported = treelite.sklearn.import_model(model)
    except Exception as exc:  # e.g. a model kind or NaN support this Treelite version does not import
        return f"treelite could not import the model: {_first_line(exc)}"
    size = len(imported.serialize_bytes())
    batch32 = batch.astype(np.float32)
    return {
        "treelite GTIL, 1 thread": lambda: treelite.gtil.predict(imported, batch32, nthread=1),
        "treelite GTIL, all": lambda: treelite.gtil.predict(imported, batch32, nthread=-1),
    }, size


def _onnxruntime(model: Any, batch: np.ndarray) -> tuple[dict[str, Callable[[], Any]], int] | str:
    try:
        import onnxruntime
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:
        return "onnxruntime / skl2onnx are not installed (pip install onnxruntime skl2onnx)"
    try:
        onnx_model = convert_sklearn(
            model, initial_types=[("X", FloatTensorType([None, N_FEATURES]))], options={"zipmap": False}
        )
    except Exception as exc:
        return f"skl2onnx could not convert the model: {_first_line(exc)}"
    data = onnx_model.SerializeToString()
    sessions = {}
    for name, threads in (("onnxruntime, 1 thread", 1), ("onnxruntime, all", os.cpu_count() or 1)):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        sessions[name] = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    batch32 = batch.astype(np.float32)
    return {name: (lambda s=session: s.run(None, {"X": batch32})[0]) for name, session in sessions.items()}, len(data)


def _median_rows_per_second(engines: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for run in engines.values():  # one untimed call each (allocations, lazy set-up)
        run()
    for _ in range(repeats):
        for name, run in engines.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return {name: BATCH_ROWS / float(np.median(times)) for name, times in seconds.items()}


def _one_thread(run: Callable[[], Any]) -> Callable[[], Any]:
    def limited() -> Any:
        with threadpool_limits(1):
            return run()

    return limited


def bench(label: str, model: Any, X_train: np.ndarray, batch: np.ndarray, repeats: int, target: float) -> None:
    started = time.perf_counter()
    ours = QuantizedTrees(model).fit(X_train)
    extract_seconds = time.perf_counter() - started
    npz = ours.to_bytes()
    started = time.perf_counter()
    QuantizedTrees.from_bytes(npz)  # load + warm-up (kernels from numba's cache after the first run)
    load_seconds = time.perf_counter() - started
    ours_all = QuantizedTrees.from_bytes(npz).set_params(n_jobs=-1)
    agreement = float(np.mean(ours.predict(batch) == model.predict(batch)))
    sizes = {"model.joblib (scikit-learn)": _joblib_bytes(model), "model.int8.npz (ours)": len(npz)}

    is_forest = hasattr(model, "n_jobs")

    def sklearn_predict(n_jobs: int) -> Callable[[], Any]:
        def run() -> Any:
            if is_forest:
                model.set_params(n_jobs=n_jobs)
            return model.predict(batch)

        return run

    engines: dict[str, Callable[[], Any]] = {
        "scikit-learn, 1 thread": _one_thread(sklearn_predict(1)),
        "ours, 1 thread": lambda: ours.predict(batch),
        "scikit-learn, all": sklearn_predict(-1),
        "ours, all": lambda: ours_all.predict(batch),
    }
    notes = []
    for other in (_treelite(model, batch), _onnxruntime(model, batch)):
        if isinstance(other, str):
            notes.append(f"skipped: {other}")
        else:
            engines.update(other[0])
            name = next(iter(other[0])).split(",")[0]
            sizes[f"{name} model"] = other[1]
    speeds = _median_rows_per_second(engines, repeats)
    base = speeds["scikit-learn, 1 thread"]
    print(f"\n## {label}")
    print(
        f"fit (extract + kernel warm-up) {extract_seconds:.2f} s, load + warm-up {load_seconds:.2f} s, "
        f"kernel backend {default_backend()}, "
        f"labels identical to scikit-learn on {agreement:.4%} of the batch, exact thresholds: {ours.exact_}"
    )
    print("\n| engine | rows/s | vs scikit-learn 1 thread |\n|---|---:|---:|")
    for name, speed in speeds.items():
        print(f"| {name} | {speed / 1e6:.3f} M | {speed / base:.2f}x |")
    print("\n| file | bytes |\n|---|---:|")
    for name, size in sizes.items():
        print(f"| {name} | {size:,} |")
    for note in notes:
        print(note)
    ratio = speeds["ours, 1 thread"] / base
    verdict = "PASS" if ratio >= target else "MISS"
    print(f"\ntarget: ours >= {target:g}x scikit-learn on one thread: {ratio:.2f}x -> {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; the median counts (7)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, forest trained on 5,000 rows")
    parser.add_argument("--forest-train-rows", type=int, default=20_000, help="rows the forest is grown on (20,000)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    forest_rows = 5_000 if args.quick else args.forest_train_rows
    print(f"Predict speed on {BATCH_ROWS:,} rows x {N_FEATURES} features, median of {repeats} interleaved rounds")

    X_train, y_train, batch = _data(50_000)
    hgb = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, early_stopping=False, random_state=SEED).fit(
        X_train, y_train
    )
    bench("HistGradientBoostingClassifier: 100 iterations x 31 leaves", hgb, X_train, batch, repeats, 2.0)

    forest = RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=-1)
    forest.fit(X_train[:forest_rows], y_train[:forest_rows])
    depth = max(tree.tree_.max_depth for tree in forest.estimators_)
    nodes = sum(tree.tree_.node_count for tree in forest.estimators_)
    label = (
        f"RandomForestClassifier: 100 fully grown trees ({forest_rows:,} training rows, depth <= {depth}, "
        f"{nodes:,} nodes)"
    )
    bench(label, forest, X_train[:forest_rows], batch, repeats, 1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
