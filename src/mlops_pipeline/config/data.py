"""The `data` section: where the data comes from, how it is read, the rules it must meet, and how it is split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mlops_pipeline.config.base import Section
from mlops_pipeline.features._spec import ColumnSetting

ImputeStrategy = Literal["none", "mean", "median", "most_frequent"]
MissingPolicy = Literal["model", "error"]
DataFormat = Literal["auto", "csv", "parquet", "npz"]


class AugmentConfig(Section):
    """Training on augmented digits (mlops_pipeline.augment): square-image data such as digits only."""

    copies: int = Field(4, ge=1, le=20, description="Transformed copies of every training image.")
    max_rotation_degrees: float = Field(12.0, ge=0.0, le=45.0, description="Rotation drawn from +- this.")
    max_shear: float = Field(0.35, ge=0.0, le=1.0, description="Horizontal shear (slant, dx/dy) drawn from +- this.")
    max_shift_cells: float = Field(0.6, ge=0.0, le=2.0, description="Shift in 8x8 cells drawn from +- this.")
    stroke_change: float = Field(
        0.5, ge=0.0, le=1.0, description="Stroke thickened (dilation) or thinned (erosion) by up to this many cells."
    )
    min_width_scale: float = Field(
        0.6, gt=0.0, le=1.0, description="Width squeezed to a factor drawn from [this, 1] (narrow hands)."
    )
    redraw: bool = Field(
        False,
        description="Draw every copy again the way the serving page draws (the strokes' centre line, straightened, "
        "scaled into the page's box, one pen): rotation, shear and width apply; shift and stroke_change do not.",
    )


class DataConfig(Section):
    """Where the data comes from, how it is read, the rules it must meet, and how it is split."""

    source: str = Field(
        "digits",
        min_length=1,
        description="A built-in scikit-learn set (digits, diabetes, iris, wine, breast_cancer, california_housing), "
        "a local path, or a URL (file://, http(s)://, s3:// with s3fs, any fsspec protocol) to a .csv, .tsv, "
        ".parquet or .npz file.",
    )
    target: str | None = Field(
        None,
        description="Target column of a table (a column named 'target' is used when unset); built-ins and "
        ".npz files (array 'y') know theirs.",
    )
    format: DataFormat = Field("auto", description="File format; 'auto' goes by the file suffix.")
    delimiter: str = Field(
        ",", min_length=1, max_length=1, description="CSV field delimiter ('\\t' is implied for .tsv files)."
    )
    impute: ImputeStrategy = Field(
        "none",
        description="How missing (NaN, empty, inf) feature values are filled before training, with statistics of "
        "the training split only; 'none' leaves them to data.missing.",
    )
    missing: MissingPolicy = Field(
        "model",
        description="Missing feature cells when data.impute is 'none': 'model' lets the model handle them (numbers "
        "imputed with a missing indicator, a missing category; reported as warnings with counts), 'error' refuses "
        "the data. Infinite values need data.impute either way.",
    )
    max_missing_target_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Rows without a target value are left out (a warning with their count); more than this share "
        "of the rows is an error.",
    )
    columns: dict[str, ColumnSetting] = Field(
        default_factory=dict,
        description="Per column, its type instead of the detected one (numeric, boolean, categorical, datetime), "
        "or 'identifier' / 'drop' to leave it out of the features; a name that is not a column of the file is an "
        "error.",
    )
    min_rows_per_class: int = Field(2, ge=1, description="Classification: fewest rows any class may have.")
    max_abs_value: float = Field(
        1e12,
        gt=0.0,
        description="Feature values larger than this in magnitude are rejected (they overflow "
        "scaling and quantization).",
    )
    range_tolerance: float = Field(
        0.1,
        ge=0.0,
        description="Inference: values beyond the training min/max by more than this fraction of the "
        "training range are errors; within it, warnings.",
    )
    timeout_seconds: float = Field(30.0, gt=0.0, description="Network timeout for one read of a URL.")
    retries: int = Field(4, ge=0, le=10, description="Retries of a transient load failure (5xx, timeouts, ...).")
    retry_delay_seconds: float = Field(
        1.0, ge=0.0, description="First retry delay; it doubles each retry (with jitter)."
    )
    test_size: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out for the test-gate.")
    seed: int = Field(42, ge=0, description="Seed for the split and every estimator with randomness.")
    augment: AugmentConfig | None = Field(
        None,
        description="Train on the training split plus augmented copies (small rotations, shears, shifts, stroke "
        "widths) of its 8x8 images; off when unset. The held-out split and the contract stay the real data.",
    )

    @field_validator("delimiter", mode="before")
    @classmethod
    def _spelled_out_tab(cls, value: Any) -> Any:
        # `--set data.delimiter=\t` arrives as backslash + t; YAML files may say "tab".
        return "\t" if value in ("\\t", "tab", "TAB") else value
