"""Command line: python -m serving --model NAME [--root models] [--host 127.0.0.1] [--port 8000]."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from mlops_pipeline.quantize import QuantizationError
from mlops_pipeline.registry import RegistryError

from .config import OnlineDriftConfig, ServingConfig

DESCRIPTION = """\
Serve the champion's int8 model of NAME from the model store over HTTP:
POST /predict {"instances": [[...], ...]} or rows by column name (text and dates as strings), GET /health,
GET /models, the draw-a-digit page at /, docs at /docs (each column's type, categories and date format).
Every request is checked against the version's data contract. The champion pointer is polled, so a new champion
or a rollback (python -m mlops_pipeline.registry rollback NAME) is served within seconds, without a restart.
Served rows are measured for drift like batch inference; on drift the model.drift.detected event goes to the
Prefect API in PREFECT_API_URL (unset: logged only)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults, drift = ServingConfig(), OnlineDriftConfig()
    parser = argparse.ArgumentParser(
        prog="python -m serving", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, metavar="NAME", help="model name in the store, e.g. digits-logreg")
    parser.add_argument(
        "--root", default=defaults.root, help="model store folder or s3://bucket/prefix (default: %(default)s)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: %(default)s; 0.0.0.0 to "
        "accept connections from other hosts, e.g. in a container)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--max-rows", type=int, default=defaults.max_rows, help="most rows per request (default: %(default)s)"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=defaults.max_bytes, help="largest request body in bytes (default: %(default)s)"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=defaults.poll_seconds,
        help="how often the champion pointer is checked (default: %(default)s)",
    )
    parser.add_argument(
        "--unknown-categories",
        choices=["warning", "error"],
        default=defaults.unknown_categories,
        help="a text value the training data never had in a categorical column: score it as an unseen category and "
        "warn in the answer, or refuse the request naming column and value (default: %(default)s)",
    )
    parser.add_argument(
        "--drift-every-rows",
        type=int,
        default=drift.every_rows,
        help="measure online drift every N served rows (default: %(default)s) ...",
    )
    parser.add_argument(
        "--drift-every-seconds",
        type=float,
        default=drift.every_seconds,
        help="... or every T seconds, given at least --drift-min-rows rows (default: %(default)s)",
    )
    parser.add_argument(
        "--drift-min-rows",
        type=int,
        default=drift.min_rows,
        help="fewest rows a time-based drift window is measured on (default: %(default)s)",
    )
    parser.add_argument(
        "--no-drift-events",
        action="store_true",
        help="measure and log online drift, but emit no model.drift.detected event",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ServingConfig:
    drift = OnlineDriftConfig(
        every_rows=args.drift_every_rows,
        every_seconds=args.drift_every_seconds,
        min_rows=args.drift_min_rows,
        emit_event=not args.no_drift_events,
    )
    return ServingConfig(
        model_name=args.model,
        root=args.root,
        max_rows=args.max_rows,
        max_bytes=args.max_bytes,
        poll_seconds=args.poll_seconds,
        unknown_categories=args.unknown_categories,
        drift=drift,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid options: {problems}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    import uvicorn

    from .app import create_app

    try:
        app = create_app(config)
    except (RegistryError, QuantizationError, ValueError) as exc:  # no champion, a file failing verification, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
