"""Date parts from the encoded day numbers (days since 1970-01-01, fractional for times of day), in numpy.

One function serves the float model's `DateParts` step (`mlops_pipeline.features`) and the int8 / tree forms'
`FeatureBlock.apply`, so both compute the same values bit for bit; it lives here because the quantize package
imports nothing of the pipeline. Parts per date column: year, month (1-12), day of the month (1-31), day of the
week (Monday 0), and, for a column with times of day, the hour as a fraction (13.5 = 13:30). The day number
itself (the trend) is not a part: the model steps take it as a column of its own. A missing (or infinite) day gives
NaN parts.
"""

from __future__ import annotations

import numpy as np

DATE_PARTS = ("year", "month", "day", "weekday")
HOUR_PART = "hour"


def part_names(has_time: bool) -> tuple[str, ...]:
    return (*DATE_PARTS, HOUR_PART) if has_time else DATE_PARTS


def date_parts(days: np.ndarray, has_time: bool, out: np.ndarray | None = None) -> np.ndarray:
    """(n_rows, 4 or 5) float64: year, month, day, weekday[, hour] of each day number; NaN rows give NaN parts."""
    days = np.asarray(days, dtype=np.float64)
    width = len(part_names(has_time))
    if out is None:
        out = np.empty((days.shape[0], width), dtype=np.float64)
    missing = ~np.isfinite(days)
    whole = np.floor(days)
    if missing.any():
        whole[missing] = 0.0
    day = whole.astype(np.int64)
    dates = day.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month_number = months.astype(np.int64)
    out[:, 0] = month_number // 12 + 1970
    out[:, 1] = month_number % 12 + 1
    out[:, 2] = (dates - months).astype(np.int64) + 1
    out[:, 3] = (day + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday 0)
    if has_time:
        out[:, 4] = (days - whole) * 24.0
    if missing.any():
        out[missing] = np.nan
    return out
