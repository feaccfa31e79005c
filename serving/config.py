"""The serving settings: one pydantic model, filled by the command line (or by a test / benchmark directly)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_pipeline.config import DriftConfig


class OnlineDriftConfig(DriftConfig):
    """Drift of the served rows: the batch path's thresholds, measured over windows of traffic."""

    every_rows: int = Field(1000, ge=1, description="Measure drift when the window has this many rows ...")
    every_seconds: float = Field(
        60.0,
        gt=0,
        description="... or when this many seconds have passed since the "
        "window opened (if it has at least min_rows rows).",
    )
    min_rows: int = Field(50, ge=1, description="Fewest rows a time-based window is measured on.")
    sample_rows: int = Field(5_000, ge=100, description="Rows of a window kept for the KS test.")
    max_pending_rows: int = Field(
        100_000,
        ge=1,
        description="Rows waiting for the drift worker; beyond this, rows "
        "are not measured (counted and logged) rather than slowing requests down.",
    )
    event_cooldown_seconds: float = Field(
        600.0,
        ge=0,
        description="At most one drift event per version in this "
        "many seconds: sustained drift starts one retraining, not one per window.",
    )
    retry_seconds: float = Field(10.0, gt=0, description="Wait before re-sending events the Prefect API refused.")
    max_pending_events: int = Field(100, ge=1, description="Undelivered events kept for retry (oldest dropped).")


class ServingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(
        "digits-logreg",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Model in the store; its champion's int8 model answers.",
    )
    root: str = Field("models", description="Folder of the model store.")
    max_rows: int = Field(1000, ge=1, description="Most rows one /predict request may carry.")
    max_bytes: int = Field(2 * 1024 * 1024, ge=64, description="Largest /predict request body in bytes.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the champion pointer is checked.")
    unknown_categories: Literal["warning", "error"] = Field(
        "warning",
        description="A category the training data never had: scored as an unseen category with a warning in the "
        "answer, or refused (422 naming the row, column and value).",
    )
    drift: OnlineDriftConfig = Field(default_factory=OnlineDriftConfig)
