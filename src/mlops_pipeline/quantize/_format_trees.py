"""The `trees` family of the model file: tree ensembles as bin edges, uint8 node thresholds and leaf values.

Arrays (`_trees_extract.TreeEnsemble` names their meaning): `feature_kind` uint8 (n_features,), `edge_offsets` int64
(n_features + 1,), `edges` float64; per node `node_feature` uint16, `node_threshold` uint8, `node_flags` uint8,
`node_left` int32, `node_cat_index` int32; `cat_bitsets` uint32 (n_cat_splits, 8); `leaf_values` float64 (HGB) or
float32 (forests), (n_leaves, width); per tree `tree_roots`, `tree_depths`, `tree_columns` int32; `init` float64
(n_columns,). Header keys besides the shared ones (`_format.py`): model_kind, problem, output, input_dtype, exact,
n_features (the trees' inputs), n_trees, classes, feature_names, and for a table model `features` with arrays
`features_*` (`_format_features.py`: the `native` / `ordinal` feature steps, or a custom model's `one_hot` ones
with their scaling folded into the bin edges, that turn encoded rows into the trees' inputs, stored before the trees).

Every index in an untrusted file is checked before the kernel may follow it: children stay inside their own tree
and point forward (so every walk ends), leaves point to themselves, features and bitset rows exist, leaf counts
match, so a crafted file can raise `QuantizationError` but never read out of bounds or loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.quantize._format import TREES_FAMILY, FileChecker, read_model_file, write_model_file
from mlops_pipeline.quantize._format_features import FEATURES_KEY, features_from_file, features_to_file
from mlops_pipeline.quantize._trees_extract import (
    FLAG_CATEGORICAL,
    FLAG_LEAF,
    FLAG_MISSING_LEFT,
    KIND_CATEGORICAL,
    KIND_NUMERIC,
    MAX_EDGES,
    MISSING_BIN,
    TREE_OUTPUTS,
    TreeEnsemble,
)

_NODE_ARRAYS = {
    "node_feature": ("feature", np.uint16),
    "node_threshold": ("threshold", np.uint8),
    "node_flags": ("flags", np.uint8),
    "node_left": ("left", np.int32),
    "node_cat_index": ("cat_index", np.int32),
}
_TREE_ARRAYS = {"tree_roots": "tree_roots", "tree_depths": "tree_depths", "tree_columns": "tree_columns"}


def write_trees_file(header: dict[str, Any], ensemble: TreeEnsemble) -> bytes:
    """The file of a tree model; `header` holds the family's keys (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {
        "feature_kind": ensemble.feature_kind,
        "edge_offsets": ensemble.edge_offsets,
        "edges": ensemble.edges,
    }
    arrays.update({name: getattr(ensemble, field) for name, (field, _) in _NODE_ARRAYS.items()})
    arrays["cat_bitsets"] = ensemble.cat_bitsets
    arrays["leaf_values"] = ensemble.leaf_values
    arrays.update({name: getattr(ensemble, field) for name, field in _TREE_ARRAYS.items()})
    arrays["init"] = ensemble.init
    if ensemble.features is not None:
        block_header, feature_arrays = features_to_file(ensemble.features)
        header = {**header, FEATURES_KEY: block_header}
        arrays.update(feature_arrays)
    return write_model_file({**header, "family": TREES_FAMILY}, arrays)


