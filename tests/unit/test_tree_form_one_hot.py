"""The tree form of a custom model whose `preprocessing` is `one_hot` (the default for `kind: custom`): trees behind
one-hot steps, which scale their outputs. The file stores the one_hot block with the scaling folded into the
numeric bin edges (found by the cars end-to-end test: such a model failed its run with "feature steps give 11
inputs, the trees take 13", the block packed as `ordinal` from the tree type)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline
from table_support import SPECS, mixed_table, with_unseen_categories

from mlops_pipeline.features import TableEncoder, feature_steps
from mlops_pipeline.quantize import QuantizedTrees, model_from_bytes
from mlops_pipeline.quantize._format import read_model_file


def _one_hot_model(model: Any, regression: bool = False) -> tuple[Pipeline, np.ndarray, np.ndarray]:
    pipeline = Pipeline(
        [
            ("table", TableEncoder(columns=[spec.to_dict() for spec in SPECS])),
            ("features", feature_steps(SPECS, "one_hot")),
            ("model", model),
        ]
    )
    X_table, y = mixed_table(3000, regression=regression)
    pipeline.fit(X_table[:2000], y[:2000])
    return pipeline, X_table[:2000], with_unseen_categories(X_table[2000:])


@pytest.mark.parametrize(
    "model",
    [
        ExtraTreesClassifier(n_estimators=20, random_state=0),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    ],
    ids=["extra_trees", "hist_gradient_boosting"],
)
def test_trees_behind_one_hot_steps_get_the_tree_form_with_their_block(model: Any) -> None:
    pipeline, X_train, rows = _one_hot_model(model)
    data = QuantizedTrees(pipeline).fit(X_train).to_bytes()
    restored = model_from_bytes(data, "custom.npz")
    assert isinstance(restored, QuantizedTrees) and restored.features_ is not None
    assert restored.features_.family == "one_hot" and restored.n_features_in_ == rows.shape[1]
    assert read_model_file(data, "x")[0]["features"]["family"] == "one_hot"
    expected = pipeline.predict(rows)
    if isinstance(model, HistGradientBoostingClassifier):  # the model's own bins, rescaled: the same labels
        np.testing.assert_array_equal(restored.predict(rows), expected)
    else:  # thresholds snapped to at most 255 bins per feature
        assert np.mean(restored.predict(rows) == expected) >= 0.95


def test_a_one_hot_forest_regressor_stays_close_to_its_pipeline() -> None:
    pipeline, X_train, rows = _one_hot_model(RandomForestRegressor(n_estimators=10, random_state=0), regression=True)
    restored = model_from_bytes(QuantizedTrees(pipeline).fit(X_train).to_bytes())
    expected = pipeline.predict(rows)
    # snapping moves a fully grown forest's answers as much as behind `ordinal` steps (0.956 within 0.1 std there)
    close = np.abs(restored.predict(rows) - expected) <= 0.1 * np.std(expected)
    assert np.mean(close) >= 0.95
