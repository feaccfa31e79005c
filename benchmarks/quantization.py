"""Benchmark: file size, held-out metric and predict speed of float vs int8 models (not a test: it prints figures).

    python benchmarks/quantization.py            # needs the optional `bench` extra for the ONNX Runtime column
    python benchmarks/quantization.py --quick    # same tables, fewer repeats (under a minute)

For each data set it compares, on one thread:
  - scikit-learn float: the fitted Pipeline, saved with joblib and loaded back, `predict`
  - this project's float32 model: QuantizedModel(weight_dtype="float32"), the same code path with unquantized weights
  - this project's int8 model: QuantizedModel, stored as model.int8.npz
  - ONNX Runtime dynamic quantization: skl2onnx export in MatMul form, onnxruntime.quantization.quantize_dynamic
  - read once: numpy summing the same input (`np.add.reduce`), the memory-bandwidth ceiling of any predict
Speed is rows/s of predict on a 200,000-row batch (the held-out rows repeated), the median of the repeats. The
engines of a data set are timed in interleaved rounds in one process, so a shared, loaded machine slows them alike:
read the ratios. The last table sets the int8 figures beside the targets of issue 14 (PASS / MISS).
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_diabetes, load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mlops_pipeline.quantize import QuantizedModel

BATCH_ROWS = 200_000
SEED = 42
READ_ONCE = "read once (np.add.reduce)"


@dataclass(frozen=True)
class Case:
    name: str
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    model: Callable[[], Any]
    problem: str  # classification | regression
    min_speedup: float | None = None  # target: int8 rows/s at least this many times scikit-learn's
    max_read_ratio: float | None = None  # target: int8 predict time at most this many times the read-once time


def _synthetic_classification() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        200_000, 64, n_informative=40, n_redundant=8, n_classes=10, class_sep=2.0, random_state=SEED
    )


def _synthetic_regression() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(200_000, 64, n_informative=32, noise=10.0, random_state=SEED)
    # unequal feature scales and offsets, as in real tabular data
    scales = np.random.default_rng(SEED).uniform(0.01, 100.0, size=64)
    return X * scales + 10.0 * scales, y


CASES = [
    Case(
        "digits, logistic regression",
        lambda: load_digits(return_X_y=True),
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED)),
        "classification",
        min_speedup=5.0,
        max_read_ratio=1.5,
    ),
    Case(
        "diabetes (scaled), linear regression",
        lambda: load_diabetes(return_X_y=True),
        LinearRegression,
        "regression",
        min_speedup=1.0,
    ),
    Case(
        "diabetes (scaled=False), linear regression",
        lambda: load_diabetes(return_X_y=True, scaled=False),
        LinearRegression,
        "regression",
        min_speedup=1.0,
    ),
    Case(
        "digits, MLP classifier (100 relu)",
        lambda: load_digits(return_X_y=True),
        lambda: make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(100,), max_iter=300, random_state=SEED)
        ),
        "classification",
        min_speedup=4.0,
    ),
    Case(
        "synthetic 200k x 64, 10 classes, logistic",
        _synthetic_classification,
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=SEED)),
        "classification",
    ),
    Case(
        "synthetic 200k x 64, linear regression", _synthetic_regression, LinearRegression, "regression", min_speedup=1.0
    ),
]


@dataclass
class Engine:
    name: str
    file_bytes: int | None = None
    metric: float | None = None
    rows_per_second: float | None = None
    note: str = ""


def _metric(task: str, y_true: np.ndarray, predictions: np.ndarray) -> float:
    return float(accuracy_score(y_true, predictions) if task == "classification" else r2_score(y_true, predictions))


def _median_rows_per_second(
    predicts: dict[str, Callable[[np.ndarray], Any]], batch: np.ndarray, repeats: int
) -> dict[str, float]:
    """rows/s of each predict on batch: the median of `repeats` interleaved rounds (each round times every one)."""
    for predict in predicts.values():
        predict(batch[:1000])  # warm-up: first-call allocations, lazy imports
    seconds: dict[str, list[float]] = {name: [] for name in predicts}
    for _ in range(repeats):
        for name, predict in predicts.items():
            started = time.perf_counter()
            predict(batch)
            seconds[name].append(time.perf_counter() - started)
    return {name: batch.shape[0] / float(np.median(times)) for name, times in seconds.items()}


def _read_once(rows: np.ndarray) -> Any:
    return np.add.reduce(rows, axis=None)


def _onnx_dynamic_int8(estimator: Any, X_train: np.ndarray, task: str, folder: Path) -> tuple[Any, int] | str:
    """ONNX Runtime session of the dynamically quantized export, and its file size; or why it is unavailable."""
    try:
        import onnx
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        return f"skipped: {exc.name} is not installed (pip install -e '.[bench]')"
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {id(final): {"zipmap": False}} if task == "classification" else None
    # The default export uses the ai.onnx.ml LinearClassifier / LinearRegressor ops, which dynamic quantization
    # leaves untouched; banning them makes skl2onnx emit MatMul + Add, which it does quantize.
    onnx_model = convert_sklearn(
        estimator,
        initial_types=[("X", FloatTensorType([None, X_train.shape[1]]))],
        options=options,
        black_op={"LinearClassifier", "LinearRegressor"},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    float_path, int8_path = folder / "model.onnx", folder / "model.int8.onnx"
    float_path.write_bytes(onnx_model.SerializeToString())
    # ONNX shape inference does not type the outputs of ai.onnx.ml ops (the StandardScaler's Scaler): say float.
    quantize_dynamic(
        float_path, int8_path, weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}
    )
    options_ = ort.SessionOptions()
    options_.intra_op_num_threads = 1
    options_.inter_op_num_threads = 1
    session = ort.InferenceSession(str(int8_path), options_, providers=["CPUExecutionProvider"])
    return session, int8_path.stat().st_size


def run_case(case: Case, repeats: int) -> list[Engine]:
    X, y = case.data()
    stratify = y if case.problem == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=stratify)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = case.model().fit(X_train, y_train)
    batch = np.resize(X_test, (BATCH_ROWS, X_test.shape[1]))  # held-out rows repeated to 200,000

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    loaded = joblib.load(io.BytesIO(buffer.getvalue()))
    sklearn = "scikit-learn float (joblib)"
    engines = [Engine(sklearn, len(buffer.getvalue()), _metric(case.problem, y_test, loaded.predict(X_test)))]
    predicts: dict[str, Callable[[np.ndarray], Any]] = {sklearn: loaded.predict}

    for label, weight_dtype in (("this project float32", "float32"), ("this project int8", "int8")):
        stored = QuantizedModel(estimator=estimator, weight_dtype=weight_dtype).fit(X_train).to_bytes()
        model = QuantizedModel.from_bytes(stored)
        engines.append(Engine(label, len(stored), _metric(case.problem, y_test, model.predict(X_test))))
        predicts[label] = model.predict

    with tempfile.TemporaryDirectory() as folder:
        try:
            onnx = _onnx_dynamic_int8(estimator, X_train, case.problem, Path(folder))
        except Exception as exc:  # noqa: BLE001 - a baseline that cannot be built is reported, not fatal
            onnx = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
    label = "ONNX Runtime dynamic int8"
    if isinstance(onnx, str):
        engines.append(Engine(label, note=onnx))
    else:
        session, size = onnx

        def onnx_predict(rows: np.ndarray) -> np.ndarray:
            # float32 input is part of the cost: callers hold float64 arrays
            return session.run(None, {"X": rows.astype(np.float32)})[0]

        engines.append(Engine(label, size, _metric(case.problem, y_test, np.ravel(onnx_predict(X_test)))))
        predicts[label] = onnx_predict

    predicts[READ_ONCE] = _read_once
    speeds = _median_rows_per_second(predicts, batch, repeats)
    for engine in engines:
        engine.rows_per_second = speeds.get(engine.name)
    engines.append(Engine(READ_ONCE, rows_per_second=speeds[READ_ONCE], note="memory-bandwidth ceiling"))
    return engines


def format_case(case: Case, engines: list[Engine]) -> str:
    metric_name = "accuracy" if case.problem == "classification" else "R²"
    base = engines[0]
    assert base.metric is not None and base.rows_per_second is not None
    lines = [
        f"\n### {case.name}\n",
        f"| model | file bytes | {metric_name} | Δ vs float | rows/s (1 thread) | speed vs scikit-learn |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for engine in engines:
        speed = (
            f"{engine.rows_per_second:,.0f} | {engine.rows_per_second / base.rows_per_second:.1f}x"
            if engine.rows_per_second is not None
            else "– | –"
        )
        if engine.metric is None:
            lines.append(f"| {engine.name} | – | – | – | {speed} {engine.note} |")
            continue
        lines.append(
            f"| {engine.name} | {engine.file_bytes:,} | {engine.metric:.4f} | {engine.metric - base.metric:+.4f} "
            f"| {speed} |"
        )
    return "\n".join(lines)


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "**MISS**"


def format_targets(results: list[tuple[Case, list[Engine]]]) -> str:
    """int8 speed against issue 14's targets: vs scikit-learn, and vs reading the input once (time ratio)."""
    lines = [
        "\n### int8 scoring against the targets\n",
        "| data set, model | scikit-learn rows/s | int8 rows/s | int8 / scikit-learn | target | "
        "read-once rows/s | int8 time / read-once time | target |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for case, engines in results:
        by_name = {engine.name: engine.rows_per_second for engine in engines}
        sklearn, int8 = by_name["scikit-learn float (joblib)"], by_name["this project int8"]
        read = by_name[READ_ONCE]
        assert sklearn is not None and int8 is not None and read is not None
        speedup, read_ratio = int8 / sklearn, read / int8
        speed_target = (
            f"≥ {case.min_speedup:g}x {_verdict(speedup >= case.min_speedup)}" if case.min_speedup is not None else "–"
        )
        read_target = (
            f"≤ {case.max_read_ratio:g}x {_verdict(read_ratio <= case.max_read_ratio)}"
            if case.max_read_ratio is not None
            else "–"
        )
        lines.append(
            f"| {case.name} | {sklearn:,.0f} | {int8:,.0f} | {speedup:.2f}x | {speed_target} | {read:,.0f} "
            f"| {read_ratio:.2f}x | {read_target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per data set; the median counts (9)")
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of --repeats (under a minute)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    started = time.perf_counter()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger
    print(
        f"Predict speed on a {BATCH_ROWS:,}-row batch, median of {repeats} interleaved rounds, BLAS and ONNX Runtime "
        "on 1 thread."
    )
    results = []
    with threadpool_limits(limits=1):
        for case in CASES:
            engines = run_case(case, repeats)
            results.append((case, engines))
            print(format_case(case, engines), flush=True)
    print(format_targets(results))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
