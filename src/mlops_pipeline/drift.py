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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

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


def _proportions(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _bin_counts(column, edges) / max(column.size, 1)


def learn_reference(
    X: np.ndarray, feature_names: list[str], n_bins: int = 10, n_quantiles: int = 201
) -> dict[str, Any]:
    """A JSON-ready summary of the training features, enough to measure drift without keeping the data."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"expected a 2-D array with {len(feature_names)} columns, got shape {X.shape}")
    probabilities = np.linspace(0, 1, n_quantiles)
    features = []
    for index, name in enumerate(feature_names):
        column = X[:, index]
        edges = _bin_edges(column, n_bins)
        features.append(
            {
                "name": name,
                "edges": edges.tolist(),
                "proportions": _proportions(column, edges).tolist(),
                "quantiles": np.quantile(column, probabilities).tolist(),
                "mean": float(column.mean()),
            }
        )
    return {"format_version": REFERENCE_FORMAT, "n_rows": int(X.shape[0]), "features": features}


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
        self.counts = [np.zeros(e.size + 1, dtype=np.int64) for e in self.edges]
        self.sums = np.zeros(len(self.features))
        self.finite = np.zeros(len(self.features), dtype=np.int64)
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
        if np.isfinite(sums).all():  # no NaN/inf anywhere (or an overflow, which takes the column-wise path)
            self._add_counts_finite(X)
            self.sums += sums
            self.finite += X.shape[0]
        else:
            for index, edges in enumerate(self.edges):
                column = X[:, index]
                column = column[np.isfinite(column)]
                self.counts[index] += _bin_counts(column, edges)
                self.sums[index] += column.sum()
                self.finite[index] += column.size
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

    def _add_counts_finite(self, X: np.ndarray) -> None:
        """Bin counts without NaN/inf, the same as `_bin_counts` (right-closed bins) at a third of its time: the
        count of bin i is #(x <= edge i) - #(x <= edge i-1), one vectorised comparison and count per edge."""
        n_rows = X.shape[0]
        for index, edges in enumerate(self.edges):
            column = X[:, index]
            below = np.array([0, *(np.count_nonzero(column <= edge) for edge in edges.tolist()), n_rows], np.int64)
            self.counts[index] += below[1:] - below[:-1]

    def report(
        self, psi_threshold: float = 0.25, ks_alpha: float = 0.01, min_drifted_share: float = 0.1
    ) -> DriftReport:
        sample = np.concatenate(self.samples) if self.samples else np.empty((0, len(self.features)))
        results = []
        if self.n_rows == 0:  # nothing came in: nothing has drifted (and no retrain should start)
            return DriftReport([], psi_threshold, ks_alpha, min_drifted_share, 0)
        for index, feature in enumerate(self.features):
            total = max(int(self.counts[index].sum()), 1)
            psi = population_stability_index(feature["proportions"], self.counts[index] / total)
            column = sample[:, index]
            column = column[np.isfinite(column)]
            if column.size:
                # two-sample test against the quantile sketch: handles the ties of discrete features correctly,
                # where a one-sample test against an interpolated CDF would flag every pixel-like feature
                ks = stats.ks_2samp(column, np.asarray(feature["quantiles"], dtype=np.float64))
                ks_statistic, ks_pvalue = float(ks.statistic), float(ks.pvalue)
            else:  # no finite value in this feature: nothing to compare (missing values are the contract's job)
                ks_statistic, ks_pvalue = 0.0, 1.0
            batch_mean = float(self.sums[index] / self.finite[index]) if self.finite[index] else float("nan")
            results.append(
                FeatureDrift(
                    feature=feature["name"],
                    psi=psi,
                    ks_statistic=ks_statistic,
                    ks_pvalue=ks_pvalue,
                    reference_mean=float(feature["mean"]),
                    batch_mean=batch_mean,
                    drifted=bool(self.finite[index]) and psi > psi_threshold and ks_pvalue < ks_alpha,
                )
            )
        return DriftReport(results, psi_threshold, ks_alpha, min_drifted_share, self.n_rows)


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
            "psi": round(f.psi, 4),
            "ks statistic": round(f.ks_statistic, 4),
            "ks p-value": float(f"{f.ks_pvalue:.3g}"),
            "reference mean": round(f.reference_mean, 4),
            "batch mean": round(f.batch_mean, 4),
            "drifted": "yes" if f.drifted else "no",
        }
        for f in ordered
    ]
