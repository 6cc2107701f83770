"""Runs every Python example as a user would and checks what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "never awaited" not in proc.stderr, proc.stderr
    return proc.stdout


def test_the_simple_demo_answers_every_query_and_handles_every_message() -> None:
    out = run_example("demo_simple_agent.py").splitlines()
    assert out[:3] == [
        "hello, ada (message #1)",
        "hello, grace (message #2)",
        "hello, linus (message #3)",
    ]
    assert out[3] == "greeter handled 103 messages"


def test_the_async_demo_chains_queries_and_reports_the_handler_error() -> None:
    out = run_example("demo_async_agent.py").splitlines()
    assert out == [
        "oslo: 4 C, bring a coat",
        "lisbon: 19 C, leave the coat",
        "cairo: 31 C, leave the coat",
        "weather failed as expected: KeyError: 'atlantis'",
        "advisor handled 3 queries",
    ]


def test_the_main_demo_fans_out_counts_words_and_summarises() -> None:
    out = run_example("demo_coordinator.py").splitlines()
    counts = dict(line.split(": ", 1) for line in (row.strip() for row in out[:6]))
    assert counts == {
        "intro": "7",
        "async": "11",
        "speed": "9",
        "sync": "9",
        "close": "8",
        "missing": "failed (KeyError)",
    }
    assert out[6].startswith("summary: 6 jobs, 44 words, 1 failed (missing), 12 messages handled")


def test_the_request_tracking_demo_collects_every_result_and_reminds_the_slow_agent() -> None:
    out = run_example("demo_request_tracking.py").splitlines()
    assert out == [
        "submitted 4 jobs",
        "took early: intro: 7 words",
        "collected: tracking: 10 words",
        "collected: archive: 8 words",
        "collected: missing: failed (KeyError)",
        "slowest: archive (reminded: True)",
        "pending: 0, retained: 0, evicted: 0",
    ]


def test_the_actions_demo_shows_schemas_runs_actions_and_names_bad_fields() -> None:
    out = run_example("demo_actions.py").splitlines()
    assert out[0] == (
        "tools: level (Current stock of one item.), "
        "reserve (Takes items out of stock; returns what is left.)"
    )
    schema = json.loads(out[1].removeprefix("reserve schema: "))
    assert schema["required"] == ["line"]
    assert "ctx" not in schema["properties"]
    assert schema["properties"]["line"]["properties"]["unit"]["enum"] == ["piece", "box"]
    assert out[2:] == [
        "level(apple) = 10",
        "reserved 3 apples, left: 7",
        "asked by message: 7",
        "bad input: action 'reserve': input 'line.quantity': expected integer, got string",
        "unknown action: agent 'inventory' has no action 'restock' (its actions: level, reserve)",
    ]


def test_the_topics_demo_reaches_the_matching_subscribers() -> None:
    assert run_example("demo_topics.py").splitlines() == [
        "orders.eu.new -> 2 subscriber(s)",
        "orders.us.new -> 2 subscriber(s)",
        "orders.eu.paid -> 1 subscriber(s)",
        "log: orders.eu.new: A1; orders.us.new: B7; orders.eu.paid: A1",
        "billed: A1, B7",
    ]
