"""Drift measures: PSI and the KS test against the stored training reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from mlops_pipeline.drift import (
    DriftAccumulator,
    drift_rows,
    learn_reference,
    measure_drift,
    population_stability_index,
)


@pytest.mark.parametrize(
    ("expected", "actual", "psi"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([0.5, 0.5], [0.25, 0.75], 0.25 * np.log(0.75 / 0.5) - 0.25 * np.log(0.25 / 0.5)),
        ([1.0, 0.0], [0.0, 1.0], (1e-4 - 1.0) * np.log(1e-4) + (1.0 - 1e-4) * np.log(1.0 / 1e-4)),
    ],
)
def test_population_stability_index(expected: list[float], actual: list[float], psi: float) -> None:
    assert population_stability_index(np.array(expected), np.array(actual)) == pytest.approx(psi)


@pytest.fixture(scope="module")
def digits_split() -> tuple[np.ndarray, np.ndarray, list[str]]:
    bunch = load_digits()
    X_train, X_test = train_test_split(bunch.data, test_size=0.2, random_state=0)
    return X_train, X_test, list(bunch.feature_names)


def test_reference_is_json_and_holds_no_rows(digits_split) -> None:
    X_train, _, names = digits_split
    reference = learn_reference(X_train, names)
    text = json.dumps(reference)
    assert json.loads(text)["features"][0]["name"] == names[0]
    assert reference["n_rows"] == X_train.shape[0]
    assert all(len(f["proportions"]) == len(f["edges"]) + 1 for f in reference["features"])
    assert all(abs(sum(f["proportions"]) - 1) < 1e-9 for f in reference["features"])


def test_held_out_rows_of_the_same_data_do_not_drift(digits_split) -> None:
    X_train, X_test, names = digits_split
    report = measure_drift(learn_reference(X_train, names), X_test)
    assert not report.drift_detected
    assert report.drifted_features == []


def test_a_shift_of_one_standard_deviation_drifts(digits_split) -> None:
    X_train, X_test, names = digits_split
    shifted = X_test + X_train.std(axis=0)
    report = measure_drift(learn_reference(X_train, names), shifted)
    assert report.drift_detected
    assert report.drifted_share > 0.9
    rows = drift_rows(report)
    assert rows[0]["psi"] == max(r["psi"] for r in rows) and rows[0]["drifted"] == "yes"


def test_one_shifted_feature_is_named(digits_split) -> None:
    X_train, X_test, names = digits_split
    shifted = X_test.copy()
    shifted[:, 20] += 8.0
    report = measure_drift(learn_reference(X_train, names), shifted, min_drifted_share=0.5)
    assert report.drifted_features == [names[20]]
    assert not report.drift_detected


def test_wrong_column_count_is_an_error(digits_split) -> None:
    X_train, X_test, names = digits_split
    with pytest.raises(ValueError, match="64 columns"):
        measure_drift(learn_reference(X_train, names), X_test[:, :10])


def test_a_shift_late_in_a_long_stream_is_caught(digits_split) -> None:
    """The KS sample spans the whole stream, not its first rows."""
    X_train, X_test, names = digits_split
    clean = np.tile(X_test, (20, 1))
    shifted = clean + X_train.std(axis=0)
    accumulator = DriftAccumulator(learn_reference(X_train, names), sample_rows=2_000)
    for chunk in (clean, shifted, shifted, shifted):
        accumulator.add(chunk)
    assert accumulator.kept <= 2_000 and accumulator.stride > 1
    assert accumulator.report().drift_detected


def test_an_empty_batch_does_not_drift(digits_split) -> None:
    X_train, _, names = digits_split
    accumulator = DriftAccumulator(learn_reference(X_train, names))
    accumulator.add(np.empty((0, len(names))))
    report = accumulator.report()
    assert not report.drift_detected and report.n_rows == 0


def test_finite_chunks_and_chunks_with_missing_values_are_counted_alike(digits_split) -> None:
    """Finite chunks are binned all columns at once; a NaN/inf chunk column by column: the same bins either way."""
    X_train, X_test, names = digits_split
    reference = learn_reference(X_train, names)
    rng = np.random.default_rng(0)
    noisy = X_test + rng.normal(0, 2, X_test.shape)
    with_gaps = noisy.copy()
    with_gaps[5, 3] = np.nan
    with_gaps[7, 9] = np.inf
    fast, slow = DriftAccumulator(reference, sample_rows=50), DriftAccumulator(reference, sample_rows=50)
    for start in range(0, noisy.shape[0], 100):
        fast.add(np.asfortranarray(noisy[start : start + 100]))
        slow.add(np.vstack([noisy[start : start + 100], with_gaps[5:6]]))
        fast.add(with_gaps[5:6])
    for index in range(len(names)):
        np.testing.assert_array_equal(fast.counts[index], slow.counts[index])
    np.testing.assert_allclose(fast.sums, slow.sums)
    np.testing.assert_array_equal(fast.finite, slow.finite)
    assert fast.kept == slow.kept <= 50 and fast.stride == slow.stride


@pytest.mark.parametrize("sizes", [[3, 5, 1, 8, 13], [999, 1, 1, 1500, 7], [0, 10, 40, 1]])
def test_the_ks_sample_is_every_stride_th_row_of_the_stream(digits_split, sizes) -> None:
    X_train, _, names = digits_split
    rng = np.random.default_rng(1)
    stream = rng.normal(size=(sum(sizes), len(names)))
    accumulator = DriftAccumulator(learn_reference(X_train, names), sample_rows=7)
    start = 0
    for size in sizes:
        accumulator.add(stream[start : start + size])
        start += size
        np.testing.assert_array_equal(np.concatenate(accumulator.samples), stream[: start : accumulator.stride])
        assert accumulator.kept <= 7
