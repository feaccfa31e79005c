"""QuantizedModel and scikit-learn's estimator contract: tags, clone of a prefit model, and the estimator checks.

Prefit semantics (documented on the class, as scikit-learn's FrozenEstimator): the wrapped estimator is already
fitted and is never refit; `fit(X)` only quantizes it with X as calibration rows. Checks that fit on data of
their own making therefore fail by design; each is listed below with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlops_pipeline.quantize import QuantizedModel

N_FEATURES = 4
_rng = np.random.default_rng(0)
X = _rng.normal(size=(60, N_FEATURES))
Y_CLASS = (X[:, 0] > 0).astype(int)
Y_REG = X[:, 0] + 0.1 * X[:, 1]


def _classifier() -> QuantizedModel:
    return QuantizedModel(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y_CLASS))


def _regressor() -> QuantizedModel:
    return QuantizedModel(Ridge().fit(X, Y_REG))


PREFIT = (
    f"prefit: the wrapped model was fit on {N_FEATURES} features and fit() never refits it, so fitting on "
    "the check's own data of another width raises"
)
Y_IGNORED = "prefit: fit() ignores y (it only quantizes), so a bad y raises nothing"

COMMON_EXPECTED_FAILURES = {
    "check_estimator_sparse_tag": "dense input only, and fit on the check's data raises the prefit width error",
    "check_estimator_sparse_array": "dense input only: the error for sparse input does not say 'sparse'",
    "check_estimator_sparse_matrix": "dense input only: the error for sparse input does not say 'sparse'",
    "check_estimators_pickle": PREFIT,
    "check_f_contiguous_array_estimator": PREFIT,
    "check_supervised_y_2d": PREFIT,
    "check_methods_sample_order_invariance": PREFIT,
    "check_methods_subset_invariance": PREFIT,
    "check_fit2d_1sample": PREFIT,
    "check_fit2d_1feature": PREFIT,
    "check_dict_unchanged": PREFIT,
    "check_fit_idempotent": PREFIT,
    "check_fit_check_is_fitted": PREFIT,
    "check_n_features_in": PREFIT,
    "check_fit2d_predict1d": PREFIT,
    "check_fit_score_takes_y": PREFIT,
    "check_estimators_overwrite_params": PREFIT,
    "check_dont_overwrite_parameters": PREFIT,
    "check_estimators_fit_returns_self": PREFIT,
    "check_readonly_memmap_input": PREFIT,
    "check_estimators_dtypes": PREFIT,
    "check_complex_data": PREFIT,
    "check_dtype_object": PREFIT,
    "check_estimators_empty_data_messages": PREFIT,
    "check_pipeline_consistency": PREFIT,
    "check_n_features_in_after_fitting": "a wrong width raises ModelInputError naming the expected features, "
    "not scikit-learn's 'X has N features' wording",
    "check_estimators_nan_inf": "fit does not reject NaN/inf calibration rows (predict does, naming the row)",
}
CLASSIFIER_EXPECTED_FAILURES = {
    "check_classifier_data_not_an_array": PREFIT,
    "check_classifiers_classes": PREFIT,
    "check_classifiers_train": PREFIT,
    "check_decision_proba_consistency": PREFIT,
    "check_classifiers_one_label": Y_IGNORED,
    "check_classifiers_regression_target": Y_IGNORED,
}
REGRESSOR_EXPECTED_FAILURES = {
    "check_regressors_train": PREFIT,
    "check_regressor_data_not_an_array": PREFIT,
    "check_regressors_int": PREFIT,
}


def expected_failures(estimator: Any) -> dict[str, str]:
    extra = CLASSIFIER_EXPECTED_FAILURES if is_classifier(estimator) else REGRESSOR_EXPECTED_FAILURES
    return {**COMMON_EXPECTED_FAILURES, **extra}


@parametrize_with_checks([_classifier(), _regressor()], expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator: QuantizedModel, check: Any) -> None:
    check(estimator)


def test_tags_follow_the_wrapped_model() -> None:
    classifier, regressor = _classifier().fit(X), _regressor().fit(X)
    assert (is_classifier(classifier), is_regressor(classifier)) == (True, False)
    assert (is_classifier(regressor), is_regressor(regressor)) == (False, True)
    restored = QuantizedModel.from_bytes(classifier.to_bytes())  # no wrapped model: the stored problem type
    assert (is_classifier(restored), is_regressor(restored)) == (True, False)


def test_clone_keeps_the_prefit_model_and_drops_the_quantization() -> None:
    model = _classifier().fit(X)
    copy = clone(model)
    assert copy.estimator is model.estimator
    assert not hasattr(copy, "layers_")
    np.testing.assert_array_equal(copy.fit(X).predict(X), model.predict(X))


@pytest.mark.parametrize("make", [_classifier, _regressor])
def test_fit_never_refits_the_wrapped_model(make: Any) -> None:
    model = make()
    coefficients = np.copy(model.estimator[-1].coef_ if hasattr(model.estimator, "steps") else model.estimator.coef_)
    model.fit(X[::-1])
    after = model.estimator[-1].coef_ if hasattr(model.estimator, "steps") else model.estimator.coef_
    np.testing.assert_array_equal(after, coefficients)


def test_the_estimator_package_imports_no_pipeline_module() -> None:
    """The reusable estimator knows nothing of the pipeline: its config, training, data or gate modules."""
    code = (
        "import sys; import mlops_pipeline.quantize; "
        "print(sorted(m for m in sys.modules if m.startswith('mlops_pipeline.') "
        "and not m.startswith('mlops_pipeline.quantize')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
