"""The estimator of each model kind, your own factory's, and which estimators have a quantized form.

`final_estimator(config, seed, problem)` is the model step of the pipeline `train.build_estimator` builds (the
preprocessing goes in front of it there). A `custom` kind's factory is imported by its `package.module:function`
path and called with its params; `check_model_factories` does that for every custom candidate at the start of a
run, so a factory that cannot be imported, raises, or returns something unusable fails the run before anything is
trained or stored, with a message naming the factory. No Prefect here.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any, Literal

from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.utils.validation import check_is_fitted

from mlops_pipeline.config import ConfigError, CustomModelConfig, ModelConfig, PipelineConfig, ProblemKind

QuantizedFamily = Literal["affine", "trees"]

# Final steps the int8 affine form reads (quantize/_extract.py): weights and biases whose outputs are the
# prediction's (no link function), and small MLPs.
AFFINE_TYPES: tuple[type, ...] = (
    LogisticRegression,
    LinearRegression,
    Ridge,
    RidgeClassifier,
    Lasso,
    ElasticNet,
    SGDClassifier,
    SGDRegressor,
    LinearSVC,
    LinearSVR,
    MLPClassifier,
    MLPRegressor,
)
TREE_TYPES: tuple[type, ...] = (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)
# The families the quantize step builds: int8 affine layers and the tree form (bins and nodes, quantize._format_trees).
BUILT_FAMILIES: frozenset[str] = frozenset({"affine", "trees"})


class FactoryError(ConfigError):
    """A custom model's factory cannot be used: the message names the factory and what is wrong."""


def final_estimator(config: ModelConfig, seed: int, problem: ProblemKind) -> BaseEstimator:
    """The unfitted model of one candidate, seeded wherever it takes a `random_state`.

    `problem` picks the classifier or the regressor of kinds that can be either (hist_gradient_boosting,
    random_forest, extra_trees, custom); the kinds that solve one problem ignore it.
    """
    classify = problem == "classification"
    match config.kind:
        case "logistic_regression":
            return LogisticRegression(C=config.C, solver=config.solver, max_iter=config.max_iter, random_state=seed)
        case "linear_regression":
            return LinearRegression(fit_intercept=config.fit_intercept)
        case "ridge":
            return Ridge(alpha=config.alpha, random_state=seed)
        case "linear_svm":
            return LinearSVC(C=config.C, loss=config.loss, max_iter=config.max_iter, random_state=seed)
        case "linear_svr":
            return LinearSVR(
                C=config.C, epsilon=config.epsilon, loss=config.loss, max_iter=config.max_iter, random_state=seed
            )
        case "mlp_classifier" | "mlp_regressor":
            mlp = MLPClassifier if config.kind == "mlp_classifier" else MLPRegressor
            return mlp(
                hidden_layer_sizes=tuple(config.hidden_layer_sizes),
                activation=config.activation,
                solver=config.solver,
                alpha=config.alpha,
                learning_rate_init=config.learning_rate_init,
                max_iter=config.max_iter,
                early_stopping=config.early_stopping,
                random_state=seed,
            )
        case "hist_gradient_boosting":
            # categorical_features stays scikit-learn's default: the table's preprocessing marks the category columns
            hgb = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
            return hgb(
                learning_rate=config.learning_rate,
                max_iter=config.max_iter,
                max_leaf_nodes=config.max_leaf_nodes,
                max_depth=config.max_depth,
                min_samples_leaf=config.min_samples_leaf,
                l2_regularization=config.l2_regularization,
                max_bins=config.max_bins,
                early_stopping=config.early_stopping,
                random_state=seed,
            )
        case "random_forest" | "extra_trees":
            forests = {
                "random_forest": (RandomForestClassifier, RandomForestRegressor),
                "extra_trees": (ExtraTreesClassifier, ExtraTreesRegressor),
            }
            forest = forests[config.kind][0 if classify else 1]
            settings: dict[str, Any] = {}
            if config.max_features is not None:  # unset: scikit-learn's default for the problem
                settings["max_features"] = 1.0 if config.max_features == "all" else config.max_features
            return forest(
                n_estimators=config.n_estimators,
                max_depth=config.max_depth,
                min_samples_split=config.min_samples_split,
                min_samples_leaf=config.min_samples_leaf,
                bootstrap=config.bootstrap,
                n_jobs=config.n_jobs,
                random_state=seed,
                **settings,
            )
        case "custom":
            return custom_estimator(config, seed, problem)
        case other:  # pragma: no cover - the config model rejects unknown kinds
            raise ValueError(f"model.kind '{other}' has no estimator")


