"""Deployment parameters may not point the model store or the data outside the allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_pipeline.config import PipelineConfig, parse_config
from mlops_pipeline.security import ALLOWED_ROOTS_ENV, PathNotAllowed, allowed_roots, check_allowed_paths


def _config(root: str, source: str = "digits") -> PipelineConfig:
    raw = PipelineConfig().model_dump(mode="json")
    raw["registry"]["root"] = root
    raw["data"]["source"] = source
    return parse_config(raw, origin="test")


@pytest.mark.parametrize(
    ("root", "source", "refused"),
    [
        ("models", "digits", None),
        ("models/sub", "data/train.csv", None),
        ("/srv/store", "digits", None),  # the deployment's own store root
        ("/etc", "digits", "registry.root=/etc"),
        ("models/../../outside", "digits", "registry.root="),
        ("models", "/etc/passwd", "data.source=/etc/passwd"),
        ("models", "file:///etc/passwd", "data.source=/etc/passwd"),
        ("models", "https://example.org/d.csv", None),  # remote: not a worker path
    ],
)
def test_allow_list_defaults_to_project_and_deployment_store(
    tmp_path: Path, root: str, source: str, refused: str | None
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    roots = allowed_roots({}, project, {"registry": {"root": "/srv/store"}})
    if refused is None:
        check_allowed_paths(_config(root, source), roots, project)
    else:
        with pytest.raises(PathNotAllowed, match=refused) as error:
            check_allowed_paths(_config(root, source), roots, project)
        assert ALLOWED_ROOTS_ENV in str(error.value) and str(project) in str(error.value)


def test_allow_list_from_the_environment_replaces_the_defaults(tmp_path: Path) -> None:
    roots = allowed_roots({ALLOWED_ROOTS_ENV: os.pathsep.join(["/srv/a", "/srv/b"])}, tmp_path, None)
    assert roots == [Path("/srv/a"), Path("/srv/b")]
    check_allowed_paths(_config("/srv/b/models"), roots, tmp_path)
    with pytest.raises(PathNotAllowed, match="registry.root"):
        check_allowed_paths(_config("models"), roots, tmp_path)
