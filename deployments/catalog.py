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
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.flows.batch_infer import batch_inference
from mlops_pipeline.flows.pipeline import training_pipeline
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger, DeploymentTriggerTypes, TriggerTypes
from prefect.schedules import Cron

from mlops_pipeline.batch import DRIFT_EVENT, model_resource_id
from mlops_pipeline.config import InferenceConfig, apply_overrides, load_config, parse_config
from mlops_pipeline.settings import Settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_STORE_ENV = Settings.variable("model_store_root")
PROJECT_DIR_ENV = Settings.variable("project_dir")
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
    # Retrain when batch inference reports drift for this config's model. One deployment per model name has it,
    # so a drift event starts one retrain, not one per config that shares the name.
    retrain_on_drift: bool = True


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
        retrain_on_drift=False,  # same model name as digits-retrain, which answers drift events for it
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
    root = model_store_root if model_store_root is not None else get_settings().model_store_root
    overrides = [f"registry.root={root}"] if root else []
    config = load_config(path, overrides)
    return {"config": config.model_dump(mode="json")}


def enter_project_directory() -> dict[str, str]:
    """The pull step of `deployments/prefect.yaml`: run the flow from this worker's own checkout of the project.

    That is $MLOPS_PROJECT_DIR if the worker sets it, else the checkout this package is installed from (the
    project is installed editable, `pip install -e .`, on every host). So worker hosts need the project, not at
    the path `prefect deploy` ran in. Returns the folder, like Prefect's `set_working_directory` step.
    """
    directory = (get_settings().project_dir or PROJECT_ROOT).resolve()
    os.chdir(directory)
    return {"directory": str(directory)}


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


def drift_trigger(model_name: str) -> DeploymentEventTrigger:
    """Start a run of the deployment when batch inference reports drift for `model_name`."""
    return DeploymentEventTrigger(
        name=f"retrain {model_name} on drift",
        description=f"batch inference found the incoming features of {model_name} drifted from its training data",
        expect={DRIFT_EVENT},
        match={"prefect.resource.id": model_resource_id(model_name)},
    )


def retraining_deployment(spec: RetrainingDeployment, **options: Any) -> RunnerDeployment:
    """The served form of one retraining deployment; `options` go to `Flow.to_deployment`."""
    parameters = pipeline_parameters(spec.config_file)
    triggers: list[DeploymentTriggerTypes | TriggerTypes] = []
    if spec.retrain_on_drift:
        triggers.append(drift_trigger(parameters["config"]["registry"]["model_name"]))
    return built(
        training_pipeline.to_deployment(
            name=spec.name,
            description=spec.description,
            schedules=[Cron(spec.cron, timezone=spec.timezone)],
            parameters=parameters,
            tags=list(spec.tags),
            triggers=triggers,
            **options,
        )
    )


BATCH_INFERENCE_NAME = "batch-infer"


def batch_inference_parameters(model_store_root: str | None = None) -> dict[str, Any]:
    """Defaults of the batch-inference deployment; a run names its own data, output and model."""
    root = model_store_root if model_store_root is not None else get_settings().model_store_root
    config = InferenceConfig(**({"models_root": root} if root else {}))
    return {"config": config.model_dump(mode="json")}


def batch_inference_deployment() -> RunnerDeployment:
    """On demand (no schedule): score a file with a champion's int8 model and measure drift."""
    return built(
        batch_inference.to_deployment(
            name=BATCH_INFERENCE_NAME,
            description="Score a data file with a model's champion int8 model; drift in the features emits "
            f"`{DRIFT_EVENT}`, which starts that model's retraining deployment.",
            parameters=batch_inference_parameters(),
            tags=["inference"],
        )
    )


def built(deployment: RunnerDeployment | Coroutine[Any, Any, RunnerDeployment]) -> RunnerDeployment:
    """`Flow.to_deployment`'s result when called from synchronous code, as here (in a running event loop it
    returns a coroutine, which these builders do not support)."""
    if not isinstance(deployment, RunnerDeployment):
        raise TypeError("build deployments outside a running event loop (Flow.to_deployment returned a coroutine)")
    return deployment


def served_deployments() -> list[RunnerDeployment]:
    """Every deployment `deployments/serve.py` serves."""
    return [*(retraining_deployment(spec) for spec in RETRAINING), batch_inference_deployment()]
