"""The data sets that ship with scikit-learn (digits, iris, wine, breast_cancer, diabetes; california_housing from
its download cache), by name, as a `Dataset`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.data._dataset import Dataset, fingerprint_arrays
from mlops_pipeline.data._errors import DataLoadError


def _sklearn_loader(function_name: str, problem: ProblemKind) -> Callable[[], tuple[Any, ProblemKind]]:
    def load() -> tuple[Any, ProblemKind]:
        import sklearn.datasets

        return getattr(sklearn.datasets, function_name)(), problem

    return load


def _load_california_housing() -> tuple[Any, ProblemKind]:
    from sklearn.datasets import fetch_california_housing, get_data_home

    try:
        # n_retries=0: offline, scikit-learn's own retries only delay the same failure.
        return fetch_california_housing(n_retries=0), "regression"
    except OSError as exc:  # URLError, socket errors, an unwritable cache folder
        raise DataLoadError(
            f"data.source 'california_housing': not in scikit-learn's cache ({get_data_home()}) and it could not "
            f"be downloaded ({exc}). On an offline machine, provide the data as a file instead: on a machine with "
            'internet run `python -c "from sklearn.datasets import fetch_california_housing as f; '
            "f(as_frame=True).frame.to_csv('california.csv', index=False)\"`, copy california.csv here and run "
            "`python flows/pipeline.py --data california.csv --target MedHouseVal` (or copy scikit-learn's cache "
            f"folder to {get_data_home()})."
        ) from None


BUILTIN_DATASETS: dict[str, Callable[[], tuple[Any, ProblemKind]]] = {
    "digits": _sklearn_loader("load_digits", "classification"),
    "iris": _sklearn_loader("load_iris", "classification"),
    "wine": _sklearn_loader("load_wine", "classification"),
    "breast_cancer": _sklearn_loader("load_breast_cancer", "classification"),
    "diabetes": _sklearn_loader("load_diabetes", "regression"),
    "california_housing": _load_california_housing,
}


# Values every feature of a built-in set can take, whatever its training split covered: the contract checks served
# rows against these (a drawing may put ink in a corner no training digit touched).
FEATURE_DOMAINS: dict[str, tuple[float, float]] = {"digits": (0.0, 16.0)}  # counts of on pixels in 4x4 blocks


def load_builtin(name: str) -> Dataset:
    """Load one of the data sets that ship with scikit-learn (california_housing: from its download cache)."""
    try:
        loader = BUILTIN_DATASETS[name]
    except KeyError:
        raise DataLoadError(
            f"data.source '{name}': unknown built-in data set (known: {', '.join(sorted(BUILTIN_DATASETS))})"
        ) from None
    bunch, problem = loader()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    feature_names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    domain = FEATURE_DOMAINS.get(name)
    return Dataset(
        X=X,
        y=y,
        feature_names=feature_names,
        target_name="target",
        source=f"builtin:{name}",
        fingerprint=fingerprint_arrays(X, y, names=feature_names),
        problem=problem,
        info={} if domain is None else {"feature_domain": domain},
    )
