"""Fitted scikit-learn tree ensembles read as pickle-free arrays: per-feature bins, uint8 node thresholds, leaf values.

Every feature gets bin edges; an input value becomes a `uint8` bin index (`MISSING_BIN` for NaN, and for a
categorical feature also for a value that is not one of its known categories: a negative `UNKNOWN_CODE`, an unseen
code), and every split compares bin indices only:

- `HistGradientBoosting*`: the model's own bins (`_bin_mapper.bin_thresholds_`, each node's `bin_threshold`,
  `missing_go_to_left`, the raw-category bitsets of categorical splits) and float64 leaf values summed in the
  model's order from its baseline, so predictions equal scikit-learn's (`x <= num_threshold` iff
  `bin(x) <= bin_threshold`; sklearn's "split on NaNs" has `num_threshold` +inf, the last non-missing bin). A
  categorical column's bins are its known categories (raw values, sorted), found by exact match as scikit-learn's
  ordinal encoder does, and the model's column order (categorical columns first) is mapped back to the input's.
- `RandomForest*` / `ExtraTrees*`: the node thresholds of each feature are the bin edges when there are at most
  `MAX_EDGES` of them, else `MAX_EDGES` edges chosen among them (at evenly spaced ranks) and every threshold
  snapped to the edge that moves the fewest calibration rows; leaf values float32 (class
  probabilities, averaged over the trees). Inputs are cast to float32 first, as scikit-learn's trees do.

Node layout (all trees in one set of arrays, each tree's nodes contiguous): `feature` uint16, `threshold` uint8,
`flags` uint8 (FLAG_*), `left` int32 absolute index with the right child at `left + 1`; a leaf points to itself
(threshold 255, missing-left) so a walk may run past it. Categorical splits test a 256-bit set over bins
(`cat_bitsets`, bit 255: missing goes left) named by `cat_index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline

from mlops_pipeline.quantize._errors import QuantizationError
from mlops_pipeline.quantize._extract import table_parts
from mlops_pipeline.quantize._format_features import FeatureBlock, input_scaling, pack_features

MISSING_BIN = 255
MAX_EDGES = 254  # edges -> at most 255 bins 0..254; 255 is the missing bin
FLAG_MISSING_LEFT, FLAG_CATEGORICAL, FLAG_LEAF = 1, 2, 4
KIND_NUMERIC, KIND_CATEGORICAL = 0, 1
HGB_TYPES = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
FOREST_TYPES = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
# output: how the summed leaf values become predictions (see _trees_estimator.py)
TREE_OUTPUTS = frozenset({"logistic", "softmax", "identity", "exp", "average_proba", "average"})


@dataclass
class TreeEnsemble:
    """Every array of a tree model, as stored in its `.npz` file (`_format_trees.py`) and scored by `_trees_kernel`."""

    feature_kind: np.ndarray  # uint8 (n_features,): KIND_NUMERIC / KIND_CATEGORICAL
    edge_offsets: np.ndarray  # int64 (n_features + 1,): feature f's edges are edges[offsets[f]:offsets[f + 1]]
    edges: np.ndarray  # float64: numeric bin edges, or a categorical feature's known categories; sorted
    feature: np.ndarray  # uint16 (n_nodes,)
    threshold: np.ndarray  # uint8 (n_nodes,)
    flags: np.ndarray  # uint8 (n_nodes,)
    left: np.ndarray  # int32 (n_nodes,)
    cat_index: np.ndarray  # int32 (n_nodes,): row of cat_bitsets for a categorical split, else -1
    cat_bitsets: np.ndarray  # uint32 (n_cat_splits, 8): bins that go left
    leaf_values: np.ndarray  # float64 (HGB) / float32 (forests), (n_leaves, width), in node order of the leaves
    tree_roots: np.ndarray  # int32 (n_trees,)
    tree_depths: np.ndarray  # int32 (n_trees,): longest root-to-leaf path
    tree_columns: np.ndarray  # int32 (n_trees,): first output column a tree's leaf values are added to
    init: np.ndarray  # float64 (n_columns,): the sum starts here (HGB baseline; forests 0)
    meta: dict[str, Any] = field(default_factory=dict)  # model_kind, problem, output, classes, input_dtype, exact
    # a table model's feature steps (`_format_features.py`): encoded rows -> the trees' inputs; None: rows as they are
    features: FeatureBlock | None = None

    @property
    def n_features(self) -> int:
        return int(self.feature_kind.shape[0])

    @property
    def n_inputs(self) -> int:
        """Width of the rows the model takes: the encoded matrix for a table model, else the trees' inputs."""
        return self.features.n_columns if self.features is not None else self.n_features

    @property
    def n_columns(self) -> int:
        return int(self.init.shape[0])


