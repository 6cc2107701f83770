"""Instructions per unit of work, counted by callgrind: the one measure here the VM cannot move.

The clock on this machine swings by a third and more between runs of the same code, so changes
to a hot path are also judged by the instructions they execute. Each count runs one scenario
of ``child.py`` twice under ``valgrind --tool=callgrind`` in fresh processes, at a large and a
small size, and divides the difference by the difference in units of work: what starting the
interpreter, importing and building the agents costs cancels out. ``PYTHONHASHSEED`` is fixed,
since string hashing moves the counts by a few dozen instructions per message otherwise.

| scenario | sizes (large, small) | unit |
|---|---|---|
| tell_sync, tell_async, tell_await | 20,016 and 16 messages to 16 agents | a message |
| ask_rtt | 5,016 and 16 round trips | a round trip |
| fanout | 110 and 10 rounds of 100 queries, the sleep made 0 | a worker's query |

Usage: ``.venv/bin/python bench/instructions.py [--only tell_sync,ask_rtt]
[--impls serendip,asyncio] [--quick] [--json FILE]``; ``--quick`` divides the large sizes by
ten (a smoke test: the small size's own costs weigh more). Needs valgrind
(``tools/setup-bench.sh`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Count:
    """One scenario's two sizes and how many units of work lie between them."""

    scenario: str
    unit: str
    large: dict[str, object]
    small: dict[str, object]
    units: int  # units of work in `large` minus those in `small`


def differences(messages: int, trips: int) -> dict[str, Count]:
    """The one-way scenarios at ``messages`` + 16 against 16 messages to 16 agents, and
    ``ask_rtt`` at ``trips`` + 16 against 16 round trips."""
    tells = {
        name: Count(
            name,
            "message",
            {"n_agents": 16, "n_messages": messages + 16},
            {"n_agents": 16, "n_messages": 16},
            messages,
        )
        for name in ("tell_sync", "tell_async", "tell_await")
    }
    return tells | {
        "ask_rtt": Count("ask_rtt", "round trip", {"n_iters": trips + 16}, {"n_iters": 16}, trips)
    }


def counts(quick: bool) -> dict[str, Count]:
    scale = 10 if quick else 1
    rounds = 100 // scale
    return differences(20_000 // scale, 5_000 // scale) | {
        "fanout": Count(
            "fanout",
            "worker query",
            {"n_agents": 100, "delay": 0.0, "rounds": rounds + 10},
            {"n_agents": 100, "delay": 0.0, "rounds": 10},
            rounds * 100,
        ),
    }


_COLLECTED = re.compile(r"Collected\s*:\s*([\d,]+)")


def instructions(implementation: str, scenario: str, params: dict[str, object]) -> int:
    """Instructions one fresh child process executes, start to exit."""
    env = os.environ | {"PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, str(BENCH / "child.py"), implementation, scenario, json.dumps(params),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(
            f"{implementation} {scenario} under callgrind failed (exit {proc.returncode}):\n"
            + proc.stderr[-2000:]
        )
    return int(found.group(1).replace(",", ""))


def per_unit(implementation: str, count: Count) -> float:
    large = instructions(implementation, count.scenario, count.large)
    small = instructions(implementation, count.scenario, count.small)
    return (large - small) / count.units


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="tell_sync,tell_async,ask_rtt,fanout")
    parser.add_argument("--impls", default="serendip,asyncio", help="child.py implementations")
    parser.add_argument("--quick", action="store_true", help="a tenth of the large sizes")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("instructions.py: valgrind is missing (tools/setup-bench.sh installs it)",
              file=sys.stderr)
        return 2
    table = counts(args.quick)
    wanted = args.only.split(",")
    unknown = [name for name in wanted if name not in table]
    if unknown:
        parser.error(f"no instruction count for {', '.join(unknown)}; known: {', '.join(table)}")
    out: dict[str, dict[str, float]] = {}
    for name in wanted:
        count = table[name]
        out[name] = {}
        for implementation in args.impls.split(","):
            value = per_unit(implementation, count)
            out[name][implementation] = value
            print(f"{name:12} {implementation:10} {value:12,.0f} instructions per {count.unit}",
                  flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
