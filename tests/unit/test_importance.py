"""Permutation importance per input column, and its plot."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from mlops_pipeline.importance import PLOTTED, feature_importance
from mlops_pipeline.plots import importance_svg

SVG = "{http://www.w3.org/2000/svg}"


def _table(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (2 * X[:, 2] - X[:, 0] > 0).astype(int)  # column c decides most, a a little, b and d nothing


def test_the_column_the_target_depends_on_ranks_first_and_noise_columns_last() -> None:
    X, y = _table()
    model = LogisticRegression().fit(X, y)
    result = feature_importance(model, X, y, ["a", "b", "c", "d"], "classification", seed=0)
    assert [r["feature"] for r in result.rows][:2] == ["c", "a"]
    assert {r["feature"] for r in result.rows[2:]} == {"b", "d"}
    assert result.rows[0]["importance"] > 0.2 and abs(result.rows[-1]["importance"]) < 0.02
    assert [r["rank"] for r in result.rows] == [1, 2, 3, 4]
    assert (result.metric, result.n_rows, result.n_repeats) == ("accuracy", 400, 3)


def test_it_is_seeded_and_samples_at_most_max_rows() -> None:
    X, y = _table(n=600)
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y.astype(float))
    first = feature_importance(model, X, y.astype(float), list("abcd"), "regression", seed=3, max_rows=200)
    again = feature_importance(model, X, y.astype(float), list("abcd"), "regression", seed=3, max_rows=200)
    assert first == again
    assert (first.metric, first.n_rows) == ("r2", 200)


def test_names_must_match_the_columns() -> None:
    X, y = _table()
    with pytest.raises(ValueError, match="4 columns but 3 feature names"):
        feature_importance(LogisticRegression().fit(X, y), X, y, ["a", "b", "c"], "classification", seed=0)


def test_the_plot_has_one_bar_per_shown_column_and_is_well_formed() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 30))
    y = (X[:, 0] > 0).astype(int)
    result = feature_importance(LogisticRegression().fit(X, y), X, y, [f"x{i}" for i in range(30)], "classification", 0)
    svg = result.svg("model")
    root = ET.fromstring(svg)
    bars = [r for r in root.findall(f".//{SVG}rect") if r.get("fill") != "white"]
    assert len(bars) == PLOTTED
    assert "top 20 of 30" in svg and ">x0<" in svg
    # a negative importance (shuffling helped by chance) draws left of zero, not as a negative width
    tiny = importance_svg(["a", "b"], [0.1, -0.02], [0.01, 0.01], "t")
    assert all(float(r.get("width", "1")) > 0 for r in ET.fromstring(tiny).findall(f".//{SVG}rect"))
    with pytest.raises(ValueError, match="need as many names"):
        importance_svg(["a"], [0.1, 0.2], [0.0, 0.0], "t")


def test_it_agrees_with_scikit_learns_permutation_importance_and_caps_rows_on_wide_tables() -> None:
    from sklearn.inspection import permutation_importance

    X, y = _table(n=300)
    model = LogisticRegression().fit(X, y)
    ours = feature_importance(model, X, y, list("abcd"), "classification", seed=0, n_repeats=20)
    theirs = permutation_importance(model, X, y, scoring="accuracy", n_repeats=20, random_state=0)
    by_name = {r["feature"]: r["importance"] for r in ours.rows}
    assert np.allclose([by_name[c] for c in "abcd"], theirs.importances_mean, atol=0.02)
    wide = np.random.default_rng(0).normal(size=(3000, 200))
    labels = (wide[:, 0] > 0).astype(int)
    capped = feature_importance(
        LogisticRegression().fit(wide, labels), wide, labels, [str(i) for i in range(200)], "classification", seed=0
    )
    assert capped.n_rows == 100  # 60,000 predicted rows / (200 columns x 3 repeats)
    assert capped.rows[0]["feature"] == "0"