def split_tree_pipeline(estimator: Any) -> tuple[list[tuple[str, Any]], Any]:
    """(feature steps, tree model) of a model or a Pipeline ending in one; `passthrough` / None steps are dropped."""
    if isinstance(estimator, Pipeline):
        steps = [(name, step) for name, step in estimator.steps if step not in (None, "passthrough")]
        return steps[:-1], steps[-1][1]
    return [], estimator


def feature_block(estimator: Any) -> tuple[FeatureBlock | None, tuple[np.ndarray, np.ndarray] | None]:
    """The feature steps in front of the trees as a pickle-free block: a table pipeline (table -> features ->
    model) gives the block of its steps' family (a custom model's may be one_hot) and, for one_hot, the (mean, scale)
    they apply after it; a pipeline whose other steps are `passthrough` gives None; any other step is refused."""
    parts = table_parts(estimator)
    if parts is not None:
        specs, steps, model = parts
        one_hot = "values" not in dict(getattr(steps, "named_transformers_", {}))
        block = pack_features(
            steps, specs, "one_hot" if one_hot else "native" if isinstance(model, HGB_TYPES) else "ordinal"
        )
        if int(model.n_features_in_) != block.n_outputs:
            raise QuantizationError(
                f"feature steps give {block.n_outputs} inputs, the trees take {model.n_features_in_}"
            )
        return block, input_scaling(steps, block) if one_hot else None
    steps, _ = split_tree_pipeline(estimator)
    if steps:
        names = ", ".join(f"{name} ({type(step).__name__})" for name, step in steps)
        raise QuantizationError(f"tree form: steps in front of the trees other than a table's features: {names}")
    return None, None


def is_tree_model(estimator: Any) -> bool:
    """Whether `estimator` (or the last step of its pipeline) is a tree ensemble this form stores."""
    return isinstance(split_tree_pipeline(estimator)[1], HGB_TYPES + FOREST_TYPES)


def extract_trees(estimator: Any, X_calibration: np.ndarray | None = None) -> TreeEnsemble:
    """The arrays of a fitted tree ensemble (or a pipeline ending in one); X_calibration (the rows the pipeline
    takes: encoded rows for a table model) guides forest snapping."""
    model = split_tree_pipeline(estimator)[1]
    if not isinstance(model, HGB_TYPES + FOREST_TYPES):
        raise QuantizationError(
            f"tree form: {type(model).__name__} is not a HistGradientBoosting, forest or extra trees"
        )
    block, scaling = feature_block(estimator)
    if block is not None and X_calibration is not None:
        X_calibration = block.apply(X_calibration)
        if scaling is not None:  # one_hot steps scale the block's outputs
            X_calibration = (X_calibration - scaling[0]) / scaling[1]
    ensemble = _extract_hgb(model) if isinstance(model, HGB_TYPES) else _extract_forest(model, X_calibration)
    if scaling is not None:  # fold it into the edges: (x - mean) / scale <= e iff x <= e * scale + mean (scale > 0)
        for f in np.flatnonzero(ensemble.feature_kind == KIND_NUMERIC):
            edges = ensemble.edges[ensemble.edge_offsets[f] : ensemble.edge_offsets[f + 1]]
            edges[:] = edges * scaling[1][f] + scaling[0][f]
    ensemble.features = block
    return ensemble


