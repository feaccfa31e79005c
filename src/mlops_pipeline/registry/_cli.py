"""The registry's command line: python -m mlops_pipeline.registry (or `mlops registry`) list|show|promote|rollback."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlops_pipeline.registry._common import RegistryError
from mlops_pipeline.registry._open import open_store


def _format_metrics(card: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in (card.get("metrics") or {}).items())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_pipeline.registry", description="Inspect and manage the model store."
    )
    parser.add_argument(
        "--root", default="models", help="model store folder or s3://bucket/prefix (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions of a model, champion marked *").add_argument("name")
    show = commands.add_parser("show", help="a version's card, files verified (default: the champion)")
    show.add_argument("name")
    show.add_argument("version", nargs="?")
    promote = commands.add_parser("promote", help="make a passing version the champion")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--force", action="store_true", help="allow a rejected version")
    rollback = commands.add_parser(
        "rollback", help="move the champion to the previous passing version (or the one named)"
    )
    rollback.add_argument("name")
    rollback.add_argument("version", nargs="?")
    return parser


def _cli(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = open_store(args.root, args.name)
    try:
        if args.command == "list":
            champion = store.champion()
            versions = store.versions()
            if not versions:
                print(f"error: no versions of '{args.name}' under {store.location()}", file=sys.stderr)
                return 2
            for version in versions:
                card = store.card(version)
                marker = "*" if version == champion else " "
                print(
                    f"{marker} {version:>5}  {card.get('status', '?'):9} {card.get('created_at', '')}  "
                    f"{_format_metrics(card)}"
                )
        elif args.command == "show":
            shown: str | None = args.version or store.champion()
            if shown is None:
                raise RegistryError(f"{store.location()}: no champion yet; name a version")
            card = store.card(shown)
            checked = store.verify(shown)
            print(json.dumps(card, indent=2, sort_keys=True))
            print(f"files verified (sha256): {', '.join(checked)}", file=sys.stderr)
        elif args.command == "promote":
            previous = store.champion()
            store.promote(args.version, reason=f"promoted by hand (was {previous or 'none'})", force=args.force)
            print(f"{args.name}: champion is now {args.version} (was {previous or 'none'})")
        elif args.command == "rollback":
            previous, current = store.rollback(args.version)
            print(f"{args.name}: champion rolled back from {previous} to {current}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
