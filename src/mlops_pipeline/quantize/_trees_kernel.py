"""Scoring kernels of the tree form: input binning to uint8 and tree traversal, in numba with a numpy twin.

`predict_raw(X, compiled, out)` adds every tree's leaf values to `out` (which starts at the ensemble's `init`) in
tree order, so a float64 sum is bit-for-bit scikit-learn's. Rows are taken `BLOCK_ROWS` at a time: the block's
rows are binned into a small uint8 matrix (row-major, stays in L1), then each tree walks the whole block before
the next tree, so a tree's nodes are read from cache once per block rather than once per row. Within a tree the
walk is level-synchronous over the block's still-active rows (rows that reached a leaf drop out of the list), so
the loads of different rows overlap instead of waiting on each other, and deep, unbalanced forest trees cost the
actual path lengths, not the deepest one. A node is one int64 (left child 32 bits, feature 16, threshold 8,
flags 8); the right child is `left + 1`.

numba compiles with `cache=True` (to `NUMBA_CACHE_DIR` when set, else `__pycache__` beside this file when
writable, else the user's cache folder; with none writable, once per process); `warm_up()` compiles (or loads from
the cache: ~0.1 s instead of ~10 s) every variant a model needs and is called when a model is loaded, so a
service's first request does not pay for compilation. A container image compiles once at build time by loading
any tree model, or sets `NUMBA_CACHE_DIR` to a writable volume. Without numba the
numpy twin gives identical results (same integer walk, same float64 sums in the same order), only slower.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_pipeline.quantize._trees_extract import (
    FLAG_CATEGORICAL,
    FLAG_LEAF,
    FLAG_MISSING_LEFT,
    KIND_CATEGORICAL,
    MISSING_BIN,
    TreeEnsemble,
)

numba: Any
try:  # numba is optional at run time: the numpy twin below gives identical results
    import numba
except ImportError:  # pragma: no cover - exercised by the numpy-twin tests calling it directly
    numba = None

BLOCK_ROWS = 512


@dataclass(frozen=True)
class CompiledTrees:
    """The runtime arrays of a TreeEnsemble: packed nodes, per-node values, categorical lookup tables."""

    kinds: np.ndarray  # uint8 (n_features,)
    edges: np.ndarray  # float64
    edge_offsets: np.ndarray  # int64 (n_features + 1,)
    nodes: np.ndarray  # int64 (n_nodes,) packed
    cat_index: np.ndarray  # int32 (n_nodes,)
    cat_bitsets: np.ndarray  # uint32 (n_cat_splits, 8), at least one row
    node_values: np.ndarray  # float64 / float32 (n_nodes, width): leaf values, 0 at internal nodes
    tree_roots: np.ndarray
    tree_columns: np.ndarray
    float32_input: bool
    n_columns: int


def compile_trees(ensemble: TreeEnsemble) -> CompiledTrees:
    """Pack nodes into int64 and spread the leaf values over the node index (done once, at load)."""
    e = ensemble
    nodes = (
        e.left.astype(np.int64)
        | (e.feature.astype(np.int64) << 32)
        | (e.threshold.astype(np.int64) << 48)
        | (e.flags.astype(np.int64) << 56)
    )
    is_leaf = (e.flags & FLAG_LEAF) != 0
    node_values = np.zeros((len(nodes), e.leaf_values.shape[1]), dtype=e.leaf_values.dtype)
    node_values[is_leaf] = e.leaf_values
    bitsets = e.cat_bitsets if len(e.cat_bitsets) else np.zeros((1, 8), dtype=np.uint32)
    return CompiledTrees(
        kinds=e.feature_kind,
        edges=e.edges,
        edge_offsets=e.edge_offsets,
        nodes=nodes,
        cat_index=e.cat_index,
        cat_bitsets=np.ascontiguousarray(bitsets),
        node_values=node_values,
        tree_roots=e.tree_roots,
        tree_columns=e.tree_columns,
        float32_input=e.meta.get("input_dtype") == "float32",
        n_columns=e.n_columns,
    )


def _arguments(X: np.ndarray, c: CompiledTrees, out: np.ndarray) -> tuple[Any, ...]:
    return (
        X,
        c.float32_input,
        c.kinds,
        c.edges,
        c.edge_offsets,
        c.nodes,
        c.cat_index,
        c.cat_bitsets,
        c.node_values,
        c.tree_roots,
        c.tree_columns,
        out,
    )


def predict_raw(X: np.ndarray, compiled: CompiledTrees, out: np.ndarray, backend: str | None = None) -> None:
    """Add every tree's leaf values for the rows of X (float64, C or F order) to `out` (n_rows, n_columns)."""
    if (backend or default_backend()) == "numba":
        _predict_numba(*_arguments(X, compiled, out))
    else:
        predict_raw_numpy(X, compiled, out)


def default_backend() -> str:
    return "numba" if numba is not None else "numpy"


