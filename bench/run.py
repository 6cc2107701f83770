#!/usr/bin/env python3
"""Runs the benchmark suite and writes results.json, results.md and results.png.

    python bench/run.py [--quick] [--out DIR] [--only SCENARIO,...] [--reps N]

Each scenario runs serendip and its baselines in this one invocation: every repetition runs
each implementation once, each in a fresh process, in an order that rotates from repetition to
repetition, so the drifts of a noisy machine touch every row alike and same-run ratios stay
meaningful. An implementation that cannot run a scenario, crashes, hangs or gets a wrong result
is reported as "fails" with the reason and not run again in that scenario.

Exit status 1 when serendip itself failed anywhere (crash, hang, wrong result, failed build).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import machine
import native
import plot
import table
from measure import Outcome, cpu_for, run_child
from scenarios import SCENARIOS, Scenario, by_name
from summary import summarize

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = {False: ROOT / "bench" / "results", True: ROOT / "build" / "bench-quick"}
DEFAULT_REPS = {False: 5, True: 2}
TIMEOUT = {False: 300.0, True: 60.0}  # seconds one repetition may take before it counts as hung


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and 2 repetitions: a smoke test, not a measurement",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="output folder (default: bench/results, or build/bench-quick with --quick)",
    )
    parser.add_argument(
        "--only",
        help="comma-separated scenarios to run (default: all): "
        + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument("--reps", type=int, help="repetitions per row (default 5, quick 2)")
    args = parser.parse_args(argv)
    args.out = args.out or DEFAULT_OUT[args.quick]
    args.reps = args.reps or DEFAULT_REPS[args.quick]
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    try:
        args.scenarios = by_name(args.only.split(",")) if args.only else list(SCENARIOS)
    except ValueError as e:
        parser.error(str(e))
    return args


def _describe(outcome: Outcome, scenario: Scenario) -> str:
    crash = f" (then crashed at exit: {outcome.exit_crash})" if outcome.exit_crash else ""
    if outcome.metrics is None:
        return f"fails: {outcome.unsupported or outcome.failure}{crash}"
    units = {m.name: m.unit for m in scenario.metrics}
    return ", ".join(f"{table.number(v)} {units[k]}" for k, v in outcome.metrics.items()) + crash


def measure(
    scenario: Scenario, params: dict[str, Any], reps: int, timeout: float
) -> dict[str, list[Outcome]]:
    """Every implementation once per repetition, starting one further along each time (and,
    in a one-loop scenario, all of a repetition's on the same CPU: measure.cpu_for)."""
    impls = scenario.implementations
    outcomes: dict[str, list[Outcome]] = {impl: [] for impl in impls}
    for rep in range(reps):
        for impl in impls[rep % len(impls) :] + impls[: rep % len(impls)]:
            if outcomes[impl] and outcomes[impl][-1].metrics is None:
                continue  # it cannot or did not work: another try would say the same
            if scenario.native:
                outcome = native.run_native(scenario, impl, params, timeout)
            else:
                outcome = run_child(scenario, impl, params, timeout, cpu_for(scenario, impl, rep))
            outcomes[impl].append(outcome)
            print(
                f"  {scenario.name:15} rep {rep + 1}/{reps}  {impl:9} "
                f"{_describe(outcome, scenario)}",
                flush=True,
            )
    return outcomes


def serendip_failures(all_outcomes: dict[str, dict[str, list[Outcome]]]) -> list[str]:
    """Everything serendip got wrong; a crash at exit counts too."""
    return [
        f"{name}: {o.failure or 'crashed at exit: ' + str(o.exit_crash)}"
        for name, by_impl in all_outcomes.items()
        for o in by_impl.get("serendip", [])
        if o.failure or o.exit_crash
    ]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machine_info = machine.describe()  # before the run: the build it measures
    print(
        f"serendip bench: {'quick' if args.quick else 'full'} run, {args.reps} repetitions, "
        f"results in {args.out}",
        flush=True,
    )
    all_outcomes: dict[str, dict[str, list[Outcome]]] = {}
    summaries: dict[str, Any] = {}
    for scenario in args.scenarios:
        params = scenario.sized(args.quick)
        print(f"{scenario.name}: {scenario.summary}", flush=True)
        unbuilt = native.build() if scenario.native else None
        if unbuilt is not None:
            print(f"  {_describe(unbuilt, scenario)}", flush=True)
            outcomes = {impl: [unbuilt] for impl in scenario.implementations}
        else:
            outcomes = measure(scenario, params, args.reps, TIMEOUT[args.quick])
        all_outcomes[scenario.name] = outcomes
        summaries[scenario.name] = summarize(scenario, params, outcomes)
    suite: dict[str, Any] = {
        "quick": args.quick,
        "reps": args.reps,
        "command": ["bench/run.py", *argv],
        "duration_s": time.monotonic() - started,
    }
    if machine.serendip_build() != machine_info["serendip_build"]:
        suite["warning"] = (
            "serendip was reinstalled during this run, so its rows mix two "
            "builds: run again on a quiet tree"
        )
        print(f"WARNING: {suite['warning']}", file=sys.stderr)
    results = {"suite": suite, "machine": machine_info, "scenarios": summaries}
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(table.render(results))
    plot.render(results, args.out / "results.png")
    print(
        f"wrote {args.out}/results.json, results.md, results.png "
        f"in {results['suite']['duration_s']:.0f} s",
        flush=True,
    )
    failures = serendip_failures(all_outcomes)
    for failure in failures:
        print(f"SERENDIP FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