def read_trees_file(data: bytes, origin: str) -> TreeEnsemble:
    """The ensemble of a trees file (header in `.meta`), every key, array and index checked; errors name `origin`."""
    header, arrays = read_model_file(data, origin)
    checker = FileChecker(header, arrays, origin)
    if header.get("family") != TREES_FAMILY:
        raise checker.fail(f"header 'family' is {header.get('family')!r}: not a {TREES_FAMILY} model")
    checker.require("model_kind", "problem", "output", "input_dtype", "exact", "n_features", "n_trees")
    problem = checker.one_of("problem", ("classification", "regression"))
    output = checker.one_of("output", TREE_OUTPUTS)
    checker.one_of("input_dtype", ("float64", "float32"))
    n_features = checker.positive_int("n_features")
    n_trees = checker.positive_int("n_trees")
    features = features_from_file(checker)
    if features is not None and (features.n_outputs != n_features):
        raise checker.fail(
            f"header '{FEATURES_KEY}': a {features.family} block of {features.n_outputs} outputs "
            f"for trees of {n_features} inputs"
        )

    def vector(name: str, dtype: Any, length: int | None = None) -> np.ndarray:
        value = arrays.get(name)
        if value is None:
            raise checker.fail(f"array '{name}' is missing")
        if value.dtype != np.dtype(dtype) or value.ndim != 1 or (length is not None and value.shape[0] != length):
            expected = f"({'n' if length is None else length},)"
            raise checker.fail(f"array '{name}' is {value.dtype} {value.shape}, expected {np.dtype(dtype)} {expected}")
        return value

    kinds, offsets, edges = _checked_edges(checker, vector, n_features)
    node = {field: vector(name, dtype) for name, (field, dtype) in _NODE_ARRAYS.items()}
    n_nodes = node["feature"].shape[0]
    if any(value.shape[0] != n_nodes for value in node.values()):
        raise checker.fail("arrays 'node_*' must all have one entry per node")
    bitsets = checker.array("cat_bitsets", np.uint32, None, 8)
    trees = {field: vector(name, np.int32, n_trees) for name, field in _TREE_ARRAYS.items()}
    init = vector("init", np.float64)
    precision = np.float64 if output in ("logistic", "softmax", "identity", "exp") else np.float32
    leaf_values = checker.array("leaf_values", precision, None, arrays.get("leaf_values", np.zeros((0, 1))).shape[-1])
    if not np.all(np.isfinite(init)) or init.shape[0] < 1:
        raise checker.fail("array 'init' must hold at least one finite value")
    _check_nodes(checker, node, trees, bitsets.shape[0], n_features, n_nodes)
    _check_outputs(checker, node, trees, leaf_values, init.shape[0], problem, output, header.get("classes"))
    feature_names = header.get("feature_names")
    n_inputs = features.n_columns if features is not None else n_features
    if feature_names is not None and (not isinstance(feature_names, list) or len(feature_names) != n_inputs):
        raise checker.fail(f"header 'feature_names' must list {n_inputs} names")
    meta = {key: header.get(key) for key in ("model_kind", "problem", "output", "input_dtype", "exact", "classes")}
    meta["feature_names"] = feature_names
    return TreeEnsemble(
        feature_kind=kinds,
        edge_offsets=offsets,
        edges=edges,
        cat_bitsets=bitsets,
        leaf_values=leaf_values,
        init=init,
        meta=meta,
        features=features,
        **node,
        **trees,
    )


