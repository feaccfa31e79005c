"""`command_process`: a flow command's own process runs with the import-time objects frozen out of the GC."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc
gc.disable()  # as the flow commands' __main__ does before their imports
import json
from mlops_pipeline.commands import command_process

seen = {}

def main():
    seen["enabled"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    return 3

code = command_process(main)
print(json.dumps({**seen, "code": code, "enabled_after": gc.isenabled(), "frozen_after": gc.get_freeze_count()}))
"""


def test_main_runs_with_the_collector_on_and_the_imports_frozen_and_its_code_is_returned() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    assert seen["code"] == 3
    assert seen["enabled"] is True and seen["enabled_after"] is True
    assert seen["frozen"] > 1000  # the interpreter's and the imports' objects
    assert seen["frozen_after"] >= seen["frozen"]
