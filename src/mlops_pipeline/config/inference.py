"""The batch-inference flow's parameter: which model scores which data, where the predictions go, drift rules."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mlops_pipeline.config.base import Section


class DriftConfig(Section):
    """When incoming data counts as drifted from the training data (see tasks/drift.py)."""

    psi_threshold: float = Field(0.25, gt=0.0, description="A feature drifts when its PSI exceeds this ...")
    ks_alpha: float = Field(0.01, gt=0.0, lt=1.0, description="... and the KS test's p-value is below this.")
    min_drifted_share: float = Field(
        0.1, gt=0.0, le=1.0, description="The batch drifts when at least this share of features drifts."
    )
    sample_rows: int = Field(20_000, ge=100, description="Rows kept for the KS test (bin counts use every row).")
    emit_event: bool = Field(True, description="Emit `model.drift.detected` (retraining deployments trigger on it).")


class InferenceConfig(Section):
    """One batch-inference run: which model, which data, where the predictions go."""

    model_name: str = Field(
        "digits-logreg",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Model in the store; its champion's int8 model scores the data.",
    )
    models_root: str = Field("models", description="Folder of the model store, or s3://bucket/prefix.")
    version: str | None = Field(None, pattern=r"^v[0-9]+$", description="Score with this version, not the champion.")
    data: str = Field("digits", description="A file or URL (CSV, TSV, Parquet, npz), or a built-in data set name.")
    out: str = Field("predictions.csv", description="Where predictions go: a .csv or .parquet path.")
    chunk_rows: int = Field(100_000, ge=1, description="Rows scored at a time; memory stays flat on large files.")
    out_of_range: Literal["error", "warning"] = Field(
        "warning",
        description="Values beyond the training range (past its tolerance): reject the file, or score "
        "them and report them (drift measures them either way).",
    )
    unknown_categories: Literal["warning", "error"] = Field(
        "warning",
        description="A category the model was not trained on: score the row as 'unknown' and report the values "
        "(warning), or reject the file naming the column and values (error).",
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)

    @model_validator(mode="after")
    def _output_is_not_the_input(self) -> InferenceConfig:
        if "://" not in self.data and Path(self.data).resolve() == Path(self.out).resolve():
            raise ValueError(f"out: '{self.out}' is the input file; the predictions would replace the data")
        return self
