"""What every flow command line does around its flow: exit codes, error lines, the markdown summary.

`python flows/pipeline.py` and `python flows/batch_infer.py` (and `mlops train|infer`) share it: 2 when the options
or config are wrong (printed before any Prefect work), 1 when the run failed, 0 with the summary printed. The
flow is passed in, so this module does not import Prefect.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlops_pipeline.config import ConfigError
from mlops_pipeline.settings import SettingsError, get_settings

ConfigT = TypeVar("ConfigT")


def add_summary_md_option(parser: argparse.ArgumentParser) -> None:
    """--summary-md PATH: where `run_flow_command` appends the run's markdown summary (e.g. a CI job summary)."""
    parser.add_argument(
        "--summary-md",
        type=Path,
        default=None,
        metavar="PATH",
        help='also append the run summary as markdown to PATH (e.g. "$GITHUB_STEP_SUMMARY")',
    )


def command_process(main: Callable[[], int]) -> int:
    """Run a flow command's `main` as its process's whole work, for its exit code.

    Called from the command module's `__main__` block, whose imports ran with the cyclic garbage collector
    disabled: the ~200,000 objects they create (Prefect's settings and schema models, scikit-learn, scipy) are
    moved to the permanent generation instead, where no collection during the run traverses them again. Once the
    run is over everything left is frozen too, so the interpreter's final collections at exit skip it. Together
    0.7 s of a 3.3 s `python flows/pipeline.py` (docs/performance.md); objects are still freed by reference
    counting, only cycles among frozen objects stay until the process ends.
    """
    gc.freeze()
    gc.enable()
    try:
        return main()
    finally:
        gc.freeze()


def run_flow_command(
    build_config: Callable[[], ConfigT],
    run_flow: Callable[[ConfigT], Any],
    report: Callable[[Any], tuple[str, str]],
    explain_failure: Callable[[ConfigT, BaseException | Any], str],
    summary_md: Path | None = None,
) -> int:
    """Check the MLOPS_* settings and build the config (a SettingsError or ConfigError exits 2), run the flow for
    its final state, print the outcome.

    `report(result)` gives the text to print and the markdown to append to `summary_md`; `explain_failure` the
    text printed (to stderr) when the run did not complete.
    """
    try:
        get_settings()  # a wrong MLOPS_* variable is reported like a wrong option, before any Prefect work
        config = build_config()
    except (ConfigError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = run_flow(config)
    if not state.is_completed():
        print(explain_failure(config, state.result(raise_on_failure=False)), file=sys.stderr)
        return 1
    text, markdown = report(state.result())
    print(text)
    if summary_md is not None:
        with summary_md.open("a", encoding="utf-8") as handle:
            handle.write(markdown)
    return 0
