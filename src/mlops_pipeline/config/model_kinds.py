"""The model kinds: one config class per kind, its hyperparameters as typed, documented keys.

Adding a kind is adding its class here, a member of the `ModelConfig` union and its line in `MODEL_PROBLEM` (a
kind that solves one problem) or `EITHER_PROBLEM` (a kind that is a classifier or a regressor, decided by its
`problem` key or the run: see `model_section.py`); `mlops_pipeline.estimators` builds the estimator for it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from mlops_pipeline.config.base import Section
from mlops_pipeline.config.problems import ProblemKind


class LogisticRegressionConfig(Section):
    """Multinomial logistic regression; C, solver and max_iter are the seeds' `config.json` keys."""

    kind: Literal["logistic_regression"] = "logistic_regression"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    solver: Literal["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"] = "lbfgs"
    max_iter: int = Field(1000, ge=1)
    standardize: bool = Field(True, description="Put a StandardScaler in front of the model.")


class LinearRegressionConfig(Section):
    """Ordinary least squares."""

    kind: Literal["linear_regression"] = "linear_regression"
    fit_intercept: bool = True
    standardize: bool = False


class RidgeConfig(Section):
    """L2-regularised least squares."""

    kind: Literal["ridge"] = "ridge"
    alpha: float = Field(1.0, ge=0.0)
    standardize: bool = True


class LinearSVMConfig(Section):
    """Linear support-vector classifier (scikit-learn's LinearSVC, one-vs-rest)."""

    kind: Literal["linear_svm"] = "linear_svm"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    loss: Literal["hinge", "squared_hinge"] = "squared_hinge"
    max_iter: int = Field(2000, ge=1)
    standardize: bool = True


class LinearSVRConfig(Section):
    """Linear support-vector regression (scikit-learn's LinearSVR)."""

    kind: Literal["linear_svr"] = "linear_svr"
    C: float = Field(1.0, gt=0.0, description="Inverse regularisation strength.")
    epsilon: float = Field(0.0, ge=0.0, description="Width of the insensitive tube, in target units.")
    # squared loss by default: with the plain epsilon-insensitive loss the solver needs far more iterations on
    # unscaled targets such as diabetes (R² 0.28 vs 0.45 at C=1).
    loss: Literal["epsilon_insensitive", "squared_epsilon_insensitive"] = "squared_epsilon_insensitive"
    max_iter: int = Field(2000, ge=1)
    standardize: bool = True


LayerWidth = Annotated[int, Field(ge=1, le=1024)]


class _MLPFields(Section):
    hidden_layer_sizes: list[LayerWidth] = Field(
        default_factory=lambda: [64],
        min_length=1,
        max_length=4,
        description="Width of each hidden layer (1 to 4 layers of 1 to 1024 units): a small MLP.",
    )
    activation: Literal["relu", "tanh", "logistic", "identity"] = "relu"
    solver: Literal["adam", "lbfgs", "sgd"] = "adam"
    alpha: float = Field(1e-4, ge=0.0, description="L2 penalty.")
    learning_rate_init: float = Field(1e-3, gt=0.0, le=1.0)
    max_iter: int = Field(300, ge=1, description="Epochs (adam, sgd) or iterations (lbfgs).")
    early_stopping: bool = Field(
        False, description="Stop when a 10% slice of the training rows stops improving (seeded)."
    )
    standardize: bool = True


class MLPClassifierConfig(_MLPFields):
    """A small multi-layer perceptron classifier."""

    kind: Literal["mlp_classifier"] = "mlp_classifier"


class MLPRegressorConfig(_MLPFields):
    """A small multi-layer perceptron regressor."""

    kind: Literal["mlp_regressor"] = "mlp_regressor"
    learning_rate_init: float = Field(1e-2, gt=0.0, le=1.0)
    max_iter: int = Field(2000, ge=1, description="Epochs (adam, sgd) or iterations (lbfgs).")


Preprocessing = Literal["one_hot", "native", "ordinal"]


class _EitherProblem(Section):
    problem: ProblemKind | None = Field(
        None,
        description="classification or regression; unset: the run's problem (the other candidates' kinds, else "
        "the gate's metrics: r2/rmse mean regression, else classification).",
    )


class HistGradientBoostingConfig(_EitherProblem):
    """Histogram gradient boosting (scikit-learn's HistGradientBoostingClassifier / Regressor): categories and
    missing values handled natively, no one-hot encoding."""

    kind: Literal["hist_gradient_boosting"] = "hist_gradient_boosting"
    learning_rate: float = Field(0.1, gt=0.0, le=1.0, description="Shrinkage of each tree's contribution.")
    max_iter: int = Field(100, ge=1, le=10_000, description="Boosting iterations (trees per class).")
    max_leaf_nodes: int | None = Field(31, ge=2, description="Leaves per tree (None: no limit).")
    max_depth: int | None = Field(None, ge=1, description="Depth of each tree (None: no limit).")
    min_samples_leaf: int = Field(20, ge=1, description="Fewest training rows in a leaf.")
    l2_regularization: float = Field(0.0, ge=0.0, description="L2 penalty on leaf values.")
    max_bins: int = Field(255, ge=2, le=255, description="Bins per feature (besides the one for missing values).")
    early_stopping: Literal["auto"] | bool = Field(
        "auto", description="Stop on a seeded 10% validation slice of the training rows (auto: above 10,000 rows)."
    )


