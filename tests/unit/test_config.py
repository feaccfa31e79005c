"""The config model: shipped files load, defaults equal config/digits.yaml, every bad key is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from mlops_pipeline.config import (
    ConfigError,
    GateConfig,
    GoldenSetConfig,
    PipelineConfig,
    apply_overrides,
    fill_from_defaults,
    load_config,
    parse_config,
)

CONFIG_DIR = REPO_ROOT / "config"


def test_defaults_are_the_digits_config() -> None:
    # except gate.golden_sets: the defaults name no golden set (they would fail any other data set's run), the
    # digits config names the drawn-digit set
    drawn = GoldenSetConfig(name="drawn digits", source="drawn_digits", min_metrics={"accuracy": 0.8})
    assert load_config(CONFIG_DIR / "digits.yaml") == PipelineConfig(gate=GateConfig(golden_sets=[drawn]))
    assert PipelineConfig().gate.golden_sets == []


@pytest.mark.parametrize(
    ("name", "problem", "primary"),
    [("digits.yaml", "classification", "accuracy"), ("diabetes.yaml", "regression", "r2")],
)
def test_shipped_configs_load(name: str, problem: str, primary: str) -> None:
    config = load_config(CONFIG_DIR / name)
    assert (config.problem, config.primary_metric) == (problem, primary)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"model": {"Cx": 1.0}}, "unknown key 'model.Cx'; did you mean 'C'?"),
        ({"modle": {}}, "unknown key 'modle'; did you mean 'model'?"),
        ({"data": {"sourc": "digits"}}, "unknown key 'data.sourc'; did you mean 'source'?"),
        ({"gate": {"champion_tolerence": 0.1}}, "unknown key 'gate.champion_tolerence'"),
        ({"model": {"kind": "ridge", "C": 1.0}}, "unknown key 'model.C'"),
    ],
)
def test_unknown_keys_are_named(raw: dict, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw, origin="my.yaml")
    assert named in str(error.value)
    assert str(error.value).startswith("my.yaml:")


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"model": {"C": -1}}, "'model.C'"),
        ({"data": {"test_size": 1.5}}, "'data.test_size'"),
        ({"model": {"solver": "adam"}}, "'model.solver'"),
        ({"model": {"kind": "forest"}}, "'model'"),
        ({"registry": {"model_name": "Has Spaces"}}, "'registry.model_name'"),
        ({"gate": {"min_metrics": {"r2": 0.5}}}, "gate.min_metrics.r2"),
    ],
)
def test_bad_values_are_named(raw: dict, named: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        parse_config(raw)
    assert named in str(error.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"model": {"Cx": 1, "max_iter": 0}, "data": {"seed": -1}})
    message = str(error.value)
    assert all(key in message for key in ("model.Cx", "model.max_iter", "data.seed"))


def test_seed_config_json_maps_onto_the_model_section(tmp_path: Path) -> None:
    # the seed projects' config.json: {"C": ..., "solver": ..., "max_iter": ...}
    seed_file = tmp_path / "config.json"
    seed_file.write_text(json.dumps({"model": {"C": 0.5, "solver": "saga", "max_iter": 200}}))
    config = load_config(seed_file)
    model = config.model.candidates[0]
    assert (model.kind, model.C, model.solver, model.max_iter) == (
        "logistic_regression",
        0.5,
        "saga",
        200,
    )


def test_overrides_parse_yaml_scalars() -> None:
    raw = apply_overrides({"model": {"C": 1.0}}, ["model.C=0.25", "registry.root=/tmp/x", "quantize.enabled=false"])
    assert raw == {"model": {"C": 0.25}, "registry": {"root": "/tmp/x"}, "quantize": {"enabled": False}}


@pytest.mark.parametrize("override", ["model.C", "=3", "model.C.x=1"])
def test_malformed_overrides_are_rejected(override: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        apply_overrides({"model": {"C": 1.0}}, [override])


def test_missing_file_and_bad_yaml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)


@pytest.mark.parametrize(
    ("raw", "override", "edited"),
    [
        ({"model": {"candidates": [{"C": 1.0}]}}, "model.C=0.5", {"model": {"candidates": [{"C": 0.5}]}}),
        (
            {"model": {"candidates": [{"C": 1.0}, {"C": 2.0}]}},
            "model.candidates.1.C=3",
            {"model": {"candidates": [{"C": 1.0}, {"C": 3}]}},
        ),
        (
            {"model": {"candidates": [{"C": 1.0}]}},
            "model.refit=false",
            {"model": {"candidates": [{"C": 1.0}], "refit": False}},
        ),
    ],
)
def test_overrides_reach_into_candidates(raw: dict, override: str, edited: dict) -> None:
    assert apply_overrides(raw, [override]) == edited


def test_override_of_a_shared_key_with_several_candidates_asks_which() -> None:
    with pytest.raises(ConfigError, match="model has 2 candidates; name one, e.g. model.candidates.0.C"):
        apply_overrides({"model": {"candidates": [{"C": 1.0}, {"C": 2.0}]}}, ["model.C=0.5"])
    with pytest.raises(ConfigError, match="'5' is not an index of a 2-item list"):
        apply_overrides({"model": {"candidates": [{"C": 1.0}, {"C": 2.0}]}}, ["model.candidates.5.C=0.5"])


def test_a_partial_run_config_is_filled_from_the_deployment_config() -> None:
    deployment = load_config(CONFIG_DIR / "diabetes.yaml").model_dump(mode="json")
    partial = PipelineConfig.model_validate(
        {"model": {"kind": "ridge", "alpha": 2.0}, "gate": {"min_metrics": {"r2": 0.3}, "max_metrics": {}}}
    )

    filled = fill_from_defaults(partial, deployment)

    assert filled.data.source == "diabetes" and filled.registry.model_name == "diabetes-linreg"
    assert filled.gate.min_metrics == {"r2": 0.3} and filled.gate.max_metrics == {}
    assert filled.gate.champion_tolerance == 0.005 and filled.quantize.max_metric_drop == 0.005
    assert [(c.kind, c.alpha) for c in filled.model.candidates] == [("ridge", 2.0)]


def test_a_whole_run_config_is_left_as_it_is() -> None:
    deployment = load_config(CONFIG_DIR / "diabetes.yaml").model_dump(mode="json")
    whole = load_config(CONFIG_DIR / "digits.yaml")
    assert fill_from_defaults(PipelineConfig.model_validate(whole.model_dump(mode="json")), deployment) == whole


def test_absolute_gate_bounds_default_to_the_built_in_sets_levels_only() -> None:
    from mlops_pipeline.config.sections import BUILTIN_MIN_METRICS

    assert PipelineConfig().gate.min_metrics == BUILTIN_MIN_METRICS  # digits
    assert parse_config({"data": {"source": "iris"}}).gate.min_metrics == BUILTIN_MIN_METRICS
    # a table of your own: no level is known; the baseline and champion checks gate it
    own = parse_config({"data": {"source": "table.csv", "target": "label"}})
    assert own.gate.min_metrics == {} and own.gate.beat_baseline
    # what the config names is kept, an explicit empty set included
    assert parse_config({"gate": {"min_metrics": {}}}).gate.min_metrics == {}
    assert parse_config({"gate": {"min_metrics": {"accuracy": 0.5}}}).gate.min_metrics == {"accuracy": 0.5}
    # a dumped config reads back the same (a deployment's parameters)
    assert PipelineConfig.model_validate(own.model_dump()).gate.min_metrics == {}


def test_data_from_the_command_line_takes_its_own_default_bounds() -> None:
    from mlops_pipeline.config import with_data_source

    moved = with_data_source(PipelineConfig(), "table.csv", "label")
    assert (moved.data.source, moved.data.target, moved.gate.min_metrics) == ("table.csv", "label", {})
    named = with_data_source(parse_config({"gate": {"min_metrics": {"accuracy": 0.7}}}), "table.csv", "label")
    assert named.gate.min_metrics == {"accuracy": 0.7}
    kept = with_data_source(parse_config({"model": {"C": 0.5}, "data": {"test_size": 0.3}}), "t.csv", None)
    assert (kept.model.candidates[0].C, kept.data.test_size, kept.data.source) == (0.5, 0.3, "t.csv")
