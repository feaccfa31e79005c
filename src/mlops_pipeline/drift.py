"""Data drift: how far incoming features have moved from the training distribution.

At training time `learn_reference` summarises every feature (quantile-based bins with their proportions, and a
quantile sketch of its distribution); it is stored with the model version as `drift_reference.json`. At inference
`measure_drift` compares a batch against it with two complementary measures per feature:

- PSI (population stability index) over the reference bins: sum((a - e) * ln(a / e)); by the usual reading
  < 0.1 is stable, 0.1-0.25 a moderate shift, > 0.25 a major one.
- A two-sample Kolmogorov-Smirnov test (scipy) of the batch against the reference quantile sketch, used as a
  pseudo-sample of the training distribution: the statistic is the largest gap between the two CDFs.

A feature drifts when its PSI exceeds the threshold and the KS test rejects "same distribution"; the batch drifts
when the share of drifted features reaches `min_drifted_share`.

Mixed tables (`mlops_pipeline.features`: the encoded matrix) are measured per column kind, in the same report:

- categorical: one bin per training category plus one for categories never seen in training (`UNKNOWN_CODE`); PSI
  over those frequencies, a chi-square goodness-of-fit test in place of the KS test, and the share of unseen
  categories (which the PSI counts too: a category the training split never had is a shift);
- datetime: bins and KS test on the dates (days since 1970) like a number, plus the training date range and the
  share of rows before or after it, and the shift of the mean date in days;
- numeric and boolean: as above. Missing cells are left out of every measure (the contract reports them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats

from mlops_pipeline.features import EPOCH, UNKNOWN_CODE, ColumnSpec

REFERENCE_FORMAT = 1
DRIFT_REFERENCE_FILE = "drift_reference.json"
_EPSILON = 1e-4  # keeps log(a/e) finite for empty bins


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    reference_mean: float
    batch_mean: float
    drifted: bool
    kind: str = "numeric"
    test: str = "KS"  # the test whose statistic and p-value these are: "KS", or "chi-square" for categories
    unseen_share: float | None = None  # categorical: share of the batch's values never seen in training
    outside_share: float | None = None  # datetime: share of the batch's dates outside the training range
    reference_text: str = ""  # what the reference looked like, for the table (top category, date range)
    batch_text: str = ""


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]
    psi_threshold: float
    ks_alpha: float
    min_drifted_share: float
    n_rows: int

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def drifted_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def drift_detected(self) -> bool:
        return bool(self.features) and self.drifted_share >= self.min_drifted_share

    @property
    def max_psi(self) -> float:
        return max((f.psi for f in self.features), default=0.0)


def _bin_edges(column: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior bin edges at the reference quantiles (ties collapse, so discrete features get fewer bins)."""
    interior = np.quantile(column, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(interior)


def _bin_counts(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # right-closed bins: a value equal to an edge falls in the lower bin, so a constant feature is one bin
    return np.bincount(np.searchsorted(edges, column, side="left"), minlength=edges.size + 1)


def _edge_counts(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`_bin_counts` of a column without NaN/inf at a third of its time: the count of bin i is
    #(x <= edge i) - #(x <= edge i-1), one vectorised comparison and count per edge."""
    below = np.array([0, *(np.count_nonzero(column <= edge) for edge in edges.tolist()), column.size], np.int64)
    return below[1:] - below[:-1]


def _code_bins(column: np.ndarray, n_edges: int) -> np.ndarray | None:
    """`_bin_counts` of category codes (whole numbers; edges halfway between -1, 0, ..., n_edges - 1) by one
    `bincount` of code + 1, or None when a value is not a whole number (then the edges are compared)."""
    if column.size == 0:
        return np.zeros(n_edges + 1, dtype=np.int64)
    bins = column.astype(np.intp)
    if not np.array_equal(bins, column):
        return None
    bins += 1  # code -1 (unseen) -> bin 0, code i -> bin i + 1; codes outside the edges fall in the end bins
    np.clip(bins, 0, n_edges, out=bins)
    return np.bincount(bins, minlength=n_edges + 1).astype(np.int64, copy=False)


def _proportions(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _bin_counts(column, edges) / max(column.size, 1)


def learn_reference(
    X: np.ndarray,
    feature_names: list[str],
    n_bins: int = 10,
    n_quantiles: int = 201,
    columns: Sequence[ColumnSpec] | None = None,
) -> dict[str, Any]:
    """A JSON-ready summary of the training features, enough to measure drift without keeping the data.

    `columns` (the contract's column specs, in `feature_names` order) say which columns are categories or dates;
    without them every column is numeric. Missing cells (NaN) are left out; an all-numeric reference without
    missing cells is exactly what it was before mixed tables."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"expected a 2-D array with {len(feature_names)} columns, got shape {X.shape}")
    kinds = {spec.name: spec for spec in columns or ()}
    unknown = [name for name in kinds if name not in feature_names]
    if unknown:
        raise ValueError(f"column specs {unknown} are not among the features {feature_names[:8]}")
    probabilities = np.linspace(0, 1, n_quantiles)
    features = []
    for index, name in enumerate(feature_names):
        column = X[:, index]
        if not np.isfinite(column).all():
            column = column[np.isfinite(column)]
        spec = kinds.get(name)
        if spec is not None and spec.kind == "categorical":
            features.append(_categorical_reference(name, column, spec))
            continue
        edges = _bin_edges(column, n_bins) if column.size else np.empty(0)
        entry: dict[str, Any] = {
            "name": name,
            "edges": edges.tolist(),
            "proportions": _proportions(column, edges).tolist() if column.size else [1.0],
            "quantiles": np.quantile(column, probabilities).tolist() if column.size else [],
            "mean": float(column.mean()) if column.size else 0.0,
        }
        if spec is not None and spec.kind != "numeric":
            entry["kind"] = spec.kind
        if spec is not None and spec.kind == "datetime" and column.size:
            entry.update(min=float(column.min()), max=float(column.max()), has_time=spec.has_time)
        features.append(entry)
    return {"format_version": REFERENCE_FORMAT, "n_rows": int(X.shape[0]), "features": features}


def _categorical_reference(name: str, codes: np.ndarray, spec: ColumnSpec) -> dict[str, Any]:
    """Category frequencies as bins: bin 0 holds unseen categories (code -1), bin i + 1 category i (code i).

    The interior edges sit halfway between codes, so the accumulator counts categories like any binned column."""
    categories = list(spec.categories or ())
    uniform = [0.0] + [1 / max(len(categories), 1)] * len(categories)  # no training values at all
    edges = np.arange(len(categories), dtype=np.float64) + UNKNOWN_CODE + 0.5  # -0.5, 0.5, ..., k - 1.5
    return {
        "name": name,
        "kind": "categorical",
        "categories": categories,
        "edges": edges.tolist(),
        "proportions": _proportions(codes, edges).tolist() if codes.size else uniform,
        "quantiles": [],
        "mean": float(codes.mean()) if codes.size else 0.0,
    }


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, dtype=np.float64), _EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=np.float64), _EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class DriftAccumulator:
    """Measures drift over a stream of chunks: bin counts over every row, a bounded sample for the KS test.

    The KS sample is every `stride`-th row of the whole stream: when it outgrows `sample_rows`, every other kept
    row is dropped and the stride doubles. So it spans the file from start to end (a file whose second half
    shifted is caught), is deterministic, and memory stays flat on files of any size.
    """

    def __init__(self, reference: dict[str, Any], sample_rows: int = 20_000):
        self.reference = reference
        self.features = reference["features"]
        self.edges = [np.asarray(f["edges"], dtype=np.float64) for f in self.features]
        # categorical columns whose edges sit halfway between the codes -1, 0, ..., k - 1: binned by counting codes
        self.code_bins = [
            f.get("kind") == "categorical"
            and np.array_equal(e, np.arange(e.size, dtype=np.float64) + UNKNOWN_CODE + 0.5)
            for f, e in zip(self.features, self.edges, strict=True)
        ]
        self.counts = [np.zeros(e.size + 1, dtype=np.int64) for e in self.edges]
        self.sums = np.zeros(len(self.features))
        self.finite = np.zeros(len(self.features), dtype=np.int64)
        # datetime columns: rows before / after the training range, and the batch's own range
        self.dates = [i for i, f in enumerate(self.features) if f.get("kind") == "datetime" and "min" in f]
        self.outside = {i: 0 for i in self.dates}
        self.date_range = {i: (np.inf, -np.inf) for i in self.dates}
        self.sample_rows = sample_rows
        self.samples: list[np.ndarray] = []
        self.kept = 0
        self.stride = 1
        self.n_rows = 0

    def add(self, X: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"expected a 2-D array with {len(self.features)} columns, got shape {X.shape}")
        # column by column, so each sum adds in the same order as the sum of that column alone
        sums = np.array([X[:, index].sum() for index in range(X.shape[1])], dtype=np.float64)
        finite = np.isfinite(sums)  # no NaN/inf in the column (or an overflow, which takes the filtered path)
        n_rows = X.shape[0]
        for index, edges in enumerate(self.edges):
            column = X[:, index]
            if finite[index]:
                total, kept = sums[index], n_rows
            else:
                column = column[np.isfinite(column)]
                total, kept = column.sum(), column.size
            if self.code_bins[index] and (codes := _code_bins(column, edges.size)) is not None:
                self.counts[index] += codes
            else:
                self.counts[index] += _edge_counts(column, edges)
            self.sums[index] += total
            self.finite[index] += kept
        self._add_dates(X)
        # The kept rows are always rows 0, stride, 2 x stride, ... of the stream; double the stride until the rows
        # seen so far fit, thin what was kept to the new grid, then copy only this chunk's rows on it.
        seen = self.n_rows + X.shape[0]
        stride = self.stride
        while -(-seen // stride) > self.sample_rows:
            stride *= 2
        if stride != self.stride and self.samples:
            merged = np.concatenate(self.samples)[:: stride // self.stride]
            self.samples, self.kept = [merged], merged.shape[0]
        self.stride = stride
        first = (-self.n_rows) % self.stride  # the first row of this chunk on the stride grid
        picked = X[first :: self.stride].copy()
        self.samples.append(picked)
        self.kept += picked.shape[0]
        self.n_rows = seen

    def _add_dates(self, X: np.ndarray) -> None:
        for index in self.dates:
            column = X[:, index]
            low, high = self.features[index]["min"], self.features[index]["max"]
            with np.errstate(invalid="ignore"):
                self.outside[index] += int(np.count_nonzero((column < low) | (column > high)))
            if column.size and not np.isnan(column).all():
                first, last = self.date_range[index]
                self.date_range[index] = (min(first, float(np.nanmin(column))), max(last, float(np.nanmax(column))))

    def report(
        self, psi_threshold: float = 0.25, ks_alpha: float = 0.01, min_drifted_share: float = 0.1
    ) -> DriftReport:
        sample = np.concatenate(self.samples) if self.samples else np.empty((0, len(self.features)))
        if self.n_rows == 0:  # nothing came in: nothing has drifted (and no retrain should start)
            return DriftReport([], psi_threshold, ks_alpha, min_drifted_share, 0)
        results = []
        for index, feature in enumerate(self.features):
            counts = self.counts[index]
            total = max(int(counts.sum()), 1)
            psi = population_stability_index(feature["proportions"], counts / total)
            batch_mean = float(self.sums[index] / self.finite[index]) if self.finite[index] else float("nan")
            kind = feature.get("kind", "numeric")
            if kind == "categorical":
                statistic, pvalue = _chi_square(counts, feature["proportions"])
                drift = FeatureDrift(
                    feature["name"],
                    psi,
                    statistic,
                    pvalue,
                    float(feature["mean"]),
                    batch_mean,
                    drifted=bool(self.finite[index]) and psi > psi_threshold and pvalue < ks_alpha,
                    kind=kind,
                    test="chi-square",
                    unseen_share=float(counts[0] / total) if self.finite[index] else 0.0,
                    reference_text=_top_category(feature["categories"], feature["proportions"][1:]),
                    batch_text=_top_category(feature["categories"], (counts[1:] / total).tolist()),
                )
                results.append(drift)
                continue
            column = sample[:, index]
            column = column[np.isfinite(column)]
            quantiles = np.asarray(feature["quantiles"], dtype=np.float64)
            if column.size and quantiles.size:
                # two-sample test against the quantile sketch: handles the ties of discrete features correctly,
                # where a one-sample test against an interpolated CDF would flag every pixel-like feature
                ks = stats.ks_2samp(column, quantiles)
                ks_statistic, ks_pvalue = float(ks.statistic), float(ks.pvalue)
            else:  # no finite value in this feature: nothing to compare (missing values are the contract's job)
                ks_statistic, ks_pvalue = 0.0, 1.0
            drift = FeatureDrift(
                feature=feature["name"],
                psi=psi,
                ks_statistic=ks_statistic,
                ks_pvalue=ks_pvalue,
                reference_mean=float(feature["mean"]),
                batch_mean=batch_mean,
                drifted=bool(self.finite[index]) and psi > psi_threshold and ks_pvalue < ks_alpha,
                kind=kind,
            )
            if index in self.outside:
                drift = self._with_dates(drift, index, feature)
            results.append(drift)
        return DriftReport(results, psi_threshold, ks_alpha, min_drifted_share, self.n_rows)

    def _with_dates(self, drift: FeatureDrift, index: int, feature: dict[str, Any]) -> FeatureDrift:
        finite = int(self.finite[index])
        has_time = bool(feature.get("has_time"))
        first, last = self.date_range[index]
        shift = drift.batch_mean - drift.reference_mean if finite else 0.0
        span = f"{date_text(first, has_time)} .. {date_text(last, has_time)} (mean {shift:+.1f} days)"
        return dataclasses.replace(
            drift,
            outside_share=self.outside[index] / finite if finite else 0.0,
            reference_text=f"{date_text(feature['min'], has_time)} .. {date_text(feature['max'], has_time)}",
            batch_text=span if finite else "",
        )


def _chi_square(counts: np.ndarray, proportions: Sequence[float]) -> tuple[float, float]:
    """Chi-square goodness of fit of category counts (unseen first) to the training frequencies."""
    n = int(counts.sum())
    if n == 0:
        return 0.0, 1.0
    expected = np.clip(np.asarray(proportions, dtype=np.float64), _EPSILON, None)
    expected = expected / expected.sum() * n
    result = stats.chisquare(counts.astype(np.float64), expected)
    return float(result.statistic), float(result.pvalue)


def _top_category(categories: Sequence[str], shares: Sequence[float]) -> str:
    if not categories or not len(shares):
        return ""
    top = int(np.argmax(shares))
    return f"{categories[top]!r} {shares[top]:.0%} (of {len(categories)} categories)"


def date_text(days: float, has_time: bool = False) -> str:
    """Days since 1970-01-01 (the encoded form of a date) as an ISO date, or date and time."""
    if not np.isfinite(days):
        return ""
    moment = datetime.fromisoformat(EPOCH) + timedelta(days=float(days))
    return moment.isoformat(sep=" ", timespec="minutes") if has_time else moment.date().isoformat()


def measure_drift(
    reference: dict[str, Any],
    X: np.ndarray,
    psi_threshold: float = 0.25,
    ks_alpha: float = 0.01,
    min_drifted_share: float = 0.1,
) -> DriftReport:
    """Per-feature PSI and KS test of one batch against the training reference."""
    accumulator = DriftAccumulator(reference, sample_rows=max(np.asarray(X).shape[0], 1))
    accumulator.add(X)
    return accumulator.report(psi_threshold, ks_alpha, min_drifted_share)


def drift_rows(report: DriftReport) -> list[dict[str, Any]]:
    """Rows of the drift table artifact, most shifted first."""
    ordered = sorted(report.features, key=lambda f: f.psi, reverse=True)
    return [
        {
            "feature": f.feature,
            "kind": f.kind,
            "psi": round(f.psi, 4),
            "test": f.test,
            "statistic": round(f.ks_statistic, 4),
            "p-value": float(f"{f.ks_pvalue:.3g}"),
            "reference": f.reference_text or round(f.reference_mean, 4),
            "batch": f.batch_text or round(f.batch_mean, 4),
            "unseen / outside range": _share_text(f),
            "drifted": "yes" if f.drifted else "no",
        }
        for f in ordered
    ]


def _share_text(drift: FeatureDrift) -> str:
    if drift.unseen_share is not None:
        return f"{drift.unseen_share:.1%} unseen categories"
    if drift.outside_share is not None:
        return f"{drift.outside_share:.1%} outside the training dates"
    return ""


def shares_by_column(report: DriftReport, limit: int = 20) -> dict[str, dict[str, float]]:
    """Columns with unseen categories / dates outside the training range, largest share first (for the event)."""
    unseen = sorted(((f.unseen_share, f.feature) for f in report.features if f.unseen_share), reverse=True)
    outside = sorted(((f.outside_share, f.feature) for f in report.features if f.outside_share), reverse=True)
    return {
        "unseen_categories": {name: round(share, 4) for share, name in unseen[:limit]},
        "dates_outside_range": {name: round(share, 4) for share, name in outside[:limit]},
    }
