"""The gate ratchet: a chain of candidates each slightly worse than the last cannot walk the champion down."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.gate import BestPassed, champion_check, ratchet_check
from mlops_pipeline.registry import FLOAT_MODEL_FILE, ModelStore

SPLIT = "split-fingerprint-a"


def _promote_chain(
    store: ModelStore, scores: list[float], *, ratchet: bool, tolerance: float = 0.005, split: str = SPLIT
) -> list[bool]:
    """Gate each score against the champion (and the ratchet); publish it; return whether each was promoted."""
    promoted = []
    for score in scores:
        metrics = {"accuracy": score}
        checks = []
        champion = store.champion()
        if champion is not None:
            checks.append(champion_check(metrics, store.card(champion)["metrics"], "accuracy", tolerance, champion))
        best = store.best_passed_metric("accuracy", split, lower_is_better=False)
        if ratchet and best is not None:
            checks.append(ratchet_check(metrics, BestPassed(*best), "accuracy", tolerance))
        ok = all(c.passed for c in checks)
        card = {"metrics": metrics, "data": {"fingerprint": split}}
        promoted.append(store.publish({FLOAT_MODEL_FILE: b"m"}, card, promote=ok).promoted)
    return promoted


def test_five_candidates_each_0_004_worse_promote_at_most_one(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "m")
    _promote_chain(store, [0.99], ratchet=True)
    chain = [0.99 - 0.004 * i for i in range(1, 6)]
    assert sum(_promote_chain(store, chain, ratchet=True)) <= 1
    assert store.card(store.champion())["metrics"]["accuracy"] >= 0.99 - 0.005


def test_without_the_ratchet_the_same_chain_walks_the_champion_down(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "m")
    _promote_chain(store, [0.99], ratchet=False)
    assert sum(_promote_chain(store, [0.99 - 0.004 * i for i in range(1, 6)], ratchet=False)) == 5


def test_best_is_per_held_out_data_definition_and_passed_versions_only(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "m")
    store.publish(
        {FLOAT_MODEL_FILE: b"m"}, {"metrics": {"accuracy": 0.99}, "data": {"fingerprint": "other"}}, promote=True
    )
    store.publish({FLOAT_MODEL_FILE: b"m"}, {"metrics": {"accuracy": 0.999}, "data": {"fingerprint": SPLIT}})
    store.publish(
        {FLOAT_MODEL_FILE: b"m"}, {"metrics": {"accuracy": 0.95}, "data": {"fingerprint": SPLIT}}, promote=True
    )
    assert store.best_passed_metric("accuracy", SPLIT, lower_is_better=False) == ("v3", 0.95)
    assert store.best_passed_metric("accuracy", "none", lower_is_better=False) is None


@pytest.mark.parametrize(
    ("metric", "measured", "passes"),
    [("accuracy", 0.985, True), ("accuracy", 0.984, False), ("rmse", 1.005, True), ("rmse", 1.006, False)],
)
def test_ratchet_check_bound_and_table_detail(metric: str, measured: float, passes: bool) -> None:
    best = BestPassed("v2", 0.99 if metric == "accuracy" else 1.0)
    check = ratchet_check({metric: measured}, best, metric, 0.005)
    assert check.passed is passes
    assert "best passed v2" in check.name and "ratchet" in check.name
    assert "same held-out data" in check.detail
