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