class _ForestFields(_EitherProblem):
    n_estimators: int = Field(100, ge=1, le=10_000, description="Trees in the forest.")
    max_depth: int | None = Field(None, ge=1, description="Depth of each tree (None: grown until leaves are pure).")
    min_samples_split: int = Field(2, ge=2, description="Fewest rows a node needs to be split.")
    min_samples_leaf: int = Field(1, ge=1, description="Fewest training rows in a leaf.")
    max_features: Literal["sqrt", "log2", "all"] | Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None,
        description="Features tried per split: sqrt, log2, all, or a fraction; unset: scikit-learn's default for "
        "the problem (sqrt for classification, all for regression).",
    )
    n_jobs: int | None = Field(
        None, description="Threads to fit and predict with (None: one; -1: every core); the result is the same."
    )


class RandomForestConfig(_ForestFields):
    """A random forest (scikit-learn's RandomForestClassifier / Regressor); codes of categories are numbers."""

    kind: Literal["random_forest"] = "random_forest"
    bootstrap: bool = Field(True, description="Each tree sees a seeded bootstrap sample of the rows.")


class ExtraTreesConfig(_ForestFields):
    """Extremely randomised trees (scikit-learn's ExtraTreesClassifier / Regressor): random split points."""

    kind: Literal["extra_trees"] = "extra_trees"
    bootstrap: bool = Field(False, description="Each tree sees a seeded bootstrap sample of the rows.")


FACTORY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class CustomModelConfig(_EitherProblem):
    """Your own estimator: `factory` names a function that returns an unfitted scikit-learn estimator.

    The pipeline calls it with `params` at the start of every run (a factory that cannot be imported, raises, or
    returns something unusable fails the run before anything is trained), puts the preprocessing in front,
    clones it, seeds every `random_state` left unset, and gates it like any other model. Workers need the module
    installed (docs/custom-models.md).
    """

    kind: Literal["custom"] = "custom"
    factory: str = Field(
        ...,
        description="'package.module:function', importable where the run executes (installed, not a file path).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the factory.")
    preprocessing: Preprocessing = Field(
        "one_hot",
        description="Features in front of the estimator: one_hot (categories one-hot, missing values imputed, "
        "scaled), native (category codes as categorical features, NaN kept: HistGradientBoosting), ordinal "
        "(category codes as numbers, NaN kept: trees).",
    )
    standardize: bool = Field(True, description="Scale numeric features before the estimator (one_hot only).")
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Types besides the pipeline's own that batch scoring and the service may load from the "
        "model's skops file (when it cannot be quantized), e.g. mypackage.models.MyEstimator.",
    )

    @field_validator("factory")
    @classmethod
    def _factory_path(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError(f"'{value}' has no ':'; write 'package.module:function'")
        if not re.match(FACTORY_PATTERN, value):
            raise ValueError(f"'{value}' is not 'package.module:function' (dotted module, ':', function name)")
        return value


ModelConfig = Annotated[
    LogisticRegressionConfig
    | LinearRegressionConfig
    | RidgeConfig
    | LinearSVMConfig
    | LinearSVRConfig
    | MLPClassifierConfig
    | MLPRegressorConfig
    | HistGradientBoostingConfig
    | RandomForestConfig
    | ExtraTreesConfig
    | CustomModelConfig,
    Field(discriminator="kind"),
]

# Which problem each kind solves: candidates of one run must agree, and it picks the primary metric.
MODEL_PROBLEM: dict[str, ProblemKind] = {
    "logistic_regression": "classification",
    "linear_regression": "regression",
    "ridge": "regression",
    "linear_svm": "classification",
    "linear_svr": "regression",
    "mlp_classifier": "classification",
    "mlp_regressor": "regression",
}
# Kinds that are a classifier or a regressor, by their `problem` key or the run's problem.
EITHER_PROBLEM: frozenset[str] = frozenset({"hist_gradient_boosting", "random_forest", "extra_trees", "custom"})


def candidate_problem(config: ModelConfig) -> ProblemKind | None:
    """The problem this candidate fixes: its kind's, or its `problem` key; None when the run decides."""
    if config.kind in MODEL_PROBLEM:
        return MODEL_PROBLEM[config.kind]
    return getattr(config, "problem", None)
