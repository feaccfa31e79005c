"""What is deployed: one retraining deployment per shipped config, on a cron schedule.

`deployments/serve.py` serves these; `deployments/prefect.yaml` declares the same for `prefect deploy --all`
(a test keeps the two in step). The config file is the deployment's default parameter, so the UI's Custom run
form opens pre-filled with it.

The model store root can be pointed elsewhere without editing the config files: set MLOPS_MODEL_STORE_ROOT
when serving or deploying, and it replaces `registry.root` in the deployments' default parameters.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.pipeline import training_pipeline
from tasks.config import apply_overrides, load_config, parse_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_STORE_ENV = "MLOPS_MODEL_STORE_ROOT"
RETRAIN_CRON = "0 3 * * *"  # daily at 03:00 ...
RETRAIN_TIMEZONE = "UTC"  # ... in an explicit zone, so the time does not depend on the server's locale


@dataclass(frozen=True)
class RetrainingDeployment:
    """A retraining deployment of the `training-pipeline` flow for one config file."""

    name: str
    config_file: str  # relative to the project root
    description: str
    cron: str = RETRAIN_CRON
    timezone: str = RETRAIN_TIMEZONE
    tags: tuple[str, ...] = ("retraining",)


RETRAINING: tuple[RetrainingDeployment, ...] = (
    RetrainingDeployment(
        name="digits-retrain",
        config_file="config/digits.yaml",
        description="Retrain the digits classifier (config/digits.yaml) daily; promote only if every gate passes.",
    ),
    RetrainingDeployment(
        name="diabetes-retrain",
        config_file="config/diabetes.yaml",
        description="Retrain the diabetes regressor (config/diabetes.yaml) daily; promote only if every gate passes.",
    ),
    RetrainingDeployment(
        name="digits-candidates-retrain",
        config_file="config/digits-candidates.yaml",
        description="Retrain the digits candidates (config/digits-candidates.yaml) daily and promote the best one "
        "only if every gate passes.",
    ),
    RetrainingDeployment(
        name="digits-mlp-retrain",
        config_file="config/digits-mlp.yaml",
        description="Retrain the digits MLP (config/digits-mlp.yaml) daily; promote only if every gate passes.",
    ),
)


def pipeline_parameters(config_file: str, model_store_root: str | None = None) -> dict[str, Any]:
    """A deployment's default parameters: `{"config": <the validated config file as JSON>}`.

    `model_store_root` (default: $MLOPS_MODEL_STORE_ROOT if set) replaces `registry.root`. Also used as a build
    step by `deployments/prefect.yaml`, which is why it takes and returns plain data.
    """
    path = Path(config_file)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    root = model_store_root if model_store_root is not None else os.environ.get(MODEL_STORE_ENV)
    overrides = [f"registry.root={root}"] if root else []
    config = load_config(path, overrides)
    return {"config": config.model_dump(mode="json")}


def edited_parameters(parameters: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A deployment's parameters with `section.key=value` overrides applied, as a complete config.

    Parameters passed to a run replace the deployment's `config` whole (Prefect merges parameters one level
    deep), so a run that should change one hyperparameter must send the full config with that one value edited
    — which is what the UI's Custom run form does, and what this builds for scripts.
    """
    edited = copy.deepcopy(parameters)
    edited["config"] = apply_overrides(parameters["config"], overrides, origin="override")
    parse_config(edited["config"], origin="edited parameters")  # fail here, naming the key, not in the run
    return edited


def retraining_deployment(spec: RetrainingDeployment, **options: Any) -> RunnerDeployment:
    """The served form of one retraining deployment; `options` go to `Flow.to_deployment` (e.g. triggers)."""
    return training_pipeline.to_deployment(
        name=spec.name,
        description=spec.description,
        schedules=[Cron(spec.cron, timezone=spec.timezone)],
        parameters=pipeline_parameters(spec.config_file),
        tags=list(spec.tags),
        **options,
    )


def served_deployments() -> list[RunnerDeployment]:
    """Every deployment `deployments/serve.py` serves."""
    return [retraining_deployment(spec) for spec in RETRAINING]
