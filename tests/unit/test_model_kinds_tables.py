"""The tree kinds and a custom estimator on a mixed table: each gets its preprocessing family, and the skops form of
the whole table pipeline loads with the pipeline's own trusted types."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB
from table_support import COLOURS, SIZES, SPECS, mixed_table

from mlops_pipeline.config import CustomModelConfig, parse_config
from mlops_pipeline.estimators import quantized_family
from mlops_pipeline.skops_form import dump_skops, load_skops, trusted_types
from mlops_pipeline.train import fit_model


@pytest.mark.parametrize(
    ("model", "family", "categorical"),
    [
        ({"kind": "hist_gradient_boosting", "max_iter": 20}, "trees", True),
        ({"kind": "random_forest", "n_estimators": 10}, "trees", False),
        ({"kind": "extra_trees", "n_estimators": 10}, "trees", False),
    ],
)
def test_tree_kinds_fit_a_mixed_table_with_their_family(
    model: dict[str, object], family: str, categorical: bool
) -> None:
    X, y = mixed_table(600)
    [spec] = parse_config({"model": model}).candidates
    fitted = fit_model(X, y, spec, seed=0, columns=SPECS).estimator
    assert [name for name, _ in fitted.steps] == ["table", "features", "model"]
    assert quantized_family(fitted)[0] == family
    # HistGradientBoosting takes the category codes natively (the mask the table steps set); forests as numbers
    mask = getattr(fitted[-1], "categorical_features", None)
    assert (mask is not None and not isinstance(mask, str) and bool(np.any(mask))) is categorical
    assert np.mean(fitted.predict(X) == y) > 0.7
    restored = load_skops(dump_skops(fitted), trusted_types(), "test")  # the table steps are the pipeline's own
    assert np.array_equal(restored.predict(X), fitted.predict(X))


@pytest.mark.parametrize("preprocessing", ["one_hot", "ordinal", "native"])
def test_a_custom_model_gets_the_preprocessing_it_names(preprocessing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    module = types.ModuleType("custom_tables_factories")
    module.bayes = GaussianNB  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "custom_tables_factories", module)
    X, y = mixed_table(400)
    raw = {"kind": "custom", "factory": "custom_tables_factories:bayes", "preprocessing": preprocessing}
    [spec] = parse_config({"model": raw}).candidates
    assert isinstance(spec, CustomModelConfig)
    # GaussianNB takes no NaN: the ordinal and native families keep missing cells as NaN, so give them none
    rows = X if preprocessing == "one_hot" else np.nan_to_num(X, nan=0.0)
    fitted = fit_model(rows, y, spec, 0, SPECS, missing_cells=True).estimator
    assert [name for name, _ in fitted.steps] == ["table", "features", "model"]
    assert quantized_family(fitted)[0] is None  # kept as skops, with the table steps trusted as the pipeline's own
    restored = load_skops(dump_skops(fitted), trusted_types(), "test")
    assert np.array_equal(restored.predict(rows), fitted.predict(rows))
    one_hot_width = len(SPECS) + len(COLOURS) + len(SIZES)  # categories get a column each (or share one)
    width = fitted[:-1].transform(rows[:5]).shape[1]
    assert (width >= one_hot_width) if preprocessing == "one_hot" else (width < one_hot_width)
