"""The training load: the source a `DataConfig` names (a built-in set, a local file or a URL) as a `Dataset`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from mlops_pipeline.config import DataConfig
from mlops_pipeline.data._builtin import load_builtin
from mlops_pipeline.data._columns import numeric_or_labels
from mlops_pipeline.data._dataset import Dataset
from mlops_pipeline.data._formats import read_csv_columns, read_npz_arrays, read_parquet_columns
from mlops_pipeline.data._sources import LocalCopy, SourceSpec, local_copy, resolve_source
from mlops_pipeline.features._spec import ColumnSetting
from mlops_pipeline.findings import Finding, example_rows


def read_file(
    copy: LocalCopy,
    spec: SourceSpec,
    target: str | None,
    origin: str,
    settings: Mapping[str, ColumnSetting] | None = None,
) -> Dataset:
    """Parse a local file into a Dataset; `target` None means the column named 'target' if there is one.

    `settings` (data.columns) types or drops columns by name; rows with an empty target are a warning here (kept
    in the Dataset, so row numbers match the file; validation leaves them out and bounds their share)."""
    if spec.format == "npz":
        X, y, names = read_npz_arrays(copy.path, origin)
        findings: list[Finding] = []
        non_numeric: tuple[str, ...] = ()
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            findings.append(
                Finding(
                    "error",
                    "non-numeric values",
                    names,
                    int(X.size),
                    f"{origin}: array 'X' has dtype {X.dtype}; every feature must be a number",
                )
            )
            non_numeric = tuple(names)
            X = np.full(X.shape, np.nan)
        return Dataset(
            X=np.asarray(X, dtype=np.float64),
            y=None if y is None else numeric_or_labels(y),
            feature_names=names,
            target_name=target or "y",
            source=origin,
            fingerprint=copy.sha256,
            problem=None,
            info={"format": "npz", "bytes": copy.n_bytes, "columns": names},
            findings=findings,
            non_numeric_columns=non_numeric,
        )
    wanted = target or "target"
    if spec.format == "csv":
        names, parsed = read_csv_columns(copy.path, spec.delimiter, wanted, origin, settings)
    else:
        names, parsed = read_parquet_columns(copy.path, wanted, origin, settings)
    findings = list(parsed.findings)
    if parsed.missing_target_rows is not None:
        rows = parsed.missing_target_rows
        findings.append(
            Finding(
                "warning",
                "missing target values",
                [wanted],
                int(rows.size),
                f"{origin}: rows without a target are left out of training; e.g. "
                f"{example_rows(rows, csv_lines=spec.format == 'csv')}",
            )
        )
    return Dataset(
        X=parsed.X,
        y=parsed.y,
        feature_names=parsed.feature_names,
        target_name=wanted if wanted in names else (target or None),
        source=origin,
        fingerprint=copy.sha256,
        problem=None,
        info={"format": spec.format, "bytes": copy.n_bytes, "columns": names},
        findings=findings,
        non_numeric_columns=parsed.non_numeric_columns,
        csv_lines=spec.format == "csv",
        columns=parsed.columns,
        dropped=parsed.dropped,
        missing_target_rows=parsed.missing_target_rows,
    )


def load_dataset(config: DataConfig) -> Dataset:
    """Load the data set the config names: a built-in set, a local file or a URL."""
    spec = resolve_source(config.source, config.format, config.delimiter)
    if spec.kind == "builtin":
        return _array_settings(load_builtin(config.source), config)
    with local_copy(spec, config.timeout_seconds) as copy:
        dataset = read_file(copy, spec, config.target, origin=config.source, settings=config.columns)
    return _array_settings(dataset, config) if spec.format == "npz" else dataset


def _array_settings(dataset: Dataset, config: DataConfig) -> Dataset:
    """data.columns types the columns of tables; for a built-in set or an .npz array (all numbers) it is an error."""
    if not config.columns:
        return dataset
    names = list(config.columns)
    finding = Finding(
        "error",
        "data.columns on an array source",
        names,
        len(names),
        f"{dataset.source}: data.columns types the columns of a CSV or Parquet table; this source is an array of "
        "numbers",
    )
    return replace(dataset, findings=[*dataset.findings, finding])
