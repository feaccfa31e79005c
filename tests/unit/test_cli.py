"""The `mlops` command: subcommands hand over to the module that owns them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops_pipeline import cli


def test_without_a_command_it_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    usage = capsys.readouterr().err
    for command in ("train", "infer", "registry", "serve"):
        assert f"mlops {command}" in usage


def test_an_unknown_command_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_registry_subcommands_go_to_the_registry_command_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["registry", "--root", str(tmp_path), "list", "nothing-here"]) == 2
    assert "no versions of 'nothing-here'" in capsys.readouterr().err


def test_compare_without_a_champion_asks_for_the_second_version(tmp_path: Path, capsys) -> None:
    assert cli.main(["registry", "compare", "--root", str(tmp_path), "m", "v1"]) == 2
    assert "no champion yet; name the second version" in capsys.readouterr().err


def test_compare_table_shows_both_versions_and_the_difference() -> None:
    table = cli.compare_table(
        "v1",
        {"status": "passed", "metrics": {"accuracy": 0.95}, "int8_metrics": {}},
        "v2",
        {"status": "rejected", "metrics": {"accuracy": 0.97, "f1_macro": 0.9}},
    )
    lines = table.splitlines()
    assert lines[1].split() == ["status", "passed", "rejected"]
    assert lines[2].split() == ["accuracy", "0.9500", "0.9700", "+0.0200"]
    assert lines[3].split() == ["f1_macro", "-", "0.9000"]


def test_serve_without_the_serving_package_says_so(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "mlops_pipeline.serving", None)
    monkeypatch.setitem(sys.modules, "mlops_pipeline.serving.__main__", None)
    assert cli.main(["serve"]) == 2
    assert "needs the `serving` package" in capsys.readouterr().err


def test_server_takes_status_or_stop_but_never_starts_one_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["server", "serve", "--port", "1"]) == 2
    assert "`mlops server` takes status or stop" in capsys.readouterr().err
