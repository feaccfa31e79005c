"""Empty stand-ins for the readme and every package pyproject.toml lists, at its package-dir folder.

The Dockerfile's dependency layer installs the project from pyproject.toml alone (then uninstalls it, keeping the
dependencies), so that editing code or docs reuses that layer; setuptools needs each listed package's folder to exist.
Run from the folder holding pyproject.toml; standard library only (it runs before anything is installed).
"""

from __future__ import annotations

import tomllib
from pathlib import Path


def package_folder(package: str, package_dir: dict[str, str]) -> Path:
    """The folder setuptools builds `package` from: the longest mapped prefix, then the rest of the dotted name."""
    prefix = max((name for name in package_dir if package == name or package.startswith(name + ".")), key=len)
    return Path(package_dir[prefix], *package[len(prefix) :].split(".")[1:])


def main() -> None:
    setuptools = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    for package in setuptools["packages"]:
        folder = package_folder(package, setuptools["package-dir"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch()
    Path("README.md").touch()


if __name__ == "__main__":
    main()