class _Builder:
    """Collects trees laid out breadth first with siblings adjacent (right child = left + 1), leaves self-looping."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[np.ndarray]] = {key: [] for key in ("feature", "threshold", "flags", "left", "cat")}
        self.leaf_chunks: list[np.ndarray] = []  # per tree: source node ids of its leaves, in layout order
        self.roots: list[int] = []
        self.depths: list[int] = []
        self.n_nodes = 0

    def add_tree(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        flags: np.ndarray,
        cat: np.ndarray,
    ) -> None:
        """One tree given per source node (left == -1: a leaf); the split arrays are ignored at leaves."""
        n, base = len(left), self.n_nodes
        levels, level = [], np.zeros(1, dtype=np.int64)
        while level.size:
            levels.append(level)
            internal = level[left[level] != -1]
            level = np.stack([left[internal], right[internal]], axis=1).ravel()
        order = np.concatenate(levels)
        if len(order) != n:
            raise QuantizationError(f"tree form: a tree reaches {len(order)} of its {n} nodes from the root")
        position = np.empty(n, dtype=np.int64)
        position[order] = base + np.arange(n)
        is_leaf = left[order] == -1
        self.chunks["feature"].append(np.where(is_leaf, 0, feature[order]))
        self.chunks["threshold"].append(np.where(is_leaf, MISSING_BIN, threshold[order]))
        self.chunks["flags"].append(np.where(is_leaf, FLAG_LEAF | FLAG_MISSING_LEFT, flags[order]))
        self.chunks["left"].append(np.where(is_leaf, base + np.arange(n), position[np.maximum(left[order], 0)]))
        self.chunks["cat"].append(np.where(is_leaf, -1, cat[order]))
        self.leaf_chunks.append(order[is_leaf])
        self.roots.append(base)
        self.depths.append(len(levels) - 1)
        self.n_nodes += n

    def column(self, key: str, dtype: Any) -> np.ndarray:
        return np.concatenate(self.chunks[key]).astype(dtype) if self.chunks[key] else np.zeros(0, dtype=dtype)


def _edges_arrays(per_feature: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(per_feature) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in per_feature])
    edges = np.concatenate(per_feature).astype(np.float64) if per_feature else np.zeros(0)
    return offsets, edges


def _ensemble(
    builder: _Builder,
    feature_kind: np.ndarray,
    per_feature_edges: list[np.ndarray],
    cat_bitsets: list[np.ndarray],
    leaf_values: np.ndarray,
    columns: list[int],
    init: np.ndarray,
    meta: dict[str, Any],
) -> TreeEnsemble:
    offsets, edges = _edges_arrays(per_feature_edges)
    return TreeEnsemble(
        feature_kind=feature_kind.astype(np.uint8),
        edge_offsets=offsets,
        edges=edges,
        feature=builder.column("feature", np.uint16),
        threshold=builder.column("threshold", np.uint8),
        flags=builder.column("flags", np.uint8),
        left=builder.column("left", np.int32),
        cat_index=builder.column("cat", np.int32),
        cat_bitsets=np.asarray(cat_bitsets, dtype=np.uint32).reshape(-1, 8),
        leaf_values=leaf_values,
        tree_roots=np.asarray(builder.roots, dtype=np.int32),
        tree_depths=np.asarray(builder.depths, dtype=np.int32),
        tree_columns=np.asarray(columns, dtype=np.int32),
        init=np.asarray(init, dtype=np.float64),
        meta=meta,
    )


def _check_width(n_features: int) -> None:
    if n_features > np.iinfo(np.uint16).max:
        raise QuantizationError(f"tree form: {n_features} features, at most 65535 fit a uint16 feature index")


# ---- HistGradientBoosting ---------------------------------------------------------------------------------------
def _hgb_columns(model: Any) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """For each feature the model's trees see: its input column, and for a categorical one the raw value of each
    code (scikit-learn >= 1.4 ordinal-encodes categorical columns first, ahead of the numeric ones)."""
    n_in = int(model.n_features_in_)
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return np.arange(n_in), [None] * n_in
    source: list[int] = []
    raw_values: list[np.ndarray | None] = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            continue
        indices = np.flatnonzero(columns) if np.asarray(columns).dtype == bool else np.asarray(columns, dtype=int)
        source.extend(int(i) for i in indices)
        if name == "encoder":
            for categories in transformer.categories_:
                try:
                    raw_values.append(np.asarray(categories, dtype=np.float64))
                except (TypeError, ValueError):
                    raise QuantizationError(
                        "tree form: categorical columns must hold numeric codes (the encoded matrix), "
                        f"got values such as {list(categories[:3])}"
                    ) from None
        else:
            raw_values.extend([None] * len(indices))
    return np.asarray(source), raw_values


def _extract_hgb(model: Any) -> TreeEnsemble:
    mapper = model._bin_mapper
    n_features = int(model.n_features_in_)
    _check_width(n_features)
    source, raw_values = _hgb_columns(model)
    is_categorical = np.zeros(n_features, dtype=bool)
    if getattr(model, "_is_categorical_remapped", None) is not None:
        is_categorical[source] = model._is_categorical_remapped
    elif model.is_categorical_ is not None:
        is_categorical[source] = model.is_categorical_[source]
    per_feature: list[np.ndarray] = [np.zeros(0)] * n_features
    codes_of: dict[int, np.ndarray] = {}  # input column -> the code of each category, in bin order
    for t, thresholds in enumerate(mapper.bin_thresholds_):
        f, thresholds = int(source[t]), np.asarray(thresholds, dtype=np.float64)
        if not is_categorical[f]:
            per_feature[f] = thresholds
            continue
        codes = thresholds[np.isfinite(thresholds)].astype(np.int64)  # the known codes
        raw = raw_values[t]
        values = codes.astype(np.float64) if raw is None else raw[codes]
        keep = np.isfinite(values)
        order = np.argsort(values[keep], kind="stable")
        per_feature[f], codes_of[f] = values[keep][order], codes[keep][order]
    for f, edges in enumerate(per_feature):
        if len(edges) > MAX_EDGES + (1 if is_categorical[f] else 0):
            raise QuantizationError(f"tree form: feature {f} has {len(edges)} bins, at most 255 fit in uint8")
    builder, bitsets, leaf_values, columns = _Builder(), [], [], []
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            flags = np.where(nodes["missing_go_to_left"].astype(bool), FLAG_MISSING_LEFT, 0)
            categorical = nodes["is_categorical"].astype(bool) & ~leaf
            cat = np.full(len(nodes), -1, dtype=np.int64)
            feature = source[nodes["feature_idx"].astype(np.int64)]
            for i in np.flatnonzero(categorical):
                raw = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][i]]
                bitsets.append(_binned_bitset(raw, codes_of[int(feature[i])], bool(flags[i])))
                cat[i] = len(bitsets) - 1
            builder.add_tree(
                np.where(leaf, -1, nodes["left"].astype(np.int64)),
                nodes["right"].astype(np.int64),
                feature,
                np.where(categorical, 0, nodes["bin_threshold"]),
                flags | np.where(categorical, FLAG_CATEGORICAL, 0),
                cat,
            )
            leaf_values.append(nodes["value"][builder.leaf_chunks[-1]])
            columns.append(k)
    problem = "classification" if isinstance(model, HistGradientBoostingClassifier) else "regression"
    n_columns = int(model.n_trees_per_iteration_)
    if problem == "classification":
        output = "logistic" if n_columns == 1 else "softmax"
    else:
        link = type(model._loss.link).__name__
        if link not in ("IdentityLink", "LogLink"):
            raise QuantizationError(f"tree form: HistGradientBoostingRegressor with a {link} is not supported")
        output = "identity" if link == "IdentityLink" else "exp"
    meta = _meta(model, problem, output, input_dtype="float64", exact=True)
    return _ensemble(
        builder,
        np.where(is_categorical, KIND_CATEGORICAL, KIND_NUMERIC),
        per_feature,
        bitsets,
        np.concatenate(leaf_values).astype(np.float64).reshape(-1, 1),
        columns,
        np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
        meta,
    )


def _binned_bitset(raw_bitset: np.ndarray, codes: np.ndarray, missing_left: bool) -> np.ndarray:
    """The bins (positions in `codes`) whose code is in `raw_bitset`; bit 255 set when missing goes left."""
    bits = np.zeros(8, dtype=np.uint32)
    for position, code in enumerate(codes):
        if 0 <= code < 256 and (int(raw_bitset[code >> 5]) >> (code & 31)) & 1:
            bits[position >> 5] |= np.uint32(1 << (position & 31))
    if missing_left:
        bits[MISSING_BIN >> 5] |= np.uint32(1 << (MISSING_BIN & 31))
    return bits


def _meta(model: Any, problem: str, output: str, input_dtype: str, exact: bool) -> dict[str, Any]:
    classes = getattr(model, "classes_", None) if problem == "classification" else None
    return {
        "model_kind": type(model).__name__,
        "problem": problem,
        "output": output,
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "input_dtype": input_dtype,
        "exact": exact,
    }


# ---- forests ----------------------------------------------------------------------------------------------------
def _extract_forest(model: Any, X_calibration: np.ndarray | None) -> TreeEnsemble:
    n_features = int(model.n_features_in_)
    _check_width(n_features)
    if getattr(model, "n_outputs_", 1) != 1:
        raise QuantizationError("tree form: multi-output forests are not supported")
    trees = [estimator.tree_ for estimator in model.estimators_]
    per_feature, exact = _forest_edges(trees, n_features, X_calibration)
    problem = "classification" if hasattr(model, "classes_") else "regression"
    width = len(model.classes_) if problem == "classification" else 1
    builder, leaf_values = _Builder(), []
    for tree in trees:
        feature, internal = tree.feature.astype(np.int64), tree.children_left != -1
        bins = np.zeros(tree.node_count, dtype=np.int64)
        for f in np.unique(feature[internal]):
            mask = internal & (feature == f)
            unique, snapped = per_feature[f][1], per_feature[f][2]
            bins[mask] = snapped[np.searchsorted(unique, tree.threshold[mask])]
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8)).astype(bool)
        builder.add_tree(
            tree.children_left.astype(np.int64),
            tree.children_right.astype(np.int64),
            np.maximum(feature, 0),
            bins,
            np.where(missing, FLAG_MISSING_LEFT, 0),
            np.full(tree.node_count, -1, dtype=np.int64),
        )
        values = tree.value[builder.leaf_chunks[-1], 0, :]
        if problem == "classification":
            values = values / np.maximum(values.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        leaf_values.append(values)
    meta = _meta(model, problem, "average_proba" if problem == "classification" else "average", "float32", exact)
    return _ensemble(
        builder,
        np.full(n_features, KIND_NUMERIC),
        [per_feature[f][0] for f in range(n_features)],
        [],
        np.concatenate(leaf_values).astype(np.float32).reshape(-1, width),
        [0] * len(trees),
        np.zeros(width),
        meta,
    )


def _forest_edges(
    trees: list[Any], n_features: int, X_calibration: np.ndarray | None
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], bool]:
    """Per feature (bin edges, the unique node thresholds, the edge index each of them is snapped to), and
    whether every threshold is an edge (no feature had more than MAX_EDGES)."""
    thresholds: list[list[np.ndarray]] = [[] for _ in range(n_features)]
    for tree in trees:
        internal = tree.children_left != -1
        for f in np.unique(tree.feature[internal]):
            thresholds[f].append(tree.threshold[internal & (tree.feature == f)])
    result, exact = [], True
    for f in range(n_features):
        values = np.concatenate(thresholds[f]) if thresholds[f] else np.zeros(0)
        unique = np.unique(values)
        if len(unique) <= MAX_EDGES:
            result.append((unique, unique, np.arange(len(unique))))
            continue
        exact = False
        # evenly spaced ranks among the distinct thresholds: of the rules tried (weighted by the rows reaching each
        # node, at the calibration rows' quantiles) the one agreeing most often with the float forest
        edges = unique[np.unique(np.linspace(0, len(unique) - 1, MAX_EDGES).round().astype(np.int64))]
        column = None
        if X_calibration is not None and X_calibration.shape[0]:
            column = np.sort(np.asarray(X_calibration[:, f], dtype=np.float32).astype(np.float64))
            column = column[~np.isnan(column)]
        result.append((edges, unique, _nearest_edges(edges, unique, column)))
    return result, exact


def _nearest_edges(edges: np.ndarray, values: np.ndarray, column: np.ndarray | None) -> np.ndarray:
    """Index of the edge replacing each threshold: the neighbour moving fewest calibration rows to the other side
    (`x <= value` becomes `x <= edge`), else the nearer in value; an edge itself is kept."""
    above = np.searchsorted(edges, values, side="left")
    low = edges[np.clip(above - 1, 0, len(edges) - 1)]
    high = edges[np.clip(above, 0, len(edges) - 1)]
    if column is not None and len(column):
        at_value = np.searchsorted(column, values, "right")
        moved_low = at_value - np.searchsorted(column, low, "right")
        moved_high = np.searchsorted(column, high, "right") - at_value
        take_low = moved_low <= moved_high
    else:
        take_low = values - low <= high - values
    chosen = np.where(take_low, above - 1, above)
    chosen = np.where(above == 0, 0, np.where(above == len(edges), len(edges) - 1, chosen))
    is_edge = (above < len(edges)) & (edges[np.minimum(above, len(edges) - 1)] == values)
    return np.where(is_edge, above, chosen)
