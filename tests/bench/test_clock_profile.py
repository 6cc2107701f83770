"""bench/clock_profile.py: it splits each implementation's clock per unit of work into the parts
of the process that perf's cpu-clock samples fall in. The figures themselves are clock readings
of a noisy machine: beyond their shape, only what cannot vary is asserted (code that an
implementation never loads gets no samples)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "clock_profile.py"
PARTS = {"python", "serendip", "zeroing", "kernel", "libc", "other", "total"}


def _perf_unusable() -> str | None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import clock_profile
    finally:
        sys.path.pop(0)
    return clock_profile.usable()


def _profile(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """A `--quick` run with `options`: the finished process, and the JSON it wrote."""
    reason = _perf_unusable()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "profile.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out), *options],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def test_clock_profile_quick_splits_the_clock_per_message_by_part(tmp_path: Path) -> None:
    proc, figures = _profile(
        tmp_path, "--reps", "1", "--only", "tell_sync", "--impls", "serendip,asyncio"
    )
    assert set(figures) == {"tell_sync"}
    assert set(figures["tell_sync"]) == {"serendip", "asyncio"}
    serendip, asyncio_mesh = figures["tell_sync"]["serendip"], figures["tell_sync"]["asyncio"]
    assert set(serendip) == PARTS and set(asyncio_mesh) == PARTS
    # Not the totals' sign: two interpreter startups can differ by more than the quick size's
    # tens of milliseconds of work (a run here read -192 ns per message). The extension's part
    # is nearly all work: a startup spends next to nothing in it.
    assert serendip["serendip"] > 0  # its handlers and sends run in the extension module
    assert asyncio_mesh["serendip"] == 0  # the asyncio mesh never loads it
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(line.endswith("ns per message") for line in lines)


def test_clock_profile_refuses_a_scenario_it_has_no_sizes_for() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "fanout"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no clock profile for fanout" in proc.stderr


def test_clock_profile_reports_an_implementation_that_cannot_run_the_scenario(
    tmp_path: Path,
) -> None:
    proc, figures = _profile(tmp_path, "--reps", "2", "--only", "tell_async", "--impls", "pykka")
    # Pykka has no async handlers: its child says so, and that is what is reported, not the
    # samples of a child that did no work.
    assert figures["tell_async"]["pykka"].startswith("unsupported: Pykka has no async handlers")
    assert proc.stdout.splitlines() == [
        "tell_async pykka     " + figures["tell_async"]["pykka"]
    ]