# ---- your own estimator ---------------------------------------------------------------------------------------
def load_factory(path: str, key: str = "model.factory") -> Callable[..., Any]:
    """The function `package.module:function` names, imported (FactoryError naming it when that fails)."""
    module_name, colon, function_name = path.partition(":")
    if not colon or not module_name or not function_name:
        raise FactoryError(f"{key} '{path}': write 'package.module:function' (the module path, ':', the function)")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module raising while it is imported
        raise FactoryError(
            f"{key} '{path}': cannot import module '{module_name}' ({type(exc).__name__}: {exc}); the module must "
            "be installed where the run executes, on every worker (docs/custom-models.md)"
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        raise FactoryError(f"{key} '{path}': module '{module_name}' has no '{function_name}'")
    if not callable(function):
        raise FactoryError(f"{key} '{path}': '{function_name}' is a {type(function).__name__}, not a function")
    return function


def _check_params(function: Callable[..., Any], config: CustomModelConfig, key: str) -> None:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature: let the call say what it takes
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(config.params) - set(valid))
    if unknown:
        raise FactoryError(
            f"{key.removesuffix('factory')}params.{unknown[0]}: not a parameter of factory '{config.factory}' "
            f"(its parameters: {', '.join(valid) or 'none'})"
        )


def _estimator_type(estimator: Any) -> str:
    return "classifier" if is_classifier(estimator) else "regressor" if is_regressor(estimator) else "neither"


