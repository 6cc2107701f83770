"""Compares serendip at another git revision with the installed build, scenario by scenario.

Used to measure what a change costs on the hot path (issue 4: the metrics' cost on tell_sync).
The other revision is built once into ``build/bench-ref/<commit>`` (pip --target) and imported
ahead of the installed package through PYTHONPATH. Each repetition runs both in fresh
processes (``child.py``), alternating which goes first; the ratio divides two medians of the
same run, as everywhere in bench/; in a one-loop scenario both of a repetition run on the
same CPU (``measure.cpu_for``).

Usage: .venv/bin/python bench/compare.py REV [--only tell_sync,tell_async] [--reps 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from measure import cpu_for
from scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def build(rev: str) -> Path:
    """The package of revision ``rev``, built (once) into build/bench-ref/<commit>."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.strip()
    target = ROOT / "build" / "bench-ref" / commit
    if (target / "serendip").is_dir():
        return target
    source = ROOT / "build" / "bench-ref" / f"{commit}-src"
    if not source.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(source), commit],
                       cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
         "--target", str(target), f"-Cbuild-dir={source / 'build'}", str(source)],
        check=True,
    )
    return target


def run_child(
    scenario: str, params: dict[str, object], pythonpath: Path | None, cpu: int | None
) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    pinned = [] if cpu is None else [str(cpu)]
    out = subprocess.run(
        [sys.executable, str(BENCH / "child.py"), "serendip", scenario, json.dumps(params),
         *pinned],
        env=env, cwd=BENCH, check=True, capture_output=True, text=True, timeout=600,
    )
    return float(json.loads(out.stdout)["raw"]["seconds"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the git revision to compare against (e.g. HEAD~3)")
    parser.add_argument("--only", default="tell_sync,tell_async", help="scenarios (timed ones)")
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args(argv)
    ref = build(args.rev)
    chosen = {s.name: s for s in SCENARIOS}
    for name in args.only.split(","):
        params = chosen[name].params
        times: dict[str, list[float]] = {"ref": [], "now": []}
        for rep in range(args.reps):
            order = ("ref", "now") if rep % 2 == 0 else ("now", "ref")
            cpu = cpu_for(chosen[name], "serendip", rep)  # both on one CPU, as in run.py
            for which in order:
                times[which].append(
                    run_child(name, params, ref if which == "ref" else None, cpu)
                )
        ref_s, now_s = statistics.median(times["ref"]), statistics.median(times["now"])
        print(
            f"{name}: {args.rev} {ref_s:.4f} s, now {now_s:.4f} s (median of {args.reps}); "
            f"throughput now/{args.rev} = {ref_s / now_s:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
