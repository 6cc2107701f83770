"""One repetition of one (scenario, implementation), run in a fresh child process.

The child's crash, hang or wrong result becomes a failure reason instead of ending the run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impls import OWN_THREADS
from scenarios import Scenario

__all__ = ["Outcome", "cpu_for", "failure_reason", "parse_metrics", "run_child"]

CHILD = Path(__file__).with_name("child.py")


@dataclass(frozen=True)
class Outcome:
    """Exactly one of ``metrics``, ``unsupported`` (by design: not retried), ``failure``.

    ``exit_crash`` says the process died abnormally after it had printed a valid result: the
    measurement stands, the crash is reported beside it.
    """

    metrics: dict[str, float] | None = None
    unsupported: str | None = None
    failure: str | None = None
    note: str | None = None
    exit_crash: str | None = None
    cpus: tuple[int, ...] | None = None  # the CPUs the child could run on, as it reported them


def cpu_for(scenario: Scenario, implementation: str, rep: int) -> int | None:
    """The one CPU repetition ``rep`` runs ``implementation`` on, or None for every CPU.

    On a shared VM each CPU's speed changes with its neighbours' load, for tens of seconds at a
    time: the same ask_rtt child took 6.1 us per round trip pinned to one of this machine's
    two CPUs and 11.7-12.6 us pinned to the other, minutes later the other way round. An
    unpinned child's CPU is a lottery that a same-run ratio inherits. So in a one-loop scenario
    every implementation of a repetition runs on the same CPU, the usable CPUs taken in turn
    from one repetition to the next. Implementations with threads of their own (OWN_THREADS)
    keep every CPU: one would handicap them.
    """
    if not scenario.one_loop or implementation in OWN_THREADS:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[rep % len(cpus)]


def failure_reason(returncode: int, stderr: str) -> str:
    """What killed the child: the interpreter's fatal error, else its last stderr line (the
    exception), with the signal if one ended it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    message = fatal[0] if fatal else (lines[-1] if lines else "")
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"killed by {name}" + (f": {message}" if message else "")
    return message or f"exited with status {returncode} and no message"


def parse_metrics(scenario: Scenario, raw: dict[str, Any], params: dict[str, Any]) -> Outcome:
    """Turns a raw measurement into the scenario's metrics; refuses nonsense values."""
    metrics = scenario.derive(raw, params)
    bad = {k: v for k, v in metrics.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        return Outcome(failure=f"implausible measurement {bad}")
    return Outcome(metrics=metrics)


def run_child(
    scenario: Scenario,
    implementation: str,
    params: dict[str, Any],
    timeout: float,
    cpu: int | None = None,
) -> Outcome:
    command = [sys.executable, str(CHILD), implementation, scenario.name, json.dumps(params)]
    if cpu is not None:
        command.append(str(cpu))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(failure=f"no result within {timeout:g} s (hung)")
    crash = failure_reason(proc.returncode, proc.stderr) if proc.returncode != 0 else None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Outcome(failure=crash or f"no JSON result on stdout: {proc.stdout[-200:]!r}")
    cpus = tuple(answer["cpus"])
    if "unsupported" in answer:
        return Outcome(unsupported=answer["unsupported"], exit_crash=crash, cpus=cpus)
    outcome = parse_metrics(scenario, answer["raw"], params)
    return Outcome(
        outcome.metrics,
        failure=outcome.failure,
        note=answer.get("note"),
        exit_crash=crash,
        cpus=cpus,
    )
