"""Drift per column kind on code-built mixed tables (the encoded matrix): categories, dates, numbers together."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops_pipeline.batch import drift_event
from mlops_pipeline.drift import DriftAccumulator, date_text, drift_rows, learn_reference, measure_drift
from mlops_pipeline.features import UNKNOWN_CODE, ColumnSpec

NAMES = ["size", "colour", "when", "flag"]
COLOURS = ("red", "green", "blue", "grey")
SPECS = [
    ColumnSpec("size", "numeric"),
    ColumnSpec("colour", "categorical", categories=COLOURS),
    ColumnSpec("when", "datetime"),
    ColumnSpec("flag", "boolean"),
]
DAY_2024 = 19723.0  # 2024-01-01 as days since 1970-01-01


def table(rng: np.random.Generator, n: int, *, colours=(0.4, 0.3, 0.2, 0.1), start=DAY_2024, days=365) -> np.ndarray:
    """An encoded mixed table: a number, a category code, a date in days, a 0/1 flag; a few missing cells."""
    X = np.column_stack(
        [
            rng.normal(10.0, 2.0, n),
            rng.choice(len(colours), size=n, p=colours).astype(np.float64),
            start + rng.integers(0, days, n).astype(np.float64),
            rng.integers(0, 2, n).astype(np.float64),
        ]
    )
    X[rng.choice(n, n // 50, replace=False), 1] = np.nan  # missing categories
    X[rng.choice(n, n // 50, replace=False), 0] = np.nan  # missing numbers
    return np.asfortranarray(X)


@pytest.fixture(scope="module")
def reference() -> dict:
    return learn_reference(table(np.random.default_rng(0), 4000), NAMES, columns=SPECS)


def test_the_reference_stores_category_frequencies_and_the_date_range(reference: dict) -> None:
    size, colour, when, flag = reference["features"]
    assert json.loads(json.dumps(reference, allow_nan=False)) == reference  # JSON, no NaN from the missing cells
    assert colour["kind"] == "categorical" and colour["categories"] == list(COLOURS)
    assert len(colour["proportions"]) == len(COLOURS) + 1 and colour["proportions"][0] == 0.0  # no unseen in training
    assert colour["proportions"][1:] == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=0.03)
    assert when["kind"] == "datetime" and DAY_2024 <= when["min"] < when["max"] <= DAY_2024 + 364
    assert "kind" not in size and np.isfinite(size["mean"]) and size["mean"] == pytest.approx(10.0, abs=0.2)
    assert flag["kind"] == "boolean"


def test_an_all_numeric_reference_is_unchanged_by_the_specs() -> None:
    X = np.random.default_rng(3).normal(size=(500, 3))
    names = ["a", "b", "c"]
    assert learn_reference(X, names, columns=[ColumnSpec(n, "numeric") for n in names]) == learn_reference(X, names)


def test_the_same_kind_of_rows_does_not_drift(reference: dict) -> None:
    report = measure_drift(reference, table(np.random.default_rng(1), 2000))
    assert not report.drift_detected and report.drifted_features == []
    colour = next(f for f in report.features if f.feature == "colour")
    assert colour.kind == "categorical" and colour.test == "chi-square" and colour.unseen_share == 0.0
    when = next(f for f in report.features if f.feature == "when")
    assert when.kind == "datetime" and when.outside_share == 0.0


def test_changed_category_frequencies_drift(reference: dict) -> None:
    report = measure_drift(reference, table(np.random.default_rng(2), 2000, colours=(0.1, 0.1, 0.2, 0.6)))
    assert report.drifted_features == ["colour"]
    colour = next(f for f in report.features if f.feature == "colour")
    assert colour.psi > 0.25 and colour.ks_pvalue < 0.01 and colour.batch_text.startswith("'grey' ")


def test_unseen_categories_are_counted_and_drift(reference: dict) -> None:
    X = table(np.random.default_rng(4), 1000)
    X[:200, 1] = UNKNOWN_CODE  # 20 % of the rows carry a colour the training split never had
    report = measure_drift(reference, X)
    colour = next(f for f in report.features if f.feature == "colour")
    assert colour.unseen_share == pytest.approx(200 / np.isfinite(X[:, 1]).sum())
    assert colour.drifted and report.drifted_features == ["colour"]
    row = next(r for r in drift_rows(report) if r["feature"] == "colour")
    assert row["kind"] == "categorical" and row["unseen / outside range"].endswith("unseen categories")


def test_a_few_unseen_categories_are_reported_without_drifting(reference: dict) -> None:
    X = table(np.random.default_rng(5), 2000)
    X[:2, 1] = UNKNOWN_CODE
    report = measure_drift(reference, X)
    colour = next(f for f in report.features if f.feature == "colour")
    assert colour.unseen_share == pytest.approx(2 / np.isfinite(X[:, 1]).sum()) and not colour.drifted


def test_dates_after_the_training_range_drift_with_their_share_and_shift(reference: dict) -> None:
    X = table(np.random.default_rng(6), 1000, start=DAY_2024 + 365 + 180, days=30)  # mid 2025, a month of dates
    report = measure_drift(reference, X)
    when = next(f for f in report.features if f.feature == "when")
    assert when.outside_share == 1.0 and when.drifted and report.drifted_features == ["when"]
    assert when.reference_text.startswith("2024-01") and when.batch_text.startswith("2025-06")
    assert "days" in when.batch_text and when.batch_mean - when.reference_mean > 300


def test_some_dates_outside_the_range_are_their_share(reference: dict) -> None:
    X = table(np.random.default_rng(7), 1000)
    X[:100, 2] = DAY_2024 - 10  # ten days before the training range
    report = measure_drift(reference, X)
    when = next(f for f in report.features if f.feature == "when")
    assert when.outside_share == pytest.approx(0.1)


def test_the_drift_event_names_unseen_categories_and_dates_outside_the_range(reference: dict) -> None:
    X = table(np.random.default_rng(8), 1000, start=DAY_2024 + 400)
    X[:300, 1] = UNKNOWN_CODE
    report = measure_drift(reference, X)
    assert report.drift_detected
    payload = drift_event("shop", "v3", "batch: new.csv", report)["payload"]
    assert set(payload["drifted_features"]) == {"colour", "when"}
    assert payload["unseen_categories"]["colour"] == pytest.approx(300 / np.isfinite(X[:, 1]).sum(), abs=1e-4)
    assert payload["dates_outside_range"] == {"when": pytest.approx(1.0)}


def test_chunks_and_one_batch_measure_the_same(reference: dict) -> None:
    X = table(np.random.default_rng(9), 3000, start=DAY_2024 + 200)
    X[::7, 1] = UNKNOWN_CODE
    whole = measure_drift(reference, X)
    accumulator = DriftAccumulator(reference, sample_rows=3000)
    for start in range(0, 3000, 700):
        accumulator.add(X[start : start + 700])
    chunked = accumulator.report()
    for one, other in zip(whole.features, chunked.features, strict=True):
        assert one.psi == pytest.approx(other.psi) and one.unseen_share == other.unseen_share
        assert one.outside_share == other.outside_share and one.batch_text == other.batch_text


def test_a_column_of_only_missing_cells_does_not_drift(reference: dict) -> None:
    X = table(np.random.default_rng(10), 500)
    X[:, 1] = np.nan
    X[:, 2] = np.nan
    report = measure_drift(reference, X)
    assert report.drifted_features == []


@pytest.mark.parametrize(
    ("days", "has_time", "text"),
    [(0.0, False, "1970-01-01"), (DAY_2024, False, "2024-01-01"), (DAY_2024 + 0.75, True, "2024-01-01 18:00")],
)
def test_date_text(days: float, has_time: bool, text: str) -> None:
    assert date_text(days, has_time) == text


def test_specs_naming_no_feature_are_an_error() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        learn_reference(np.zeros((3, 1)), ["a"], columns=[ColumnSpec("nope", "numeric")])


class _Sink:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def send(self, event: dict) -> None:
        self.events.append(event)


def test_online_drift_of_served_rows_names_unseen_categories_and_dates_in_the_same_event(reference: dict) -> None:
    """The service's drift worker on the encoded rows of a mixed table: one window, one event, both kinds named."""
    from mlops_pipeline.serving.config import OnlineDriftConfig
    from mlops_pipeline.serving.model import ServedModel
    from mlops_pipeline.serving.online_drift import SOURCE, OnlineDrift

    from mlops_pipeline.contract import learn_contract

    X_train = table(np.random.default_rng(11), 400)
    contract = learn_contract(X_train, np.zeros(400), NAMES, problem="regression", target="y")
    served = ServedModel("shop", "v2", "ab" * 32, object(), contract, reference)
    sink = _Sink()
    drift = OnlineDrift(OnlineDriftConfig(every_rows=500), sink)
    rows = table(np.random.default_rng(12), 500, start=DAY_2024 + 500)
    rows[:150, 1] = UNKNOWN_CODE
    for start in range(0, 500, 50):  # requests of 50 rows
        drift.observe(served, rows[start : start + 50])
    drift.tick()
    assert drift.last_report is not None and drift.last_report["drift"] is True
    assert set(drift.last_report["unseen_categories"]) == {"colour"}
    assert drift.last_report["dates_outside_range"] == {"when": 1.0}
    [event] = sink.events
    assert event["payload"]["source"] == SOURCE and set(event["payload"]["drifted_features"]) == {"colour", "when"}
    assert event["payload"]["unseen_categories"]["colour"] > 0.25


def test_bin_counts_by_code_and_by_edge_match_the_sorted_search(reference: dict) -> None:
    """Category codes are counted by one bincount and other columns edge by edge, NaN/inf left out: the same
    counts as `searchsorted` over the finite values, including non-whole or out-of-range codes."""
    from mlops_pipeline.drift import _bin_counts

    rng = np.random.default_rng(11)
    chunks = [table(rng, 300), table(rng, 300), table(rng, 300)]
    chunks[1][:, 1] = rng.integers(-3, 7, 300)  # codes past both ends of the categories
    chunks[2][5, 1], chunks[2][6, 0], chunks[2][7, 2] = 1.5, np.inf, -np.inf  # a non-whole code, infinities
    accumulator = DriftAccumulator(reference, sample_rows=100)
    for chunk in chunks:
        accumulator.add(chunk)
    whole = np.vstack(chunks)
    assert accumulator.code_bins == [False, True, False, False]
    for index, feature in enumerate(reference["features"]):
        column = whole[:, index][np.isfinite(whole[:, index])]
        np.testing.assert_array_equal(accumulator.counts[index], _bin_counts(column, np.asarray(feature["edges"])))
        assert accumulator.finite[index] == column.size
