"""The shape of the house: the library imports without Prefect, the training flow body stays wiring."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

from conftest import REPO_ROOT

IMPORT_EVERY_LIBRARY_MODULE = """
import importlib, pkgutil, sys
sys.modules["prefect"] = None  # any `import prefect...` now raises ImportError
import mlops_pipeline
names = [m.name for m in pkgutil.walk_packages(mlops_pipeline.__path__, "mlops_pipeline.")]
names = [n for n in names if n.split(".")[1] not in ("tasks", "flows", "deployments", "serving", "runtime")]
names = [n for n in names if not n.endswith(".__main__")]  # a command, run only with python -m
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_the_library_imports_with_prefect_absent() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_LIBRARY_MODULE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 50  # every module of src/mlops_pipeline, subpackages included, was imported


def test_the_quantized_model_imports_with_prefect_absent() -> None:
    code = 'import sys; sys.modules["prefect"] = None; from mlops_pipeline.quantize import QuantizedModel'
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _function(path: str, name: str) -> ast.FunctionDef:
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def test_the_training_flow_body_is_at_most_40_lines() -> None:
    flow = _function("flows/pipeline.py", "training_pipeline")
    assert flow.end_lineno is not None
    assert flow.end_lineno - flow.lineno + 1 <= 40


def test_no_task_is_named_like_a_test() -> None:
    for path in sorted((REPO_ROOT / "tasks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert not [n for n in names if n.startswith("test")], path


MAX_MODULE_LINES = 450


def test_no_module_exceeds_the_line_budget() -> None:
    """A newcomer can hold any one module: none under src/, flows/, serving/ or tasks/ passes 450 lines."""
    too_long = {}
    for folder in ("src", "flows", "serving", "tasks"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            n_lines = len(path.read_text(encoding="utf-8").splitlines())
            if n_lines > MAX_MODULE_LINES:
                too_long[str(path.relative_to(REPO_ROOT))] = n_lines
    assert too_long == {}


def test_every_library_package_is_in_the_wheel() -> None:
    """pyproject lists packages by hand (the package-dir mapping needs it): a new subpackage must be listed."""
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(settings["packages"])
    library = REPO_ROOT / "src" / "mlops_pipeline"
    found = {
        ".".join(("mlops_pipeline", *init.parent.relative_to(library).parts)) for init in library.rglob("__init__.py")
    }
    assert found - listed == set()


def test_test_modules_have_unique_names() -> None:
    # pytest imports test modules by their basename (no __init__.py in tests/): two files of one name in different
    # folders stop the whole collection with "import file mismatch"
    seen: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(REPO_ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
