"""Where the clock goes per unit of work, by part of the process: perf's cpu-clock samples.

``instructions.py`` counts what the code executes; the clock also pays for what no
instruction count sees: the kernel's page faults and its zeroing of memory a process touches
for the first time, cache misses, lock latencies. This samples one child per implementation
with ``perf record -e cpu-clock`` (a software timer event, so it works in VMs without hardware
counters), at a large size and a small one, and divides the difference in
samples by the units of work between the sizes, as ``instructions.py`` does with counts: what
starting the interpreter and importing costs cancels out, up to its own variation, which the
large size (five times the suite's, so that a burst's fresh memory weighs as it does there and
more) keeps to a few nanoseconds per unit. A child is pinned as ``run.py`` pins it
(``measure.cpu_for``: one CPU per repetition, the same for all of its implementations but those
with threads of their own), and each figure is the median over the repetitions. An implementation that cannot run a scenario is
reported as unsupported, with the reason its child gave.

The parts: ``python`` (libpython: the interpreter, objects, the GC), ``serendip`` (its
extension module), ``zeroing`` (the kernel clearing fresh pages, ``clear_page*``),
``kernel`` (the rest of the kernel: faults, syscalls), ``libc`` (libc, libstdc++, libm) and
``other`` (the loader, other extension modules such as ``_asyncio``).

Usage: ``.venv/bin/python bench/clock_profile.py [--only tell_sync,ask_rtt]
[--impls serendip,asyncio] [--reps 3] [--quick] [--json FILE]``; ``--quick`` divides the
large sizes by ten (a smoke test: startup's variation then weighs more). Needs perf (Debian's
linux-perf, which ``tools/setup-bench.sh`` installs) and permission to sample the kernel (root,
or ``kernel.perf_event_paranoid`` at most 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from impls import Unsupported
from instructions import Count, differences
from measure import CHILD, cpu_for
from scenarios import by_name

FREQUENCY = 20_000  # samples per second of CPU time: one per 50 us
PARTS = ("python", "serendip", "zeroing", "kernel", "libc", "other")


def counts(quick: bool) -> dict[str, Count]:
    """Five times the full sizes of ``scenarios.py`` (half the full ones with ``quick``)."""
    scale = 10 if quick else 1
    return differences(1_000_000 // scale, 100_000 // scale)


def part_of(dso: str, symbol: str) -> str:
    """Which part of the process a sample's shared object and symbol belong to."""
    if dso == "[kernel.kallsyms]":
        return "zeroing" if symbol.startswith("[k] clear_page") else "kernel"
    if dso.startswith("libpython"):
        return "python"
    if dso.startswith("_core."):
        return "serendip"
    if dso.startswith(("libc.so", "libstdc++", "libm.so")):
        return "libc"
    return "other"


def samples(
    implementation: str, scenario: str, params: dict[str, object], cpu: int | None
) -> dict[str, int]:
    """cpu-clock samples of one fresh child process, start to exit, by part (pinned to `cpu`
    unless None). Raises Unsupported when the implementation cannot run the scenario."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        child = [sys.executable, str(CHILD), implementation, scenario, json.dumps(params)]
        if cpu is not None:
            child.append(str(cpu))
        recorded = subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-o", str(data),
             "--", *child],
            capture_output=True, text=True, timeout=1800,
        )
        if recorded.returncode != 0:
            raise RuntimeError(
                f"{implementation} {scenario} under perf failed (exit {recorded.returncode}):\n"
                + recorded.stderr[-2000:]
            )
        answer = json.loads(recorded.stdout.strip().splitlines()[-1])
        if "unsupported" in answer:
            raise Unsupported(answer["unsupported"])
        report = subprocess.run(
            ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-n",
             "--sort", "dso,sym", "--field-separator", "\t"],
            capture_output=True, text=True, timeout=600, check=True,
        )
    by_part: dict[str, int] = defaultdict(int)
    for line in report.stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _, count, dso, symbol = (field.strip() for field in line.split("\t"))
        by_part[part_of(dso, symbol)] += int(count)
    return {part: by_part.get(part, 0) for part in PARTS}


def per_unit(runs: list[tuple[dict[str, int], dict[str, int]]], units: int) -> dict[str, float]:
    """Nanoseconds per unit of work in each part: the median over repetitions of the large
    run's samples minus the small run's, at one sample per 1/FREQUENCY s."""
    ns_per_sample = 1e9 / FREQUENCY
    out = {
        part: statistics.median((large[part] - small[part]) * ns_per_sample / units
                                for large, small in runs)
        for part in PARTS
    }
    out["total"] = statistics.median(
        (sum(large.values()) - sum(small.values())) * ns_per_sample / units for large, small in runs
    )
    return out


def usable() -> str | None:
    """Why perf cannot sample here, or None."""
    if shutil.which("perf") is None:
        return "perf is missing (tools/setup-bench.sh installs Debian's linux-perf)"
    probe = subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-o", os.devnull, "--", "true"],
        capture_output=True, text=True, timeout=60,
    )
    if probe.returncode != 0:
        return "perf cannot record cpu-clock here: " + (probe.stderr.strip() or "no reason given")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="tell_sync")
    parser.add_argument("--impls", default="serendip,asyncio", help="child.py implementations")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the median is shown)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the large sizes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    table = counts(args.quick)
    wanted = args.only.split(",")
    unknown = [name for name in wanted if name not in table]
    if unknown:
        parser.error(f"no clock profile for {', '.join(unknown)}; known: {', '.join(table)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    reason = usable()
    if reason is not None:
        print(f"clock_profile.py: {reason}", file=sys.stderr)
        return 2
    implementations = args.impls.split(",")
    out: dict[str, dict[str, dict[str, float] | str]] = {}
    for name in wanted:
        count, scenario = table[name], by_name([name])[0]
        runs: dict[str, list[tuple[dict[str, int], dict[str, int]]]] = defaultdict(list)
        unsupported: dict[str, str] = {}
        for rep in range(args.reps):
            for implementation in implementations:
                if implementation in unsupported:
                    continue
                cpu = cpu_for(scenario, implementation, rep)  # pinned as run.py pins
                try:
                    runs[implementation].append((
                        samples(implementation, name, count.large, cpu),
                        samples(implementation, name, count.small, cpu),
                    ))
                except Unsupported as e:
                    unsupported[implementation] = str(e)
        out[name] = {}
        for implementation in implementations:
            if implementation in unsupported:
                out[name][implementation] = f"unsupported: {unsupported[implementation]}"
                print(f"{name:10} {implementation:9} unsupported: {unsupported[implementation]}",
                      flush=True)
                continue
            figures = per_unit(runs[implementation], count.units)
            out[name][implementation] = figures
            parts = "  ".join(f"{part} {figures[part]:6,.0f}" for part in PARTS)
            print(f"{name:10} {implementation:9} {parts}  total {figures['total']:6,.0f} "
                  f"ns per {count.unit}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
