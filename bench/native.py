"""The native scenario: builds bench/native with CMake and runs its two programs.

``bench_native_serendip`` and ``bench_native_caf`` take the same flags and print one JSON object
(``oneway_msgs_per_s``, ``rtt_us``). A missing directory, a failed build or a program that was
not built (no CAF) becomes the reason its row fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from measure import Outcome, failure_reason, parse_metrics
from scenarios import Scenario

__all__ = ["build", "run_native"]

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "native"
BUILD = ROOT / "build" / "bench-native"
PROGRAMS = {"serendip": "bench_native_serendip", "caf": "bench_native_caf"}
WHY_MISSING = {
    "serendip": "bench_native_serendip was not built",
    "caf": "bench_native_caf was not built: CAF not found (tools/setup-bench.sh installs "
    "libcaf-dev)",
}


def _tool(name: str) -> str | None:
    """The venv's copy of a build tool (what tools/setup.sh installs), else the system's."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def build() -> Outcome | None:
    """Configures (once) and builds the programs; None on success, else what every row gets."""
    if not (SOURCE / "CMakeLists.txt").exists():
        return Outcome(unsupported="bench/native/CMakeLists.txt not found")
    cmake, ninja = _tool("cmake"), _tool("ninja")
    if cmake is None or ninja is None:
        return Outcome(unsupported="cmake or ninja not found (tools/setup.sh installs them)")
    steps = [[cmake, "--build", str(BUILD), "-j", "2"]]
    if not (BUILD / "build.ninja").exists():
        configure = [
            cmake,
            "-S",
            str(SOURCE),
            "-B",
            str(BUILD),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        steps.insert(0, configure)
    BUILD.mkdir(parents=True, exist_ok=True)
    log = BUILD / "bench-build.log"
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                return Outcome(failure=f"native build failed at '{' '.join(step[:3])}': see {log}")
    return None


def run_native(
    scenario: Scenario, implementation: str, params: dict[str, Any], timeout: float
) -> Outcome:
    program = BUILD / PROGRAMS[implementation]
    if not program.exists():
        return Outcome(unsupported=WHY_MISSING[implementation])
    command = [
        str(program),
        "--agents",
        str(params["agents"]),
        "--messages",
        str(params["messages"]),
        "--rtt-iters",
        str(params["rtt_iters"]),
    ]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(failure=f"no result within {timeout:g} s (hung)")
    if proc.returncode != 0:
        return Outcome(failure=failure_reason(proc.returncode, proc.stderr))
    try:
        raw = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return Outcome(failure=f"no JSON result on stdout: {proc.stdout[-200:]!r}")
    return parse_metrics(scenario, raw, params)
