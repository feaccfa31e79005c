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


def _proportions(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # right-closed bins: a value equal to an edge falls in the lower bin, so a constant feature is one bin
    counts = np.bincount(np.searchsorted(edges, column, side="left"), minlength=edges.size + 1)
    return counts / max(column.size, 1)


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
        features.append({
            "name": name,
            "edges": edges.tolist(),
            "proportions": _proportions(column, edges).tolist(),
            "quantiles": np.quantile(column, probabilities).tolist(),
            "mean": float(column.mean()),
        })
    return {"format_version": REFERENCE_FORMAT, "n_rows": int(X.shape[0]), "features": features}


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, dtype=np.float64), _EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=np.float64), _EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def measure_drift(
    reference: dict[str, Any], X: np.ndarray, psi_threshold: float = 0.25, ks_alpha: float = 0.01,
    min_drifted_share: float = 0.1,
) -> DriftReport:
    """Per-feature PSI and KS test of a batch against the training reference."""
    X = np.asarray(X, dtype=np.float64)
    features = reference["features"]
    if X.ndim != 2 or X.shape[1] != len(features):
        raise ValueError(f"expected a 2-D array with {len(features)} columns, got shape {X.shape}")
    results = []
    for index, feature in enumerate(features):
        column = X[:, index]
        column = column[np.isfinite(column)]
        edges = np.asarray(feature["edges"], dtype=np.float64)
        psi = population_stability_index(feature["proportions"], _proportions(column, edges))
        quantiles = np.asarray(feature["quantiles"], dtype=np.float64)
        if column.size:
            # two-sample test against the quantile sketch: handles the ties of discrete features correctly,
            # where a one-sample test against an interpolated CDF would flag every pixel-like feature
            ks = stats.ks_2samp(column, quantiles)
            ks_statistic, ks_pvalue = float(ks.statistic), float(ks.pvalue)
        else:
            ks_statistic, ks_pvalue = 1.0, 0.0
        results.append(FeatureDrift(
            feature=feature["name"], psi=psi, ks_statistic=ks_statistic, ks_pvalue=ks_pvalue,
            reference_mean=float(feature["mean"]), batch_mean=float(column.mean()) if column.size else float("nan"),
            drifted=psi > psi_threshold and ks_pvalue < ks_alpha,
        ))
    return DriftReport(results, psi_threshold, ks_alpha, min_drifted_share, int(X.shape[0]))


def drift_rows(report: DriftReport) -> list[dict[str, Any]]:
    """Rows of the drift table artifact, most shifted first."""
    ordered = sorted(report.features, key=lambda f: f.psi, reverse=True)
    return [
        {"feature": f.feature, "psi": round(f.psi, 4), "ks statistic": round(f.ks_statistic, 4),
         "ks p-value": float(f"{f.ks_pvalue:.3g}"), "reference mean": round(f.reference_mean, 4),
         "batch mean": round(f.batch_mean, 4), "drifted": "yes" if f.drifted else "no"}
        for f in ordered
    ]
