"""A real `prefect server` with authentication on: unauthenticated requests are refused, an authenticated client
runs a served deployment, and a run whose parameters point the store outside the allowed roots is refused."""

from __future__ import annotations

import base64
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import background_process, free_port, subprocess_env, wait_until
from mlops_pipeline.deployments import catalog
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e
AUTH = "admin:chaos-test-secret"
RUN_TIMEOUT = 240


def _status(url: str, auth: str | None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_deployment_runs_against_a_server_with_auth_and_the_allow_list_holds(tmp_path: Path) -> None:
    port = free_port()
    server_env = subprocess_env(tmp_path / "server")
    server_env.update(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_API_AUTH_STRING=AUTH,
    )
    Path(server_env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # subprocess_env made it already
    api = f"http://127.0.0.1:{port}/api"
    prefect = str(Path(sys.executable).with_name("prefect"))
    store_root = tmp_path / "models"
    with background_process(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], server_env, tmp_path / "server.log"
    ) as server:
        wait_until(
            lambda: _status(f"{api}/health", AUTH) == 200,
            server,
            tmp_path / "server.log",
            "prefect server",
            timeout=180,
        )
        assert _status(f"{api}/flows/00000000-0000-0000-0000-000000000000", None) == 401
        assert _status(f"{api}/flows/00000000-0000-0000-0000-000000000000", "admin:wrong") == 401

        serve_env = subprocess_env(tmp_path / "serve")
        serve_env.update(
            PREFECT_API_URL=api,
            PREFECT_API_AUTH_STRING=AUTH,
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            **{catalog.MODEL_STORE_ENV: str(store_root)},
        )
        spec = catalog.RETRAINING[0]
        name = f"training-pipeline/{spec.name}"
        with (
            background_process([sys.executable, "deployments/serve.py"], serve_env, tmp_path / "serve.log") as serve,
            temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}),
        ):

            def registered() -> bool:
                with get_client(sync_client=True) as client:
                    client.read_deployment_by_name(name)
                return True

            wait_until(lambda: _safe(registered), serve, tmp_path / "serve.log", "deployments/serve.py", timeout=180)
            run = run_deployment(name, timeout=RUN_TIMEOUT)
            assert run.state is not None and run.state.is_completed(), run.state
            model_name = catalog.pipeline_parameters(spec.config_file)["config"]["registry"]["model_name"]
            champion = ModelStore(store_root, model_name).champion()
            assert champion is not None

            evil = catalog.edited_parameters(
                catalog.pipeline_parameters(spec.config_file, str(store_root)),
                [f"registry.root={tmp_path / 'elsewhere'}"],
            )
            refused = run_deployment(name, parameters=evil, timeout=RUN_TIMEOUT)
            assert refused.state is not None and refused.state.is_failed(), refused.state
            assert "outside the roots this deployment allows" in (refused.state.message or ""), refused.state
            assert not (tmp_path / "elsewhere").exists()


def _safe(check) -> bool:  # type: ignore[no-untyped-def]
    try:
        return check()
    except Exception:
        return False
