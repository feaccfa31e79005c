"""The feature steps of a table model as plain arrays: the `features` block of a model file, for every family.

A table model's file (the affine form here, the tree form in `_format_trees.py`) takes the *encoded matrix*
(`mlops_pipeline.features._spec`: one float64 column per raw column, codes for categories, day numbers for dates,
NaN for missing cells) and needs the fitted `feature_steps` (`mlops_pipeline.features._steps`) without a pickle.
`pack_features` reads them into a `FeatureBlock`; `FeatureBlock.apply` computes the model's input matrix from an
encoded matrix in numpy, equal to what the fitted steps give (one_hot: before their scaling, which the affine form
folds into its first layer; `input_scaling` returns it).

Model inputs, in order: the *dense* outputs, each one raw column (`source`) through one operation (`op`: the value,
its missing indicator, a date part), a missing value replaced by `fill` (one_hot: the training median; native /
ordinal: NaN is kept); then (one_hot only) the one-hot columns. A categorical column's code picks its one-hot
column through `slots`: per categorical column (raw order) `len(categories) + 2` entries, the model-input index
of codes 0..n-1, then of the unknown code (-1), then of a missing cell, -1 where no column is set (the code's
column was dropped as unseen and there is no infrequent column). So at inference a category is a lookup, never a
multiplication by one-hot columns: the affine form gathers weight rows by slot (`slot_indices`).

In a file: header key `features` = {"family", "columns" (ColumnSpec dicts), "n_outputs"} and arrays
`features_program` (int32, 2 x n_dense: source, op), `features_fill` (float64, 1 x n_dense; one_hot only),
`features_slots` (int32, 1 x total slots; one_hot with categories only). `features_to_file` / `features_from_file`
write and check them (every value of an untrusted file is checked before use).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from mlops_pipeline.quantize._dates import date_parts, part_names
from mlops_pipeline.quantize._errors import ModelInputError, QuantizationError
from mlops_pipeline.quantize._format import FileChecker

# the preprocessing families of `mlops_pipeline.features.feature_steps` (this package imports nothing of the pipeline)
FeatureFamily = Literal["one_hot", "native", "ordinal"]
FAMILIES: tuple[FeatureFamily, ...] = ("one_hot", "native", "ordinal")
KINDS = ("numeric", "boolean", "categorical", "datetime")
VALUE, INDICATOR, YEAR, MONTH, DAY, WEEKDAY, HOUR = range(7)
_PART_OPS = {"year": YEAR, "month": MONTH, "day": DAY, "weekday": WEEKDAY, "hour": HOUR}
FEATURES_KEY = "features"


@dataclass(frozen=True)
class Column:
    """What the block needs of a column spec (`mlops_pipeline.features.ColumnSpec`); `spec` is the spec's dict
    (`ColumnSpec.to_dict()`), stored in the file as it is."""

    name: str
    kind: str
    categories: tuple[str, ...] | None
    has_time: bool
    spec: dict[str, Any]

    @classmethod
    def of(cls, spec: Any) -> Column:
        """From a ColumnSpec or its dict."""
        raw = dict(spec) if isinstance(spec, dict) else spec.to_dict()
        categories = raw.get("categories")
        return cls(
            str(raw["name"]),
            str(raw["kind"]),
            None if categories is None else tuple(str(c) for c in categories),
            bool(raw.get("has_time", False)),
            {**raw, "categories": None if categories is None else [str(c) for c in categories]},
        )


@dataclass(frozen=True)
class FeatureBlock:
    """Fitted feature steps as arrays (see the module docstring); `apply` maps an encoded matrix to model inputs."""

    family: FeatureFamily
    columns: tuple[Column, ...]
    source: np.ndarray  # (n_dense,) intp: raw column of each dense output
    op: np.ndarray  # (n_dense,) intp: VALUE, INDICATOR or a date part
    fill: np.ndarray  # (n_dense,) float64: a missing value's replacement; NaN: kept missing (native / ordinal)
    slots: np.ndarray  # (total slots,) intp: model-input index per categorical slot, -1 none (one_hot)
    n_outputs: int  # the width of the model inputs

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def n_dense(self) -> int:
        return int(self.source.shape[0])

    def categorical(self) -> list[tuple[int, int, np.ndarray]]:
        """(raw column, number of categories, its slots) of each categorical column (one_hot)."""
        found: list[tuple[int, int, np.ndarray]] = []
        offset = 0
        if self.family != "one_hot":
            return found
        for j, spec in enumerate(self.columns):
            if spec.kind == "categorical":
                n = len(spec.categories or ())
                found.append((j, n, self.slots[offset : offset + n + 2]))
                offset += n + 2
        return found

    def categorical_mask(self) -> np.ndarray:
        """Which model inputs are category codes (native: HistGradientBoosting's categorical features)."""
        mask = np.zeros(self.n_outputs, dtype=bool)
        if self.family == "native":
            kinds = np.asarray([spec.kind == "categorical" for spec in self.columns])
            mask[: self.n_dense] = (self.op == VALUE) & kinds[self.source]
        return mask

    @cached_property
    def _leading_values(self) -> int:
        """How many dense outputs, from the first, are raw values (every number first, in one_hot and the trees)."""
        others = np.flatnonzero(self.op != VALUE)
        return int(others[0]) if others.size else self.n_dense

    def dense(self, X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The dense model inputs (n_rows, n_dense) of encoded rows X; `out` (any layout) may be given."""
        X = _checked_width(X, self.n_columns)
        if out is None:
            out = np.empty((X.shape[0], self.n_dense), dtype=np.float64, order="F")
        # the leading raw values as one block (a few numpy calls, not a few per column): gather, then fill NaN
        run = self._leading_values
        if run:
            sources = self.source[:run]
            block = out[:, :run]
            if run == X.shape[1] and np.array_equal(sources, np.arange(run)):
                np.copyto(block, X, casting="unsafe")
            else:
                np.copyto(block, X[:, sources], casting="unsafe")
            # a NaN fill (native / ordinal) keeps the cell missing
            np.copyto(block, self.fill[None, :run], where=np.isnan(block), casting="unsafe")
        parts: dict[int, np.ndarray] = {}
        missing = np.empty(X.shape[0], dtype=bool)
        for k in range(run, self.n_dense):
            j, op, target = int(self.source[k]), int(self.op[k]), out[:, k]
            if op == VALUE:
                values = X[:, j]
            elif op == INDICATOR:
                np.isnan(X[:, j], out=missing)
                np.copyto(target, missing, casting="unsafe")
                continue
            else:
                if j not in parts:
                    parts[j] = date_parts(X[:, j], self.columns[j].has_time)
                values = parts[j][:, op - YEAR]
            np.copyto(target, values, casting="unsafe")
            if not np.isnan(self.fill[k]):
                np.isnan(values, out=missing)
                np.copyto(target, self.fill[k], where=missing, casting="unsafe")
        return out

    def slot_indices(self, X: np.ndarray, column: int, n_categories: int) -> np.ndarray:
        """Each row's slot of categorical `column`: its code, n for unknown (-1), n + 1 for missing (NaN)."""
        codes = X[:, column]
        slots = np.where(np.isnan(codes), n_categories + 1.0, np.where(codes == -1.0, float(n_categories), codes))
        index = slots.astype(np.intp)
        bad = (index != slots) | (index < 0) | (index > n_categories + 1)
        if bad.any():
            rows = np.flatnonzero(bad)
            name = self.columns[column].name
            raise ModelInputError(
                f"column {name!r}: codes must be 0..{n_categories - 1}, -1 (unknown) or NaN (missing); rows "
                f"{rows[:5].tolist()} hold {codes[rows[:5]].tolist()}"
            )
        return index

    def check_codes(self, X: np.ndarray) -> None:
        """Raise ModelInputError naming the column when a category code is not 0..n-1, -1 or NaN."""
        for j, spec in enumerate(self.columns):
            if spec.kind == "categorical":
                self.slot_indices(X, j, len(spec.categories or ()))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The model inputs of encoded rows X (n_rows, n_outputs), float64; one_hot: before scaling."""
        X = _checked_width(X, self.n_columns)
        out = np.zeros((X.shape[0], self.n_outputs), dtype=np.float64)
        self.dense(X, out[:, : self.n_dense])
        if self.family == "one_hot":
            rows = np.arange(X.shape[0])
            for j, n, slots in self.categorical():
                columns = slots[self.slot_indices(X, j, n)]
                hit = columns >= 0
                out[rows[hit], columns[hit]] = 1.0
        else:
            self.check_codes(X)
        return out


def _checked_width(X: np.ndarray, n_columns: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_columns:
        raise ModelInputError(f"expected encoded rows of {n_columns} columns, got shape {X.shape}")
    return X


# ---- packing the fitted steps -------------------------------------------------------------------------------------
def _dense_tree_program(specs: list[Column]) -> tuple[list[int], list[int]]:
    source, op = list(range(len(specs))), [VALUE] * len(specs)
    for j, spec in enumerate(specs):
        if spec.kind == "datetime":
            source.extend([j] * len(part_names(spec.has_time)))
            op.extend(_PART_OPS[part] for part in part_names(spec.has_time))
    return source, op


def pack_features(steps: Any, columns: Sequence[Any], family: FeatureFamily) -> FeatureBlock:
    """The FeatureBlock of fitted `feature_steps(columns, family)` (a ColumnTransformer); `columns` are ColumnSpecs
    or their dicts."""
    specs = [Column.of(spec) for spec in columns]
    named = dict(getattr(steps, "named_transformers_", {}))
    if family in ("native", "ordinal"):
        source, op = _dense_tree_program(specs)
        n = len(source)
        return FeatureBlock(
            family, tuple(specs), np.asarray(source, np.intp), np.asarray(op, np.intp), np.full(n, np.nan),
            np.empty(0, np.intp), n,
        )  # fmt: skip
    if family != "one_hot":
        raise QuantizationError(f"feature family {family!r}: expected one of {list(FAMILIES)}")
    source, op, fill = [], [], []
    dense = [j for j, spec in enumerate(specs) if spec.kind != "categorical"]
    dates = [j for j, spec in enumerate(specs) if spec.kind == "datetime"]
    if dense:
        imputer = named["numeric"].named_steps["impute"]
        statistics = np.nan_to_num(np.asarray(imputer.statistics_, np.float64), nan=0.0)
        source += dense
        op += [VALUE] * len(dense)
        fill += statistics.tolist()
        indicated = imputer.indicator_.features_ if getattr(imputer, "indicator_", None) is not None else []
        source += [dense[i] for i in indicated]
        op += [INDICATOR] * len(indicated)
        fill += [np.nan] * len(indicated)
    if dates:
        imputer = named["date_parts"].named_steps["impute"]
        statistics = np.nan_to_num(np.asarray(imputer.statistics_, np.float64), nan=0.0)
        for j in dates:
            parts = part_names(specs[j].has_time)
            source += [j] * len(parts)
            op += [_PART_OPS[part] for part in parts]
        fill += statistics.tolist()
    n_dense = len(source)
    slots, n_outputs = _one_hot_slots(named.get("categories"), specs, n_dense)
    return FeatureBlock(
        "one_hot", tuple(specs), np.asarray(source, np.intp), np.asarray(op, np.intp),
        np.asarray(fill, np.float64), slots, n_outputs,
    )  # fmt: skip


def _one_hot_slots(encoder: Any, specs: list[Column], n_dense: int) -> tuple[np.ndarray, int]:
    """Probe the fitted OneHotEncoder with every code, -1 and NaN of each column: the column each one sets."""
    categorical = [j for j, spec in enumerate(specs) if spec.kind == "categorical"]
    if not categorical:
        return np.empty(0, np.intp), n_dense
    sizes = [len(specs[j].categories or ()) for j in categorical]
    probe = np.full((max(sizes) + 2, len(categorical)), np.nan)
    for p, n in enumerate(sizes):
        probe[: n + 2, p] = [*range(n), -1.0, np.nan]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # probes of codes unseen in training
        one_hot = encoder.transform(probe)
    one_hot = one_hot.toarray() if hasattr(one_hot, "toarray") else np.asarray(one_hot)
    names = encoder.get_feature_names_out([f"c{p}" for p in range(len(categorical))])
    slots, start = [], 0
    for p, n in enumerate(sizes):
        width = sum(1 for name in names if str(name).startswith(f"c{p}_"))
        block = one_hot[: n + 2, start : start + width]
        if np.any(block.sum(axis=1) > 1):
            raise QuantizationError(f"column {specs[categorical[p]].name!r}: a code sets several one-hot columns")
        hit = block.argmax(axis=1)
        slots.extend(np.where(block.max(axis=1) > 0, n_dense + start + hit, -1).tolist())
        start += width
    if start != one_hot.shape[1]:
        raise QuantizationError(f"one-hot encoder: {one_hot.shape[1]} columns, {start} accounted for")
    return np.asarray(slots, np.intp), n_dense + start


def input_scaling(steps: Any, block: FeatureBlock) -> tuple[np.ndarray, np.ndarray]:
    """one_hot: the (mean, scale) the fitted steps apply to each model input (one-hot columns: 0 and 1)."""
    mean, scale = np.zeros(block.n_outputs), np.ones(block.n_outputs)
    named = dict(steps.named_transformers_)
    start = 0
    for name in ("numeric", "date_parts"):
        if name in named:
            scaler = named[name].named_steps["scale"]
            width = scaler.mean_.shape[0]
            mean[start : start + width] = scaler.mean_
            scale[start : start + width] = scaler.scale_
            start += width
    if start != block.n_dense:
        raise QuantizationError(f"feature steps: {start} scaled columns for {block.n_dense} dense inputs")
    return mean, scale


# ---- the file block -----------------------------------------------------------------------------------------------
def features_to_file(block: FeatureBlock) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header value (under `FEATURES_KEY`) and the arrays of a FeatureBlock."""
    header = {"family": block.family, "columns": [c.spec for c in block.columns], "n_outputs": block.n_outputs}
    arrays = {"features_program": np.stack([block.source, block.op]).astype(np.int32)}
    if block.family == "one_hot":
        arrays["features_fill"] = np.nan_to_num(block.fill, nan=0.0)[None, :]
        if block.slots.size:
            arrays["features_slots"] = block.slots.astype(np.int32)[None, :]
    return header, arrays


def features_from_file(checker: FileChecker) -> FeatureBlock | None:
    """The FeatureBlock of a file's `features` header key and arrays (None without one), every value checked."""
    raw = checker.header.get(FEATURES_KEY)
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("family") not in FAMILIES:
        raise checker.fail(f"header '{FEATURES_KEY}' must be an object with 'family' one of {list(FAMILIES)}")
    family: FeatureFamily = raw["family"]
    try:
        specs = tuple(Column.of(dict(spec)) for spec in raw["columns"])
        n_outputs = int(raw["n_outputs"])
    except (KeyError, TypeError, ValueError) as exc:
        raise checker.fail(f"header '{FEATURES_KEY}': {type(exc).__name__}: {exc}") from None
    if not specs or any(s.kind not in KINDS for s in specs):
        raise checker.fail(f"header '{FEATURES_KEY}': 'columns' must list numeric/boolean/categorical/datetime specs")
    program = checker.arrays.get("features_program")
    n_dense = program.shape[1] if program is not None and program.ndim == 2 else 0
    source, op = checker.array("features_program", np.int32, 2, n_dense).astype(np.intp)
    kinds = np.asarray([s.kind for s in specs])
    if np.any((source < 0) | (source >= len(specs))) or np.any((op < VALUE) | (op > HOUR)):
        raise checker.fail("array 'features_program': a source column or operation out of range")
    parts = op >= YEAR
    if np.any(kinds[source[parts]] != "datetime") or np.any(kinds[source[op == INDICATOR]] == "categorical"):
        raise checker.fail("array 'features_program': an operation does not fit its column's kind")
    if family == "one_hot":
        fill = checker.array("features_fill", np.float64, 1, n_dense)[0].copy()
        fill[op == INDICATOR] = np.nan
        categorical = [s for s in specs if s.kind == "categorical"]
        total = sum(len(s.categories or ()) + 2 for s in categorical)
        slots = np.empty(0, np.intp)
        if total:
            slots = checker.array("features_slots", np.int32, 1, total)[0].astype(np.intp)
        if np.any((slots < -1) | (slots >= n_outputs) | ((slots >= 0) & (slots < n_dense))) or n_outputs < n_dense:
            raise checker.fail("array 'features_slots': a slot outside the one-hot inputs")
        if np.any(kinds[source] == "categorical"):
            raise checker.fail("array 'features_program': a categorical column among the dense one-hot inputs")
    else:
        fill, slots = np.full(n_dense, np.nan), np.empty(0, np.intp)
        if n_outputs != n_dense:
            raise checker.fail(f"header '{FEATURES_KEY}': n_outputs {n_outputs}, program has {n_dense}")
    return FeatureBlock(family, specs, source, op, fill, slots, n_outputs)
