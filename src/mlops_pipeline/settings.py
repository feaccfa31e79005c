"""Every `MLOPS_*` environment variable, read in one place into one validated `Settings` object.

The table of what each one means is docs/configuration.md#environment-variables (keep the two in step: a test
checks that every field is listed there). Code asks `get_settings()` instead of reading `os.environ`; functions that
take an `environ` mapping (so tests can pass one) use `Settings.from_environ(environ)`. A wrong value raises
`SettingsError` naming the variable and what it accepts; the flow commands print it as a one-line `error:` and
exit 2, as for a wrong option.

Modelled on the FastAPI full-stack template's `core/config.py`, but a plain pydantic model filled from a mapping
rather than pydantic-settings: the same validation, plus what the callers need, reading an explicit mapping (a
deployment's job environment, a test's dict) and one-line errors in the `--option` style. Nothing is read at
import time: `get_settings()` reads the environment when first asked, and again only when an `MLOPS_*` variable
has changed since (tests set them per test; a process that never changes them reads them once).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, ValidationError

PREFIX = "MLOPS_"
TASK_RUNNER_CHOICES = "'thread', 'dask' or 'dask=tcp://HOST:PORT'"


class SettingsError(ValueError):
    """An `MLOPS_*` variable has a value its setting does not accept; the message names the variable."""


class TaskRunnerSpecError(SettingsError):
    """A task runner spec (`--task-runner` or `MLOPS_TASK_RUNNER`) is not one of the accepted forms."""


def check_task_runner_spec(spec: str | None, origin: str = "--task-runner") -> str | None:
    """`spec` when it names Dask (`dask` or `dask=SCHEME://HOST:PORT`); None for the flow's default runner
    (unset, empty or `thread`). The runner itself is built by mlops_pipeline.runtime.runners."""
    if spec is None or spec.strip() in ("", "thread"):
        return None
    kind, _, address = spec.strip().partition("=")
    if kind != "dask":
        raise TaskRunnerSpecError(f"{origin} {spec!r}: expected {TASK_RUNNER_CHOICES}")
    if address and "://" not in address:
        raise TaskRunnerSpecError(f"{origin} {spec!r}: the scheduler address needs a scheme, e.g. tcp://")
    return spec.strip()


def _positive(seconds: float) -> float:
    if not seconds > 0:  # also refuses nan
        raise ValueError("expected a number of seconds > 0")
    return seconds


def _object_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip().rstrip("/")
    if "://" not in url:
        raise ValueError(
            "expected a URL such as s3://bucket/prefix (local results are set by [results] local_storage_path "
            "in prefect.toml)"
        )
    return url


def _task_runner(spec: str | None) -> str | None:
    return check_task_runner_spec(spec, origin=f"{PREFIX}TASK_RUNNER")


class Settings(BaseModel):
    """The `MLOPS_*` variables (field `x` is `MLOPS_X`); unset or empty variables take the defaults below."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, alias_generator=str.upper)

    # with no PREFECT_API_URL: one shared local Prefect server per PREFECT_HOME, or a temporary one per command
    local_server: Literal["shared", "per-run"] = "shared"
    # the shared local server stops after this long with no request and no open connection
    local_server_idle_seconds: Annotated[float, AfterValidator(_positive)] = 1200.0
    # the training flow's task runner, as --task-runner: None (thread), "dask" or "dask=tcp://HOST:PORT"
    task_runner: Annotated[str | None, AfterValidator(_task_runner)] = None
    # replaces registry.root in the deployments' default parameters (and the served batch-inference default)
    model_store_root: str | None = None
    # the checkout a deployment's flow runs from on this worker (default: the one the package is installed from)
    project_dir: Path | None = None
    # os.pathsep-separated folders and object-store URLs a deployment run may use (split by mlops_pipeline.security)
    allowed_roots: str | None = None
    # signs every model card at publish and makes every load check the signature
    store_hmac_key: SecretStr | None = None
    # where the cached tasks keep their results (any fsspec URL); unset: prefect.toml's local results folder
    result_storage: Annotated[str | None, AfterValidator(_object_url)] = None

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of a field: `local_server` -> `MLOPS_LOCAL_SERVER`."""
        return PREFIX + field.upper()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings `environ` holds (other variables are ignored); SettingsError names each wrong one."""
        # an empty (or blank) variable counts as unset: `VAR= command` is the shell's way to clear one
        values = {k[len(PREFIX) :]: v for k, v in environ.items() if k.startswith(PREFIX) and v.strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as invalid:
            errors = invalid.errors()
            cause = (errors[0].get("ctx") or {}).get("error")
            if len(errors) == 1 and isinstance(cause, SettingsError):  # e.g. TaskRunnerSpecError, raised as is
                raise cause from None
            raise SettingsError("; ".join(_message(error, values) for error in errors)) from None


def _message(error: Any, values: Mapping[str, str]) -> str:
    """One pydantic error as `MLOPS_X='raw': what it accepts` (a task runner error already says it all)."""
    key = str(error["loc"][0])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, SettingsError):
        return str(cause)
    if error["type"] == "literal_error":
        reason = "expected one of " + error["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
    elif error["type"] == "float_parsing":
        reason = "expected a number of seconds > 0"
    else:
        reason = str(cause) if cause is not None else error["msg"]
    return f"{PREFIX}{key}={values.get(key)!r}: {reason}"


def get_settings() -> Settings:
    """This process's settings, from `os.environ` (SettingsError names a wrong variable)."""
    return _settings_for(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


@functools.lru_cache(maxsize=8)
def _settings_for(variables: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environ(dict(variables))