def _checked_edges(checker: FileChecker, vector: Any, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kinds = vector("feature_kind", np.uint8, n_features)
    offsets = vector("edge_offsets", np.int64, n_features + 1)
    edges = vector("edges", np.float64)
    if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != edges.shape[0]:
        raise checker.fail("array 'edge_offsets' must rise from 0 to the number of edges")
    if not np.all(np.isin(kinds, (KIND_NUMERIC, KIND_CATEGORICAL))):
        raise checker.fail("array 'feature_kind' holds an unknown kind")
    # bins 0..254, 255 is the missing bin: at most 254 numeric edges (255 bins) or 255 categories per feature
    if np.any(np.diff(offsets) > np.where(kinds == KIND_CATEGORICAL, MAX_EDGES + 1, MAX_EDGES)):
        raise checker.fail("array 'edge_offsets': more than 254 edges (255 categories) for a feature")
    if np.any(np.isnan(edges)):  # +inf is a threshold: scikit-learn's trees split "missing or not" at x <= inf
        raise checker.fail("array 'edges' holds NaN values")
    for f in range(n_features):
        own = edges[offsets[f] : offsets[f + 1]]
        if kinds[f] == KIND_CATEGORICAL and not np.all((own >= 0) & (own < 256) & (own == np.floor(own))):
            raise checker.fail(f"array 'edges': categories of feature {f} must be integers 0..255")
        if np.any(np.diff(own) <= 0):
            raise checker.fail(f"array 'edges': the edges of feature {f} must be strictly increasing")
    return kinds, offsets, edges


def _check_nodes(
    checker: FileChecker,
    node: dict[str, np.ndarray],
    trees: dict[str, np.ndarray],
    n_bitsets: int,
    n_features: int,
    n_nodes: int,
) -> None:
    roots = trees["tree_roots"].astype(np.int64)
    ends = np.append(roots[1:], n_nodes)
    if roots[0] != 0 or np.any(ends <= roots):
        raise checker.fail("array 'tree_roots': trees must be consecutive, non-empty runs of nodes from 0")
    index = np.arange(n_nodes)
    end_of = np.repeat(ends, ends - roots)
    flags, left = node["flags"], node["left"].astype(np.int64)
    leaf = (flags & FLAG_LEAF) != 0
    if np.any(flags & ~np.uint8(FLAG_LEAF | FLAG_CATEGORICAL | FLAG_MISSING_LEFT)):
        raise checker.fail("array 'node_flags' holds unknown flags")
    if np.any(leaf & ((left != index) | (node["threshold"] != MISSING_BIN) | ((flags & FLAG_MISSING_LEFT) == 0))):
        raise checker.fail("array 'node_left': a leaf must point to itself (threshold 255, missing left)")
    if np.any(~leaf & ((left <= index) | (left + 1 >= end_of))):
        raise checker.fail("array 'node_left': a child must come after its parent, inside the same tree")
    if np.any(node["feature"] >= n_features):
        raise checker.fail(f"array 'node_feature': feature index >= n_features {n_features}")
    categorical = ~leaf & ((flags & FLAG_CATEGORICAL) != 0)
    cat_index = node["cat_index"]
    if np.any(categorical & ((cat_index < 0) | (cat_index >= n_bitsets))):
        raise checker.fail("array 'node_cat_index': a categorical split names a missing bitset row")
    depths = trees["tree_depths"]
    if np.any(depths < 0) or np.any(depths.astype(np.int64) > ends - roots):
        raise checker.fail("array 'tree_depths' is out of range")


def _check_outputs(
    checker: FileChecker,
    node: dict[str, np.ndarray],
    trees: dict[str, np.ndarray],
    leaf_values: np.ndarray,
    n_columns: int,
    problem: str,
    output: str,
    classes: Any,
) -> None:
    n_leaves = int(np.count_nonzero(node["flags"] & FLAG_LEAF))
    if leaf_values.shape[0] != n_leaves:
        raise checker.fail(f"array 'leaf_values' has {leaf_values.shape[0]} rows for {n_leaves} leaves")
    columns = trees["tree_columns"].astype(np.int64)
    if np.any(columns < 0) or np.any(columns + leaf_values.shape[1] > n_columns):
        raise checker.fail(f"array 'tree_columns': a tree adds outside the {n_columns} output columns")
    if (problem == "classification") != (output in ("logistic", "softmax", "average_proba")):
        raise checker.fail(f"header 'output' {output!r} does not fit problem {problem!r}")
    if problem == "classification":
        if not isinstance(classes, list) or len(classes) < 2:
            raise checker.fail("header 'classes': a classifier needs at least two classes")
        expected = 1 if output == "logistic" else len(classes)
        if n_columns != expected:
            raise checker.fail(f"header 'classes': {len(classes)} classes but {n_columns} output columns")
    elif n_columns != 1:
        raise checker.fail(f"array 'init': a regressor has one output column, not {n_columns}")
