"""Runs one repetition of one Python scenario for one implementation, in this fresh process.

Usage: ``python bench/child.py IMPLEMENTATION SCENARIO PARAMS_JSON [CPU]``; with CPU, the
process pins itself to that one CPU before anything else (``measure.cpu_for`` says when).
Prints one JSON line: ``{"raw": {"seconds": ..., "peak_rss_kb": ...}, "note": ...,
"cpus": [...]}`` (more raw values when the scenario function returns a dict of them; ``cpus``
the CPUs it could run on), or ``{"unsupported": reason, "cpus": [...]}``.
Any other failure (a wrong result, a crash) leaves a traceback on stderr and a non-zero exit.
A process of its own per measurement keeps peak RSS honest and contains a peer's crash or hang.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

from impls import IMPLEMENTATIONS, Unsupported

# Baselines of one scenario only (``Scenario.implementations``), beside those of every scenario.
ONE_SCENARIO = {"openai": "impls.openai_impl"}


def peak_rss_kb() -> int:
    """This process's peak resident set (KiB), from /proc: getrusage's ru_maxrss would be no
    smaller than the parent's RSS at spawn, since Linux carries it across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(implementation: str, scenario: str, params: dict[str, object]) -> dict[str, object]:
    module = importlib.import_module((IMPLEMENTATIONS | ONE_SCENARIO)[implementation])
    cpus = sorted(os.sched_getaffinity(0))
    try:
        measured = getattr(module, scenario)(**params)
    except Unsupported as e:
        return {"unsupported": str(e), "cpus": cpus}
    raw = measured if isinstance(measured, dict) else {"seconds": measured}
    note = getattr(module, "NOTES", {}).get(scenario)
    return {"raw": raw | {"peak_rss_kb": peak_rss_kb()}, "note": note, "cpus": cpus}


if __name__ == "__main__":
    if len(sys.argv) > 4:
        os.sched_setaffinity(0, {int(sys.argv[4])})  # threads started from now on inherit it
    print(json.dumps(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))), flush=True)