def warm_up(compiled: CompiledTrees) -> None:
    """Compile (or load from numba's cache) the kernels for this model's arrays: C-, F-ordered and strided input
    (a row range of a Fortran-ordered matrix, as `predict_raw_threads` hands out)."""
    if numba is None:
        return
    n_features = compiled.kinds.shape[0]
    for X in (np.zeros((2, n_features)), np.zeros((2, n_features), order="F"), np.zeros((4, n_features))[::2]):
        predict_raw(X, compiled, np.zeros((X.shape[0], compiled.n_columns)), backend="numba")


def predict_raw_threads(X: np.ndarray, compiled: CompiledTrees, out: np.ndarray, n_threads: int) -> None:
    """predict_raw on `n_threads` row ranges at once (the numba kernel releases the GIL); one thread below 16k rows."""
    n_threads = min(n_threads, max(X.shape[0] // 8192, 1))
    if n_threads <= 1 or numba is None:
        predict_raw(X, compiled, out)
        return
    bounds = np.linspace(0, X.shape[0], n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
        list(pool.map(lambda r: predict_raw(X[r[0] : r[1]], compiled, out[r[0] : r[1]]), ranges))


# ---- numpy twin -------------------------------------------------------------------------------------------------
def bin_rows_numpy(X: np.ndarray, c: CompiledTrees) -> np.ndarray:
    """uint8 bin index of every value (n_rows, n_features), MISSING_BIN for NaN and unseen / negative codes."""
    bins = np.empty(X.shape, dtype=np.uint8)
    for f in range(X.shape[1]):
        column = X[:, f].astype(np.float64)
        if c.float32_input:
            column = column.astype(np.float32).astype(np.float64)
        edges = c.edges[c.edge_offsets[f] : c.edge_offsets[f + 1]]
        found = np.searchsorted(edges, column, side="left")
        missing = np.isnan(column)
        if c.kinds[f] == KIND_CATEGORICAL:  # a known category is its position; anything else is missing
            missing |= edges[np.minimum(found, max(len(edges) - 1, 0))] != column if len(edges) else True
        bins[:, f] = np.where(missing, MISSING_BIN, found)
    return bins


def _go_right(bins: np.ndarray, packed: np.ndarray, cat_index: np.ndarray, bitsets: np.ndarray) -> np.ndarray:
    threshold = (packed >> 48) & 0xFF
    flags = (packed >> 56) & 0xFF
    right = (bins > threshold) & ~((bins == MISSING_BIN) & ((flags & FLAG_MISSING_LEFT) != 0))
    categorical = (flags & FLAG_CATEGORICAL) != 0
    if categorical.any():
        words = bitsets[cat_index[categorical], bins[categorical] >> 5]
        right[categorical] = ((words >> (bins[categorical] & 31)) & 1) == 0
    return right


def predict_raw_numpy(X: np.ndarray, c: CompiledTrees, out: np.ndarray) -> None:
    """The numpy twin of the numba kernel: identical bins, walk and float64 sums, vectorised over rows."""
    width = c.node_values.shape[1]
    for start in range(0, X.shape[0], 65_536):
        bins = bin_rows_numpy(X[start : start + 65_536], c)
        rows = np.arange(bins.shape[0])
        block = out[start : start + bins.shape[0]]
        for root, column in zip(c.tree_roots, c.tree_columns, strict=True):
            node = np.full(bins.shape[0], root, dtype=np.int64)
            while True:
                packed = c.nodes[node]
                if np.all(((packed >> 56) & FLAG_LEAF) != 0):
                    break
                b = bins[rows, (packed >> 32) & 0xFFFF].astype(np.int64)
                node = (packed & 0xFFFFFFFF) + _go_right(b, packed, c.cat_index[node], c.cat_bitsets)
            block[:, column : column + width] += c.node_values[node]


# ---- numba kernel -----------------------------------------------------------------------------------------------
def _jit(function: Any, **options: Any) -> Any:
    if numba is None:
        return function
    try:
        return numba.njit(cache=True, nogil=True, **options)(function)
    except RuntimeError:  # "no locator available": no writable cache folder; compiled once per process instead
        return numba.njit(nogil=True, **options)(function)


def _inline(function: Any) -> Any:
    return _jit(function, inline="always")


@_jit
def _bin_block(
    X: Any,
    start: int,
    m: int,
    float32_input: bool,
    kinds: Any,
    edges: Any,
    edge_offsets: Any,
    bins: Any,
    values: Any,
    found: Any,
) -> None:
    """Rows start..start+m of X into bins[:m] (uint8, row-major)."""
    for f in range(X.shape[1]):
        low, count = edge_offsets[f], edge_offsets[f + 1] - edge_offsets[f]
        for r in range(m):
            x = X[start + r, f]
            if float32_input:
                x = np.float64(np.float32(x))
            values[r] = x
            found[r] = 0
        # branch-free lower bound (the number of edges < x) for all rows in step: the halving sequence depends
        # only on the number of edges, so the loop over rows is a gather-compare-add that vectorises
        n = count
        while n > 1:
            half = n >> 1
            for r in range(m):
                found[r] += half if edges[low + found[r] + half] < values[r] else 0
            n -= half
        categorical = kinds[f] == KIND_CATEGORICAL
        for r in range(m):
            x = values[r]
            b = found[r] + (1 if count > 0 and edges[low + found[r]] < x else 0)
            if categorical:  # a known category is its position; anything else (NaN, unseen) is missing
                b = b if b < count and edges[low + b] == x else MISSING_BIN
            bins[r, f] = MISSING_BIN if np.isnan(x) else b


@_inline
def _step(packed: Any, node: Any, bins: Any, row: int, cat_index: Any, cat_bitsets: Any) -> Any:
    """The child of `node` (packed) for one row of bins; a leaf gives itself."""
    b = np.int64(bins[row, (packed >> 32) & 0xFFFF])
    if (packed >> 57) & 1:  # FLAG_CATEGORICAL (2) is bit 57
        word = np.int64(cat_bitsets[cat_index[node], b >> 5])
        return (packed & 0xFFFFFFFF) + 1 - ((word >> (b & 31)) & 1)
    right = np.int64(b > ((packed >> 48) & 0xFF)) & (1 - np.int64(b == MISSING_BIN) * ((packed >> 56) & 1))
    return (packed & 0xFFFFFFFF) + right


@_inline
def _add_leaf(out: Any, row: int, column: int, node_values: Any, node: int) -> None:
    for k in range(node_values.shape[1]):
        out[row, column + k] += node_values[node, k]


@_jit
def _walk_block(
    bins: Any, m: int, start: int, nodes: Any, cat_index: Any, cat_bitsets: Any, node_values: Any,
    tree_roots: Any, tree_columns: Any, out: Any,
) -> None:  # fmt: skip
    """Every tree over rows start..start+m (binned in bins[:m]), eight rows walked side by side so that their
    independent loads overlap; a group stops when all eight stand on leaves."""
    for t in range(tree_roots.shape[0]):
        root, column = np.int64(tree_roots[t]), tree_columns[t]
        r = 0
        while r + 8 <= m:
            n0 = n1 = n2 = n3 = n4 = n5 = n6 = n7 = root
            while True:
                p0, p1, p2, p3 = nodes[n0], nodes[n1], nodes[n2], nodes[n3]
                p4, p5, p6, p7 = nodes[n4], nodes[n5], nodes[n6], nodes[n7]
                if ((p0 & p1 & p2 & p3 & p4 & p5 & p6 & p7) >> 58) & 1:  # FLAG_LEAF (4) is bit 58
                    break
                n0 = _step(p0, n0, bins, r, cat_index, cat_bitsets)
                n1 = _step(p1, n1, bins, r + 1, cat_index, cat_bitsets)
                n2 = _step(p2, n2, bins, r + 2, cat_index, cat_bitsets)
                n3 = _step(p3, n3, bins, r + 3, cat_index, cat_bitsets)
                n4 = _step(p4, n4, bins, r + 4, cat_index, cat_bitsets)
                n5 = _step(p5, n5, bins, r + 5, cat_index, cat_bitsets)
                n6 = _step(p6, n6, bins, r + 6, cat_index, cat_bitsets)
                n7 = _step(p7, n7, bins, r + 7, cat_index, cat_bitsets)
            row = start + r
            _add_leaf(out, row, column, node_values, n0)
            _add_leaf(out, row + 1, column, node_values, n1)
            _add_leaf(out, row + 2, column, node_values, n2)
            _add_leaf(out, row + 3, column, node_values, n3)
            _add_leaf(out, row + 4, column, node_values, n4)
            _add_leaf(out, row + 5, column, node_values, n5)
            _add_leaf(out, row + 6, column, node_values, n6)
            _add_leaf(out, row + 7, column, node_values, n7)
            r += 8
        while r < m:
            n = root
            while not (nodes[n] >> 58) & 1:
                n = _step(nodes[n], n, bins, r, cat_index, cat_bitsets)
            _add_leaf(out, start + r, column, node_values, n)
            r += 1


@_jit
def _predict_numba(
    X: Any,
    float32_input: bool,
    kinds: Any,
    edges: Any,
    edge_offsets: Any,
    nodes: Any,
    cat_index: Any,
    cat_bitsets: Any,
    node_values: Any,
    tree_roots: Any,
    tree_columns: Any,
    out: Any,
) -> None:
    """Bin a block of rows, walk every tree over it, next block (see the module docstring)."""
    bins = np.empty((BLOCK_ROWS, X.shape[1]), dtype=np.uint8)
    values = np.empty(BLOCK_ROWS, dtype=np.float64)
    found = np.empty(BLOCK_ROWS, dtype=np.int64)
    for start in range(0, X.shape[0], BLOCK_ROWS):
        m = min(BLOCK_ROWS, X.shape[0] - start)
        _bin_block(X, start, m, float32_input, kinds, edges, edge_offsets, bins, values, found)
        _walk_block(bins, m, start, nodes, cat_index, cat_bitsets, node_values, tree_roots, tree_columns, out)
