"""bench/instructions.py: it counts instructions per unit of work under callgrind, for each
implementation asked, and refuses scenarios it has no sizes for. No count is asserted beyond
its being a count: the numbers are for people comparing revisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "instructions.py"


def test_instructions_quick_counts_per_message_for_each_implementation(tmp_path: Path) -> None:
    out = tmp_path / "counts.json"
    proc = subprocess.run(
        [
            sys.executable, str(SCRIPT), "--quick", "--only", "tell_sync",
            "--impls", "serendip,asyncio", "--json", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(out.read_text())
    assert set(counts) == {"tell_sync"}
    assert set(counts["tell_sync"]) == {"serendip", "asyncio"}
    # Hundreds to tens of thousands of instructions per message: a difference of two real
    # runs divided by the messages between them, not a total or a zero.
    assert all(100 < value < 100_000 for value in counts["tell_sync"].values()), counts
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all("instructions per message" in line for line in lines)


def test_instructions_refuses_a_scenario_it_has_no_sizes_for() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "many_agents"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no instruction count for many_agents" in proc.stderr
