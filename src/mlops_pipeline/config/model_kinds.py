"""The model kinds: one config class per kind, its hyperparameters as typed, documented keys.

Adding a kind is adding its class here, a member of the `ModelConfig` union and its line in `MODEL_PROBLEM`
(all in this module); `train.py` builds the estimator for it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

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


ModelConfig = Annotated[
    LogisticRegressionConfig
    | LinearRegressionConfig
    | RidgeConfig
    | LinearSVMConfig
    | LinearSVRConfig
    | MLPClassifierConfig
    | MLPRegressorConfig,
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
