"""The `mlops` command: one entry point for the pipeline's commands.

    mlops train [--config FILE] [--set KEY=VALUE ...]      the training flow (= python flows/pipeline.py)
    mlops infer --model NAME --data FILE [--out FILE]      batch inference (= python flows/batch_infer.py)
    mlops registry list|show|promote|rollback|compare ...  the model store (= python -m mlops_pipeline.registry)
    mlops serve ...                                        the prediction service (= python -m serving)
    mlops server status|stop                               the shared local Prefect server flow commands use

Each subcommand hands the rest of the command line to the module that owns it, so `mlops train --help` is that
module's help. Prefect is imported only by the subcommands that run a flow, never by importing this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mlops_pipeline.registry import RegistryError, open_store
from mlops_pipeline.settings import SettingsError, get_settings

USAGE = __doc__.split("\n\n")[1] if __doc__ else ""


def _train(argv: list[str]) -> int:
    from mlops_pipeline.flows.pipeline import main

    return main(argv)


def _infer(argv: list[str]) -> int:
    from mlops_pipeline.flows.batch_infer import main

    return main(argv)


# ---- serve: the prediction service lives in the `serving` package (built separately); imported only here -------
def _serve(argv: list[str]) -> int:
    try:
        import mlops_pipeline.serving.__main__ as service
    except ImportError as exc:
        print(f"error: `mlops serve` needs the `serving` package, which is not installed here ({exc})", file=sys.stderr)
        return 2
    return int(service.main(argv) or 0)


def _server(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:  # the server process is started by the flow commands, never by hand through `mlops`
        print("error: `mlops server` takes status or stop", file=sys.stderr)
        return 2
    from mlops_pipeline.runtime.local_server import server_command

    return server_command(argv)


def _registry(argv: list[str]) -> int:
    from mlops_pipeline import registry

    if argv[:1] == ["compare"]:
        return compare(argv[1:])
    return registry._cli(argv)


def compare(argv: list[str] | None = None) -> int:
    """`mlops registry compare NAME A [B]`: two versions' held-out metrics side by side (B: the champion)."""
    parser = argparse.ArgumentParser(
        prog="mlops registry compare", description="Compare two versions' metrics (default second: the champion)."
    )
    parser.add_argument("--root", default="models", help="model store folder (default: %(default)s)")
    parser.add_argument("name")
    parser.add_argument("version")
    parser.add_argument("other", nargs="?", help="default: the champion")
    args = parser.parse_args(argv)
    store = open_store(args.root, args.name)
    try:
        other = args.other or store.champion()
        if other is None:
            raise RegistryError(f"{store.location()}: no champion yet; name the second version")
        print(compare_table(args.version, store.card(args.version), other, store.card(other)))
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def compare_table(a: str, card_a: dict[str, Any], b: str, card_b: dict[str, Any]) -> str:
    """Rows of metric, A, B and B - A over the float and int8 metrics of two cards, plus each one's status."""
    lines = [
        f"{'':22} {a:>10} {b:>10} {'diff':>10}",
        f"{'status':22} {card_a.get('status', '?'):>10} {card_b.get('status', '?'):>10}",
    ]
    for section in ("metrics", "int8_metrics"):
        ma, mb = card_a.get(section) or {}, card_b.get(section) or {}
        for metric in dict.fromkeys([*ma, *mb]):
            label = metric if section == "metrics" else f"{metric} (int8)"
            va, vb = ma.get(metric), mb.get(metric)
            diff = f"{vb - va:+10.4f}" if va is not None and vb is not None else f"{'':>10}"
            lines.append(f"{label:22} {_cell(va)} {_cell(vb)} {diff}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{value:10.4f}" if value is not None else f"{'-':>10}"


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": _train,
    "infer": _infer,
    "registry": _registry,
    "serve": _serve,
    "server": _server,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        stream = sys.stdout if args[:1] in (["-h"], ["--help"]) else sys.stderr
        if args and args[0] not in ("-h", "--help"):
            print(f"error: unknown command '{args[0]}'", file=stream)
        print(f"usage: mlops {{{','.join(COMMANDS)}}} ...\n\n{USAGE}", file=stream)
        return 0 if stream is sys.stdout else 2
    try:
        get_settings()  # a wrong MLOPS_* variable: one line naming it, as for a wrong option
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
