"""bench/floors.py: it measures the floors and states the per-message time each target
asks for in a results file. No timing is asserted: only that the floors exist and the targets
are computed from the run's medians."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _results(
    tell_sync_ceylon: float, tell_await_ceylon: float, pykka_us: float, many_ceylon_s: float
) -> dict[str, object]:
    def scenario(metric: str, implementation: str, median: float) -> dict[str, object]:
        return {"metrics": {metric: {"implementations": {implementation: {"median": median}}}}}

    # many_agents: its time is its second metric, as in bench/run.py's output
    many = {
        "params": {"n_agents": 100_000},
        "metrics": {
            "peak_rss": {"implementations": {"ceylon": {"median": 600.0}}},
            "time": {"implementations": {"ceylon": {"median": many_ceylon_s}}},
        },
    }
    return {
        "scenarios": {
            "fanout": scenario("wall", "ideal", 10.0),
            "tell_sync": scenario("throughput", "ceylon", tell_sync_ceylon),
            "tell_await": scenario("throughput", "ceylon", tell_await_ceylon),
            "query_sync_rtt": scenario("rtt", "pykka", pykka_us),
            "many_agents": many,
        }
    }


def test_floors_quick_reports_each_floor_beside_what_its_target_asks_for(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(100_000, 50_000, 30.0, 0.6)))
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "floors.py"), "--quick", "--memory",
            "--results", str(results),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    floors = json.loads(lines[-1])
    measured = {
        "tell_sync", "tell_sync_queued", "tell_await", "two_wakeups", "many_agents", "fanout",
        "first_touch",
    }
    memory = {"bytes_per_message_serendip", "bytes_per_message_asyncio", "extra_first_touch_ns"}
    assert set(floors) == measured | memory
    assert all(floors[name] > 0 for name in measured)
    # every queued message holds at least its int payload's reference in either mesh
    assert floors["bytes_per_message_serendip"] > 0 and floors["bytes_per_message_asyncio"] > 0
    extra = floors["bytes_per_message_serendip"] - floors["bytes_per_message_asyncio"]
    assert floors["extra_first_touch_ns"] == extra / 4096 * floors["first_touch"] * 1000
    assert any(line.startswith("tell_sync keeps") for line in lines)
    # 1e9 / (20 * 100,000) = 500 ns; 1e9 / (20 * 50,000) = 1,000 ns; 0.3 * 30 = 9 µs;
    # 0.6 s / 20 / 100,000 agents = 300 ns; 1.5 * 10 ms = 15 ms
    assert any(line.startswith("tell_sync ") and line.endswith(": 500 ns/msg") for line in lines)
    assert any(
        line.startswith("tell_sync_queued") and line.endswith(": 500 ns/msg") for line in lines
    )
    assert any(line.startswith("tell_await") and line.endswith(": 1000 ns/msg") for line in lines)
    assert any(line.startswith("two_wakeups") and line.endswith(": 9.0 µs/round trip") for line in lines)
    assert any(line.startswith("many_agents") and line.endswith(": 300 ns/agent") for line in lines)
    assert any(line.startswith("fanout") and line.endswith(": 15 ms/round") for line in lines)
    # no round of sleeps can end before its sleep has
    assert floors["fanout"] >= 10.0
