"""The `model` section: one model, or several candidates compared on a validation split."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from mlops_pipeline.config.base import Section
from mlops_pipeline.config.model_kinds import (
    EITHER_PROBLEM,
    LogisticRegressionConfig,
    ModelConfig,
    candidate_problem,
)
from mlops_pipeline.config.problems import ProblemKind

# Keys of the model section that are about choosing between candidates, not about one model.
SELECTION_KEYS: frozenset[str] = frozenset({"validation_size", "cv_folds", "refit"})


def _with_default_kind(candidate: Any) -> Any:
    # The seeds' config.json had only C/solver/max_iter: a model without `kind` is logistic regression.
    if isinstance(candidate, dict) and "kind" not in candidate:
        return {"kind": "logistic_regression", **candidate}
    return candidate


def _default_candidates() -> list[ModelConfig]:
    return [LogisticRegressionConfig()]


class ModelSection(Section):
    """The model to train: one model, or several candidates compared on a validation split.

    The single form (`model: {kind: ridge, alpha: 1.0}`) is one candidate; `model: {candidates: [...]}` lists
    several. Candidates are scored on a validation split carved from the training split (or by k-fold
    cross-validation on it), never on the test split, which stays for the test-gate.
    """

    candidates: list[ModelConfig] = Field(
        default_factory=_default_candidates,
        min_length=1,
        description="Model settings to compare; the best on the validation split goes to the test-gate.",
    )
    validation_size: float = Field(
        0.2, gt=0.0, lt=1.0, description="Fraction of the training split held out to compare candidates."
    )
    cv_folds: int | None = Field(
        None,
        ge=2,
        le=20,
        description="Compare candidates by k-fold cross-validation on the training split instead (slower).",
    )
    refit: bool = Field(
        True,
        description="Refit the winning settings on the whole training split (train + validation) before the gate.",
    )

    @model_validator(mode="before")
    @classmethod
    def _single_form(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if "candidates" in value:
            model_keys = sorted(set(value) - SELECTION_KEYS - {"candidates"})
            if model_keys:
                raise ValueError(
                    f"give either one model's keys or a 'candidates' list, not both (found {', '.join(model_keys)}"
                    " beside candidates; move them into a candidate)"
                )
            candidates = value["candidates"]
            if isinstance(candidates, list):
                candidates = [_with_default_kind(c) for c in candidates]
            return {**value, "candidates": candidates}
        selection = {k: v for k, v in value.items() if k in SELECTION_KEYS}
        model = {k: v for k, v in value.items() if k not in SELECTION_KEYS}
        return {**selection, "candidates": [_with_default_kind(model)]}

    @model_validator(mode="after")
    def _one_problem(self) -> ModelSection:
        problems = [candidate_problem(c) for c in self.candidates]
        if len({p for p in problems if p is not None}) > 1:
            kinds = ", ".join(f"{c.kind} ({p})" for c, p in zip(self.candidates, problems, strict=True) if p)
            raise ValueError(f"candidates must all be classifiers or all regressors; got {kinds}")
        seen: dict[str, int] = {}
        for index, candidate in enumerate(self.candidates):
            text = candidate.model_dump_json()
            if text in seen:
                raise ValueError(f"candidates[{index}] repeats candidates[{seen[text]}]: {text}")
            seen[text] = index
        return self

    @property
    def problem(self) -> ProblemKind | None:
        """The problem the candidates fix (by kind or `problem` key); None when every one of them can be either
        (hist_gradient_boosting, random_forest, extra_trees, custom without `problem`): the run decides."""
        return next((p for c in self.candidates if (p := candidate_problem(c)) is not None), None)

    def resolved(self, problem: ProblemKind) -> list[ModelConfig]:
        """The candidates with `problem` set on each kind that can be either and left it unset: what is trained."""
        return [
            c.model_copy(update={"problem": problem})
            if c.kind in EITHER_PROBLEM and getattr(c, "problem", None) is None
            else c
            for c in self.candidates
        ]

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.candidates]
