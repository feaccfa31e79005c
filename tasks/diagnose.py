"""The `diagnose` task: per-class metrics and plots (classification) or residuals (regression) for the card."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops_pipeline import reports
from mlops_pipeline.reports import Diagnostics
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


@task(name="diagnose", persist_result=False, cache_policy=NO_CACHE)
def diagnose(trained: TrainedModel, data: PreparedData, model_name: str) -> Diagnostics:
    """What the float model gets wrong on the held-out split: numbers for the card, plots for the model folder."""
    return reports.diagnose(data.problem, data.y_test, trained.estimator.predict(data.X_test), model_name)
