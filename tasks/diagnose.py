"""The `diagnose` task: per-class metrics and plots (classification) or residuals (regression) for the card; the
`feature_importance` task: permutation importance per input column, as a table and a plot artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from mlops_pipeline import reports
from mlops_pipeline.importance import FeatureImportance
from mlops_pipeline.importance import feature_importance as permutation_importance
from mlops_pipeline.plots import svg_data_uri
from mlops_pipeline.reports import Diagnostics, artifact_key
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


@task(name="diagnose", persist_result=False, cache_policy=NO_CACHE)
def diagnose(trained: TrainedModel, data: PreparedData, model_name: str) -> Diagnostics:
    """What the float model gets wrong on the held-out split: numbers for the card, plots for the model folder."""
    return reports.diagnose(data.problem, data.y_test, trained.estimator.predict(data.X_test), model_name)


@task(name="feature_importance", persist_result=False, cache_policy=NO_CACHE)
def feature_importance(trained: TrainedModel, data: PreparedData, model_name: str) -> FeatureImportance:
    """Permutation importance of each input column on the held-out split (seeded): a table and an SVG plot
    artifact; the numbers go into the model card's diagnostics."""
    result = permutation_importance(
        trained.estimator, data.X_test, data.y_test, data.feature_names, data.problem, data.seed
    )
    how = f"drop of {result.metric} when the column is shuffled ({result.n_repeats} seeded repeats, {result.n_rows} "
    create_table_artifact(
        key=artifact_key(model_name, "feature-importance"),
        table=result.rows,
        description=f"{model_name}: permutation importance per input column, {how}held-out rows)",
    )
    svg = result.svg(model_name)
    create_markdown_artifact(
        key=artifact_key(model_name, "feature-importance-plot"),
        markdown=f"![feature importance]({svg_data_uri(svg)})\n\nPermutation importance: {how}held-out rows).\n",
        description=f"{model_name}: permutation importance (held-out split)",
    )
    return result
