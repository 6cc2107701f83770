"""bench/summary.py and bench/table.py: a target's ratio, of the medians and repetition by
repetition. Synthetic outcomes, so the arithmetic is checked exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The suite's modules import one another as top-level names (bench/ is their script folder);
# the path is put back so that no later test imports a bench module by accident.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
try:
    from measure import Outcome
    from scenarios import SCENARIOS
    from summary import summarize
    from table import render
finally:
    sys.path.pop(0)


def _ran(throughput: float) -> Outcome:
    return Outcome(metrics={"throughput": throughput})


def _tell_sync(outcomes: dict[str, list[Outcome]]) -> dict[str, object]:
    scenario = next(s for s in SCENARIOS if s.name == "tell_sync")
    return summarize(scenario, scenario.params, outcomes)["metrics"]["throughput"]


def test_a_target_keeps_its_ratio_per_repetition_beside_the_ratio_of_medians() -> None:
    # The two medians come from different repetitions (serendip's second, asyncio's third):
    # their ratio misses the target that two of the three repetitions meet.
    serendip = [_ran(1000), _ran(600), _ran(500)]
    asyncio = [_ran(300), _ran(150), _ran(250)]
    metric = _tell_sync({"serendip": serendip, "asyncio": asyncio})
    target = next(t for t in metric["targets"] if t["versus"] == "asyncio")
    assert target["ratio"] == pytest.approx(600 / 250)
    assert target["met"] is False  # judged on the medians, as the issue words it
    assert target["paired"]["ratios"] == pytest.approx([1000 / 300, 4.0, 2.0])
    assert target["paired"]["median"] == pytest.approx(1000 / 300)


def test_a_failed_repetition_drops_its_pair_without_shifting_the_others() -> None:
    serendip = [_ran(900), Outcome(failure="crashed"), _ran(700)]
    asyncio = [_ran(300), _ran(100), _ran(200)]
    metric = _tell_sync({"serendip": serendip, "asyncio": asyncio})
    target = next(t for t in metric["targets"] if t["versus"] == "asyncio")
    assert target["paired"]["ratios"] == pytest.approx([3.0, 3.5])


def test_a_row_with_no_result_has_no_pairs() -> None:
    metric = _tell_sync({"serendip": [_ran(1000)], "ceylon": [Outcome(unsupported="no")]})
    target = next(t for t in metric["targets"] if t["versus"] == "ceylon")
    assert target["ratio"] is None
    assert "paired" not in target


def test_the_table_lists_the_pairs_and_how_many_meet_the_target() -> None:
    serendip = [_ran(1000), _ran(600), _ran(500)]
    asyncio = [_ran(300), _ran(150), _ran(250)]
    results = {
        "machine": {
            "packages": {}, "date_utc": "d", "cpu_model": "c", "cores": 2, "cores_usable": 2,
            "memory_gib": 1, "os": "o", "kernel": "k", "python": "p", "compiler": "g",
            "caf": "0", "serendip_commit": "x", "serendip_build": "b",
        },
        "suite": {"quick": True, "reps": 3, "duration_s": 1.0},
        "scenarios": {
            "tell_sync": {
                "summary": "s",
                "params": {},
                "metrics": {"throughput": _tell_sync({"serendip": serendip, "asyncio": asyncio})},
            }
        },
    }
    table = render(results)
    assert "| ≥ 3× (is 2.4×) | **no** |" in table
    assert "- tell_sync vs asyncio (≥ 3×): 3.33×, 4×, 2× (median 3.33×; 2 of 3 meet it)" in table