def check_factory_estimator(estimator: Any, factory: str, problem: ProblemKind, key: str = "model.factory") -> None:
    """Raise FactoryError (naming the factory) unless `estimator` is an unfitted estimator for `problem`."""
    where = f"{key} '{factory}'"
    missing = [m for m in ("fit", "predict", "get_params", "set_params") if not callable(getattr(estimator, m, None))]
    if missing:
        raise FactoryError(
            f"{where} returned a {type(estimator).__name__}, not a scikit-learn estimator (no {', '.join(missing)})"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        pass
    except (TypeError, ValueError, AttributeError):
        pass  # not something check_is_fitted can tell about: the fitted-attribute rule below is all there is
    else:
        raise FactoryError(
            f"{where} returned a fitted {type(estimator).__name__}; return it unfitted (the pipeline fits it on the "
            "training split, after its preprocessing)"
        )
    wanted = "classifier" if problem == "classification" else "regressor"
    found = _estimator_type(estimator)
    if found != wanted:
        what = "neither a classifier nor a regressor" if found == "neither" else f"a {found}"
        raise FactoryError(
            f"{where} returned a {type(estimator).__name__}, which is {what}, but this run is {problem} and needs a "
            f"{wanted} (scikit-learn's is_{wanted}: ClassifierMixin / RegressorMixin before BaseEstimator in the "
            "bases; if the run's problem is wrong, set the candidate's `problem` key)"
        )
    try:
        clone(estimator)
    except Exception as exc:
        raise FactoryError(f"{where} returned an estimator scikit-learn cannot clone: {exc}") from None


def seed_estimator(estimator: Any, seed: int) -> Any:
    """Set every `random_state` left unset (None), nested ones included, to the run's seed; returns the estimator."""
    unset = {
        name: seed
        for name, value in estimator.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state")) and value is None
    }
    return estimator.set_params(**unset) if unset else estimator


def custom_estimator(config: CustomModelConfig, seed: int, problem: ProblemKind, key: str = "model.factory") -> Any:
    """Call the factory with its params, check what it returns, and give back a seeded clone (FactoryError)."""
    function = load_factory(config.factory, key)
    _check_params(function, config, key)
    try:
        estimator = function(**config.params)
    except Exception as exc:
        raise FactoryError(f"{key} '{config.factory}' raised {type(exc).__name__}: {exc}") from None
    check_factory_estimator(estimator, config.factory, problem, key)
    return seed_estimator(clone(estimator), seed)


def factory_source_digest(config: ModelConfig) -> str | None:
    """sha256 (16 hex) of a custom factory's module source, for cache keys: editing the module retrains. None for
    the built-in kinds (and for a module without a source file, e.g. compiled)."""
    if not isinstance(config, CustomModelConfig):
        return None
    spec = importlib.util.find_spec(config.factory.partition(":")[0])
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def check_model_factories(config: PipelineConfig) -> None:
    """At the start of a run: every custom candidate's factory gives a usable estimator, and a model that has no
    quantized form is not asked for one with `quantize.enabled: true` (FactoryError / ConfigError naming it)."""
    candidates = config.candidates
    for index, candidate in enumerate(candidates):
        prefix = "model" if len(candidates) == 1 else f"model.candidates[{index}]"
        if isinstance(candidate, CustomModelConfig):
            estimator = custom_estimator(candidate, 0, config.problem, f"{prefix}.factory")
        else:
            estimator = final_estimator(candidate, 0, config.problem)
        if config.quantize.enabled is True:
            ok, why = quantizable(estimator)
            if not ok:
                raise ConfigError(
                    f"quantize.enabled: true, but {prefix} ({candidate.kind}) has no quantized form: {why}; set "
                    "quantize.enabled to auto (store the float model as a skops file instead) or false"
                )


# ---- which estimators quantize ---------------------------------------------------------------------------------
def model_step(estimator: Any) -> Any:
    """The model of a pipeline built by `train.build_estimator` (its last step), or the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def quantized_family(estimator: Any) -> tuple[QuantizedFamily | None, str]:
    """Which quantized form the model step of `estimator` (fitted or not) has, and why (or why none)."""
    model = model_step(estimator)
    if isinstance(model, Pipeline):
        inner = [type(step).__name__ for _, step in model.steps]
        steps = " -> ".join(inner)
        return None, f"its factory returns a pipeline ({steps}); only a bare estimator gets a quantized form"
    name = type(model).__name__
    if isinstance(model, AFFINE_TYPES):
        return "affine", f"{name} is a linear model or an MLP: int8 affine layers"
    if isinstance(model, TREE_TYPES):
        return "trees", f"{name} is a tree ensemble: the tree form (bin edges, uint8 thresholds)"
    return None, f"{name} is neither a linear model, an MLP nor a tree ensemble"


def quantizable(estimator: Any) -> tuple[bool, str]:
    """(whether the model step of `estimator` has a quantized form, why): linear and MLP -> int8 affine layers,
    HistGradientBoosting / RandomForest / ExtraTrees -> the tree form, anything else -> no."""
    family, why = quantized_family(estimator)
    return family is not None, why


def buildable(estimator: Any) -> tuple[bool, str]:
    """Whether the quantize step can build the quantized form of `estimator` today, and why not."""
    family, why = quantized_family(estimator)
    if family is None:
        return False, why
    if family not in BUILT_FAMILIES:
        return False, f"not quantizable yet: {why} is not built by this version"
    return True, why


__all__ = [
    "AFFINE_TYPES",
    "BUILT_FAMILIES",
    "TREE_TYPES",
    "FactoryError",
    "buildable",
    "check_factory_estimator",
    "check_model_factories",
    "custom_estimator",
    "factory_source_digest",
    "final_estimator",
    "load_factory",
    "model_step",
    "quantizable",
    "quantized_family",
    "seed_estimator",
]
