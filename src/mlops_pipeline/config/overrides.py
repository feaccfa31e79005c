"""`--set section.key=value` overrides, applied to a raw config mapping before it is validated."""

from __future__ import annotations

import json
from typing import Any

import yaml

from mlops_pipeline.config.errors import ConfigError
from mlops_pipeline.config.model_section import SELECTION_KEYS


def apply_overrides(raw: dict[str, Any], overrides: list[str], origin: str = "--set") -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML scalars) to a raw config mapping.

    A number in the key indexes a list (`model.candidates.1.C=0.5`). `model.<key>` on a model section that
    holds exactly one candidate edits that candidate, so `--set model.C=0.5` works on the single-model form and
    on a config that was normalised into `candidates` (as deployments store it).
    """
    result = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{origin} {item!r}: expected KEY=VALUE, e.g. model.C=0.5")
        node: Any = result
        parts = key.strip().split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{origin} {item!r}: '{part}' is not an index of a {len(node)}-item list")
                if last:
                    node[int(part)] = _override_value(value)
                else:
                    node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"{origin} {item!r}: '{parts[depth - 1]}' is not a section")
            if depth == 1 and parts[0] == "model" and _is_candidate_key(node, part):
                if len(node["candidates"]) != 1:
                    raise ConfigError(
                        f"{origin} {item!r}: model has {len(node['candidates'])} candidates; "
                        f"name one, e.g. model.candidates.0.{part}"
                    )
                node = node["candidates"][0]
            if last:
                node[part] = _override_value(value)
            else:
                node = node.setdefault(part, {})
    return result


def _is_candidate_key(model_section: dict[str, Any], key: str) -> bool:
    return isinstance(model_section.get("candidates"), list) and key not in SELECTION_KEYS | {"candidates"}


def _override_value(text: str) -> Any:
    return yaml.safe_load(text) if text.strip() else None
