"""Turning files, raw mappings and run parameters into a validated `PipelineConfig`; every problem names its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_pipeline.config.errors import ConfigError, describe_error
from mlops_pipeline.config.overrides import apply_overrides
from mlops_pipeline.config.pipeline import PipelineConfig


def parse_config(raw: Any, origin: str = "<config>") -> PipelineConfig:
    """Validate a mapping into a PipelineConfig; every problem is listed, each naming its key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        model_section = raw.get("model")
        single = not (isinstance(model_section, dict) and "candidates" in model_section)
        problems = "\n".join(f"  - {describe_error(e, single)}" for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{origin}: invalid configuration\n{problems}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping; parse errors name the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return raw if raw is not None else {}


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Load, override and validate a config file."""
    path = Path(path)
    raw = read_config_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, origin=str(path))


def with_data_source(config: PipelineConfig, source: str | None, target: str | None) -> PipelineConfig:
    """The config with `data.source` / `data.target` replaced (the CLI's --data and --target), re-validated."""
    updates = {key: value for key, value in (("source", source), ("target", target)) if value is not None}
    if not updates:
        return config
    # only what was set: defaults that depend on the data source (the gate's bounds) follow the new source
    raw = config.model_dump(mode="json", exclude_unset=True)
    raw.setdefault("data", {}).update(updates)
    return parse_config(raw, origin="--data/--target")


def fill_from_defaults(config: PipelineConfig, defaults: dict[str, Any]) -> PipelineConfig:
    """`config` with every key it did not set explicitly taken from `defaults` (a deployment's config).

    Prefect merges run parameters one level deep, so a run of a deployment given `{"model": {...}}` would otherwise
    silently train with the flow's defaults for every other section (the digits data and model name).
    """
    explicit = config.model_dump(mode="json", exclude_unset=True)
    # section by section, key by key; a key's value (a threshold table, the candidate list) replaces whole
    merged = {section: {**defaults.get(section, {}), **explicit.get(section, {})} for section in {*defaults, *explicit}}
    return parse_config(merged, origin="run parameters over the deployment's config")
