"""Load-test the prediction service: int8 (production) vs the float model served the same way, in one run.

    python flows/pipeline.py                      # a champion to serve, if there is none yet
    python benchmarks/serving.py [--root models] [--model digits-logreg] [--requests 1000] [--seconds 20]

Starts `python -m serving` (the int8 champion) and, for comparison, this script's `--serve-float` mode (the same
app with a benchmark-only loader that serves the version's float scikit-learn pipeline, `model.joblib`,
hash-verified: NOT a production path) on free ports of 127.0.0.1. Against each, for 1-row and 100-row requests of
held-out digits rows: latency with one request at a time (p50 / p99 of `--requests` requests) and throughput
with `--concurrency` requests in flight (requests/s). Every phase is bounded by a request count and `--seconds`.
Client and server share the machine, so the figures include the client's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- benchmark-only: the float model behind the same app ---------------------------------------------------------
def serve_float(model: str, root: str, port: int) -> None:
    import uvicorn
    from mlops_pipeline.serving import ServingConfig, create_app
    from mlops_pipeline.serving.model import ServedModel
    from mlops_pipeline.serving.online_drift import LogEventSink

    from mlops_pipeline.batch import load_scoring_model
    from mlops_pipeline.registry import FLOAT_MODEL_FILE, Store

    def float_loader(store: Store, version: str) -> ServedModel:
        scoring = load_scoring_model(store, store.name, version)  # contract + drift reference, verified
        sha256 = store.card(version)["files"][FLOAT_MODEL_FILE]["sha256"]
        return ServedModel(
            store.name,
            version,
            sha256,
            store.load_float_model(version),
            scoring.contract,
            scoring.drift_reference,
            kind="float (benchmark only)",
        )

    app = create_app(ServingConfig(model_name=model, root=root), loader=float_loader, sink=LogEventSink())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- the load run ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def started(args: list[str], url: str) -> Iterator[None]:
    import httpx

    log = Path(tempfile.gettempdir()) / f"benchmark-serving-{url.rsplit(':', 1)[1]}.log"
    with log.open("wb") as output:  # the service's log (drift warnings: repeated rows do drift) stays out of the table
        process = subprocess.Popen(args, cwd=REPO_ROOT, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(args)} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer /health within 120 s")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def phase(url: str, body: bytes, requests: int, seconds: float, concurrency: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        for _ in range(20):  # warm-up: connections, first-call paths
            await client.post("/predict", content=body, headers=headers)
        remaining = requests

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started_at = time.perf_counter()
                response = await client.post("/predict", content=body, headers=headers)
                latencies.append(time.perf_counter() - started_at)
                failures += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    ms = sorted(1000 * x for x in latencies)
    return {
        "requests": len(ms),
        "failures": failures,
        "rps": len(ms) / elapsed,
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/serving.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", default="models")
    parser.add_argument("--model", default="digits-logreg")
    parser.add_argument("--requests", type=int, default=1000, help="requests per phase (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="longest phase (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, throughput phase")
    parser.add_argument("--serve-float", type=int, metavar="PORT", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.serve_float:
        serve_float(args.model, args.root, args.serve_float)
        return 0

    import json

    from sklearn.datasets import load_digits

    from mlops_pipeline.registry import open_store

    if open_store(args.root, args.model).champion() is None:
        print(
            f"error: {args.model} has no champion under {args.root}; run python flows/pipeline.py first",
            file=sys.stderr,
        )
        return 2
    rows = load_digits().data[-360:]  # the tail of the set: rows of the kind served, in range
    bodies = {n: json.dumps({"instances": np.resize(rows, (n, rows.shape[1])).tolist()}).encode() for n in (1, 100)}
    services = {
        "int8 (python -m serving)": [
            sys.executable,
            "-m",
            "serving",
            "--model",
            args.model,
            "--root",
            args.root,
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        "float (benchmark only)": [
            sys.executable,
            str(Path(__file__).resolve()),
            "--model",
            args.model,
            "--root",
            args.root,
            "--serve-float",
        ],
    }
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
        f"{args.requests} requests per phase (at most {args.seconds:g} s)\n"
    )
    print(
        "| model served | rows/request | p50 ms (1 in flight) | p99 ms (1 in flight) | "
        f"requests/s ({args.concurrency} in flight) | rows/s | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, command in services.items():
        port = free_port()
        command = [*command, str(port)] if command[-1] == "--serve-float" else [*command, "--port", str(port)]
        url = f"http://127.0.0.1:{port}"
        with started(command, url):
            for n, body in bodies.items():
                latency = asyncio.run(phase(url, body, args.requests, args.seconds, 1))
                throughput = asyncio.run(phase(url, body, args.requests, args.seconds, args.concurrency))
                failed = latency["failures"] + throughput["failures"]
                print(
                    f"| {name} | {n} | {latency['p50']:.2f} | {latency['p99']:.2f} | {throughput['rps']:,.0f} | "
                    f"{throughput['rps'] * n:,.0f} | {failed} |",
                    flush=True,
                )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
