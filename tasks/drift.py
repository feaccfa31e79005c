"""The `drift_reference` task: the training-data summary batch inference measures drift against."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops_pipeline.drift import learn_reference
from mlops_pipeline.validate import PreparedData


@task(name="drift_reference", persist_result=False, cache_policy=NO_CACHE)
def drift_reference(data: PreparedData) -> dict[str, Any]:
    """Per-feature bins and counts of the training rows (a summary: no training rows are kept); category
    frequencies and date ranges for the categorical and datetime columns of a mixed table."""
    return learn_reference(data.X_train, data.feature_names, columns=data.columns)
