"""The scenarios of issue 3: their sizes (full and ``--quick``), metrics and targets.

A Python scenario calls the implementation function of the same name with ``params`` as
keyword arguments; it returns the seconds of message work (or a dict of raw values), and
``derive`` turns those (and the child's peak RSS) into the scenario's metrics. The native
scenario runs two C++ programs whose JSON output ``derive`` reads. Every target compares
serendip's median with one other row's median of the same run: ratio = serendip / other, met
when ``ratio op factor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from impls import IMPLEMENTATIONS

__all__ = ["IDEAL", "SCENARIOS", "Metric", "Scenario", "Target", "by_name"]

Raw = dict[str, float]
IDEAL = "ideal"  # a pseudo-row holding the best possible value (fanout: the handler's sleep)


@dataclass(frozen=True)
class Target:
    versus: str  # an implementation, or IDEAL
    op: str  # ">=" or "<="
    factor: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.factor if self.op == ">=" else ratio <= self.factor

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.factor:g}×"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    params: dict[str, Any]
    quick: dict[str, Any]
    metrics: tuple[Metric, ...]
    derive: Callable[[Raw, dict[str, Any]], dict[str, float]]
    implementations: tuple[str, ...] = tuple(IMPLEMENTATIONS)
    native: bool = False
    ideal: Callable[[dict[str, Any]], dict[str, float]] | None = None
    # Its agents and their callers all run on one event loop, one thread (measure.cpu_for).
    one_loop: bool = False

    def sized(self, quick: bool) -> dict[str, Any]:
        return self.quick if quick else self.params


# The predecessor targets of the issue: ≥ 20× its throughput, ≥ 100× lower latency.
CEYLON_THROUGHPUT = Target("ceylon", ">=", 20)
CEYLON_LATENCY = Target("ceylon", "<=", 0.01)
CEYLON_DURATION = Target("ceylon", "<=", 1 / 20)  # a duration of fixed work: 20× throughput


def _throughput(raw: Raw, p: dict[str, Any]) -> dict[str, float]:
    return {"throughput": p["n_messages"] / raw["seconds"]}


def _round_trip(raw: Raw, p: dict[str, Any]) -> dict[str, float]:
    return {"rtt": raw["seconds"] / p["n_iters"] * 1e6}


def _tell(name: str, summary: str, versus_asyncio: float) -> Scenario:
    return Scenario(
        name,
        summary,
        params={"n_agents": 16, "n_messages": 200_000},
        quick={"n_agents": 16, "n_messages": 4_000},
        metrics=(
            Metric(
                "throughput",
                "msg/s",
                True,
                (Target("asyncio", ">=", versus_asyncio), CEYLON_THROUGHPUT),
            ),
        ),
        derive=_throughput,
        one_loop=True,
    )


SCENARIOS: tuple[Scenario, ...] = (
    _tell("tell_sync", "16 agents, one-way messages round-robin, plain-function handler", 3),
    _tell("tell_async", "the same with an async def handler that does not suspend", 1.5),
    _tell("tell_await", "the same with a handler that awaits asyncio.sleep(0) once", 1.0),
    Scenario(
        "ask_rtt",
        "sequential await query to one agent, caller on the agents' loop",
        params={"n_iters": 20_000},
        quick={"n_iters": 500},
        metrics=(Metric("rtt", "µs", False, (Target("asyncio", "<=", 0.7), CEYLON_LATENCY)),),
        derive=_round_trip,
        one_loop=True,
    ),
    Scenario(
        "query_sync_rtt",
        "a plain script thread calling query_sync in a loop",
        params={"n_iters": 20_000},
        quick={"n_iters": 500},
        metrics=(Metric("rtt", "µs", False, (Target("pykka", "<=", 0.3), CEYLON_LATENCY)),),
        derive=_round_trip,
    ),
    Scenario(
        "fanout",
        "a coordinator queries 100 agents at once, each awaits asyncio.sleep(0.01)",
        params={"n_agents": 100, "delay": 0.01, "rounds": 20},
        quick={"n_agents": 100, "delay": 0.01, "rounds": 3},
        metrics=(Metric("wall", "ms", False, (Target(IDEAL, "<=", 1.5), CEYLON_LATENCY)),),
        derive=lambda raw, p: {"wall": raw["seconds"] / p["rounds"] * 1e3},
        ideal=lambda p: {"wall": p["delay"] * 1e3},
        one_loop=True,
    ),
    Scenario(
        "many_agents",
        "one message to each of many agents; peak RSS of the whole process",
        params={"n_agents": 100_000},
        quick={"n_agents": 2_000},
        metrics=(
            Metric("peak_rss", "MiB", False, (Target("asyncio", "<=", 1.0),)),
            Metric("time", "s", False, (CEYLON_DURATION,)),
        ),
        derive=lambda raw, p: {"peak_rss": raw["peak_rss_kb"] / 1024, "time": raw["seconds"]},
        one_loop=True,
    ),
    Scenario(
        "native",
        "C++ native agents: one-way over 16 agents, and request/response round trip",
        params={"agents": 16, "messages": 2_000_000, "rtt_iters": 100_000},
        quick={"agents": 16, "messages": 100_000, "rtt_iters": 5_000},
        metrics=(
            Metric("oneway", "msg/s", True, (Target("caf", ">=", 1.0),)),
            Metric("rtt", "µs", False, (Target("caf", "<=", 1.0),)),
        ),
        derive=lambda raw, p: {"oneway": raw["oneway_msgs_per_s"], "rtt": raw["rtt_us"]},
        implementations=("serendip", "caf"),
        native=True,
    ),
    Scenario(
        "llm_calls",
        "concurrent chat calls to a scripted OpenAI-compatible server in a process of its own",
        params={"n_calls": 1_000},
        quick={"n_calls": 100},
        metrics=(
            Metric("cpu", "µs", False, (Target("openai", "<=", 0.2),)),
            Metric("wall", "ms", False),
        ),
        derive=lambda raw, p: {
            "cpu": raw["cpu_seconds"] / p["n_calls"] * 1e6,  # the client's, all its threads
            "wall": raw["seconds"] * 1e3,  # all the calls, from the first sent to the last answer
        },
        implementations=("serendip", "openai"),
    ),
)


def by_name(names: list[str]) -> list[Scenario]:
    """The scenarios named, in suite order; raises ValueError for an unknown name."""
    known = {s.name for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SCENARIOS if s.name in names]
