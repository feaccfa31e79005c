"""Config errors that name the key at fault: pydantic's error locations turned into the dotted keys users write."""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, Any

from pydantic import BaseModel

from mlops_pipeline.config.model_section import SELECTION_KEYS
from mlops_pipeline.config.pipeline import PipelineConfig


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the file and the key."""


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (one, or the members of a union)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _model_classes(arg)]


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _allowed_keys(loc: tuple[Any, ...], single_model_form: bool = False) -> tuple[str, list[str]]:
    """Walk an error location through the config models; return the dotted key and the keys valid beside it.

    With `single_model_form` (the model section was written as one model, not a candidates list), the
    location `model.candidates[0].C` is shown as the user wrote it: `model.C`.
    """
    models: list[type[BaseModel]] = [PipelineConfig]
    path: list[str | int] = []
    for part in loc[:-1]:
        if isinstance(part, int):
            path.append(part)
            continue
        part = str(part)
        matching = [m for m in models if part in m.model_fields]
        if matching:
            path.append(part)
            models = _model_classes(matching[0].model_fields[part].annotation)
            continue
        # a discriminated-union tag (e.g. "logistic_regression") sits in the location between section and key
        tagged = [m for m in models if "kind" in m.model_fields and m.model_fields["kind"].default == part]
        if tagged:
            models = tagged
    last = loc[-1] if loc else "<top level>"
    path.append(last if isinstance(last, int) else str(last))
    allowed = sorted({k for m in models for k in m.model_fields})
    if single_model_form and path[:3] == ["model", "candidates", 0]:
        path = ["model", *path[3:]]
        if len(path) == 2:  # a key of the model itself: the selection keys are allowed beside it too
            allowed = sorted({*allowed, *SELECTION_KEYS})
    return _dotted(path), allowed


def describe_error(error: dict[str, Any], single_model_form: bool = False) -> str:
    """One pydantic error as a line naming the dotted key at fault (and, for an unknown key, the closest valid one)."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        key, allowed = _allowed_keys(loc, single_model_form)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}'{hint} (allowed here: {', '.join(allowed)})"
    key, _ = _allowed_keys(loc, single_model_form) if loc else ("<top level>", [])
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    # a whole section as "got" says nothing the message doesn't; a scalar is worth echoing
    return f"'{key}': {message}" + ("" if isinstance(got, dict) else f" (got {got!r})")
