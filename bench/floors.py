"""Floors: what a scenario's own Python costs with no mesh at all.

Some targets of issue 3 ask for less time per message than the scenario's own Python code
takes on this machine. This program measures those costs directly, in one process, so that a
target out of reach can be shown to be so rather than quietly lowered:

- ``tell_sync``: the sender's loop (``names[i % 16]`` and a call of a C function with two
  arguments, standing in for ``send_to_nowait``) plus calling a bound method that does
  ``self.count += 1`` (the handler): nanoseconds per message.
- ``tell_sync_queued``: the same work with each message kept until it is handled, as any mesh
  must keep it (the scenario sends its whole burst before a handler runs): a
  ``collections.deque`` per agent, picked by index with no lookup by name, the sender's loop
  appending, then each agent's handler called on what it pops. In a fresh process per
  repetition, pinned to one CPU (the CPUs in turn), so that the memory the burst holds is
  touched for the first time, as it is in the scenario: the least a queueing mesh costs, with
  no scheduling, context or bookkeeping.
- ``tell_await``: 16 tasks, each doing ``await asyncio.sleep(0)`` and ``count += 1`` in a
  loop: what one suspension through the event loop costs any asyncio-based runtime, with no
  queue or mesh around it.
- ``two_wakeups``: a round trip between two Python threads over two ``queue.SimpleQueue``s (a
  C queue that releases the GIL): the sleeping side is woken once per hop, as a blocking
  caller and a loop thread are in ``query_sync``.
- ``many_agents``: one message to each of 100,000 agents with no mesh: find the agent by
  name in a dict, append to its own ``collections.deque`` (the least a mailbox per agent
  costs), then pop each and call its handler (``self.count += 1``): nanoseconds per agent.
  100,000 distinct agents are out of the caches, which is what makes it dearer than
  ``tell_sync``'s per-message floor.
- ``fanout``: 100 tasks started at once by ``asyncio.gather``, each doing ``await
  asyncio.sleep(0.01)``, with no queue or mesh around them: milliseconds per round. It is what
  the scenario's own sleeps cost on the machine (the timers' lateness, the tasks), so what is
  left of the target's 15 ms is all any mesh may spend on its 100 queries.
- ``first_touch``: microseconds to fault in one 4 KiB page of fresh memory. Each repetition is
  a fresh process, so every byte a scenario keeps per queued message is first touched; the
  ``tell_sync`` burst queues all its messages before any is handled. With ``--memory`` the
  bytes per queued message of serendip and of the asyncio mesh are measured too (the slope of
  peak RSS between two sizes of the scenario, in fresh processes through ``child.py``), and
  what serendip's extra bytes cost in first touches per message.

Usage: ``.venv/bin/python bench/floors.py [--quick] [--memory] [--results DIR/results.json]``.
With ``--results`` it also prints, for each floor, the time per message that the target asks
for in that run (from its baseline's median).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import mmap
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from measure import cpu_for
from scenarios import by_name

__all__ = ["bytes_per_message", "measure_floors", "targets_from_results", "tell_sync_queued_ns"]

AGENTS = 16
PAGE = 4096
BENCH = Path(__file__).resolve().parent


class _Handler:
    def __init__(self) -> None:
        self.count = 0

    def on_message(self, message: int) -> None:
        self.count += 1


def _tell_sync_ns(messages: int) -> float:
    names = [f"agent-{i}" for i in range(AGENTS)]
    sink: dict[str, int] = {}
    send = sink.get  # a C call with two arguments, like the bound send_to_nowait
    handlers = [_Handler() for _ in range(AGENTS)]
    start = time.perf_counter_ns()
    for i in range(messages):
        send(names[i % AGENTS], i)
    sent = time.perf_counter_ns()
    for i in range(messages):
        handlers[i % AGENTS].on_message(i)
    handled = time.perf_counter_ns()
    if sum(h.count for h in handlers) != messages:
        raise RuntimeError("the handlers missed messages")
    return ((sent - start) + (handled - sent)) / messages


def tell_sync_queued_ns(messages: int) -> float:
    """``tell_sync_queued`` in this process (see the module's docstring); ns per message."""
    boxes: list[collections.deque[int]] = [collections.deque() for _ in range(AGENTS)]
    handlers = [_Handler() for _ in range(AGENTS)]
    start = time.perf_counter_ns()
    for i in range(messages):
        boxes[i % AGENTS].append(i)
    for box, handler in zip(boxes, handlers):
        handle, pop = handler.on_message, box.popleft
        for _ in range(len(box)):
            handle(pop())
    elapsed = time.perf_counter_ns() - start
    if sum(h.count for h in handlers) != messages:
        raise RuntimeError("the handlers missed messages")
    return elapsed / messages


def _tell_sync_queued_ns(messages: int, rep: int) -> float:
    # On the CPU bench/run.py gives repetition `rep` of the scenario's serendip child.
    cpu = cpu_for(by_name(["tell_sync"])[0], "serendip", rep)
    pin = "" if cpu is None else f"import os; os.sched_setaffinity(0, {{{cpu}}}); "
    code = f"{pin}import floors; print(floors.tell_sync_queued_ns({messages}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BENCH, check=True, capture_output=True, text=True,
        timeout=600,
    )
    return float(out.stdout)


def _tell_await_ns(messages: int) -> float:
    per_task = messages // AGENTS
    counts = [0] * AGENTS

    async def consumer(k: int) -> None:
        for _ in range(per_task):
            await asyncio.sleep(0)
            counts[k] += 1

    async def main() -> int:
        start = time.perf_counter_ns()
        await asyncio.gather(*(consumer(k) for k in range(AGENTS)))
        return time.perf_counter_ns() - start

    elapsed = asyncio.run(main())
    if sum(counts) != per_task * AGENTS:
        raise RuntimeError("the tasks missed iterations")
    return elapsed / (per_task * AGENTS)


def _two_wakeups_us(round_trips: int) -> float:
    to_server: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    to_client: queue.SimpleQueue[int] = queue.SimpleQueue()

    def serve() -> None:
        while (n := to_server.get()) is not None:
            to_client.put(n + 1)

    server = threading.Thread(target=serve)
    server.start()
    try:
        start = time.perf_counter_ns()
        for n in range(round_trips):
            to_server.put(n)
            if to_client.get() != n + 1:
                raise RuntimeError("wrong answer")
        elapsed = time.perf_counter_ns() - start
    finally:
        to_server.put(None)
        server.join()
    return elapsed / round_trips / 1000


class _Mailboxed(_Handler):
    def __init__(self) -> None:
        super().__init__()
        self.mailbox: collections.deque[int] = collections.deque()


def _many_agents_ns(agents: int) -> float:
    names = [f"a{i}" for i in range(agents)]
    handlers = [_Mailboxed() for _ in range(agents)]
    by_name = dict(zip(names, handlers))
    start = time.perf_counter_ns()
    for i, name in enumerate(names):
        by_name[name].mailbox.append(i)
    for handler in handlers:
        handler.on_message(handler.mailbox.popleft())
    elapsed = time.perf_counter_ns() - start
    if sum(h.count for h in handlers) != agents:
        raise RuntimeError("the handlers missed messages")
    return elapsed / agents


def _fanout_ms(rounds: int, workers: int = 100, delay: float = 0.01) -> float:
    async def main() -> list[float]:
        times = []
        for _ in range(rounds):
            start = time.perf_counter_ns()
            await asyncio.gather(*(asyncio.sleep(delay) for _ in range(workers)))
            times.append((time.perf_counter_ns() - start) / 1e6)
        return times

    # The median round, as bench/run.py's fanout reports the median of its repetitions.
    return statistics.median(asyncio.run(main()))


def _first_touch_us(pages: int) -> float:
    with mmap.mmap(-1, pages * PAGE) as region:  # fresh anonymous memory, not yet faulted in
        start = time.perf_counter_ns()
        for offset in range(0, pages * PAGE, PAGE):
            region[offset] = 1
        elapsed = time.perf_counter_ns() - start
    return elapsed / pages / 1000


def _peak_rss_kb(implementation: str, messages: int) -> int:
    params = json.dumps({"n_agents": AGENTS, "n_messages": messages})
    out = subprocess.run(
        [sys.executable, str(BENCH / "child.py"), implementation, "tell_sync", params],
        cwd=BENCH, check=True, capture_output=True, text=True, timeout=600,
    )
    return int(json.loads(out.stdout)["raw"]["peak_rss_kb"])


def bytes_per_message(implementation: str, small: int, large: int, reps: int = 3) -> float:
    """What ``tell_sync`` keeps per queued message: the slope of the peak RSS of fresh
    processes between ``small`` and ``large`` messages (medians of ``reps`` each)."""
    low = statistics.median(_peak_rss_kb(implementation, small) for _ in range(reps))
    high = statistics.median(_peak_rss_kb(implementation, large) for _ in range(reps))
    return (high - low) * 1024 / (large - small)


def measure_floors(quick: bool = False, reps: int = 5) -> dict[str, dict[str, Any]]:
    """Medians over ``reps`` repetitions, the floors interleaved within each."""
    sizes = (
        (20_000, 16_000, 2_000, 10_000, 5, 1_000, 20_000)
        if quick
        else (400_000, 160_000, 20_000, 100_000, 50, 10_000, 200_000)  # the last: the scenario's
    )
    runs: dict[str, list[float]] = {
        "tell_sync": [],
        "tell_sync_queued": [],
        "tell_await": [],
        "two_wakeups": [],
        "many_agents": [],
        "fanout": [],
        "first_touch": [],
    }
    for rep in range(reps):
        runs["tell_sync"].append(_tell_sync_ns(sizes[0]))
        runs["tell_sync_queued"].append(_tell_sync_queued_ns(sizes[6], rep))
        runs["tell_await"].append(_tell_await_ns(sizes[1]))
        runs["two_wakeups"].append(_two_wakeups_us(sizes[2]))
        runs["many_agents"].append(_many_agents_ns(sizes[3]))
        runs["fanout"].append(_fanout_ms(sizes[4]))
        runs["first_touch"].append(_first_touch_us(sizes[5]))
    units = {
        "tell_sync": "ns/msg",
        "tell_sync_queued": "ns/msg",
        "tell_await": "ns/msg",
        "two_wakeups": "µs/round trip",
        "many_agents": "ns/agent",
        "fanout": "ms/round",
        "first_touch": "µs/page",
    }
    return {
        name: {"median": statistics.median(values), "unit": units[name], "runs": values}
        for name, values in runs.items()
    }


def _median(
    results: dict[str, Any], scenario: str, implementation: str, metric_name: str | None = None
) -> float | None:
    """An implementation's median in a scenario: of ``metric_name``, else of its first metric."""
    metrics = results.get("scenarios", {}).get(scenario, {}).get("metrics", {})
    for name, metric in metrics.items():
        if metric_name is not None and name != metric_name:
            continue
        value = metric.get("implementations", {}).get(implementation, {}).get("median")
        if isinstance(value, (int, float)):
            return float(value)
    return None


def targets_from_results(results: dict[str, Any]) -> dict[str, str]:
    """What each floor is compared with: the per-message time a target asks for in a run."""
    out: dict[str, str] = {}
    ceylon_sync = _median(results, "tell_sync", "ceylon")
    if ceylon_sync:
        out["tell_sync"] = f"20x ceylon ({ceylon_sync:,.0f} msg/s): {1e9 / (20 * ceylon_sync):.0f} ns/msg"
        out["tell_sync_queued"] = out["tell_sync"]
    ceylon_await = _median(results, "tell_await", "ceylon")
    if ceylon_await:
        out["tell_await"] = (
            f"20x ceylon ({ceylon_await:,.0f} msg/s): {1e9 / (20 * ceylon_await):.0f} ns/msg"
        )
    ceylon_many = _median(results, "many_agents", "ceylon", "time")
    agents = results.get("scenarios", {}).get("many_agents", {}).get("params", {}).get("n_agents")
    if ceylon_many and agents:
        out["many_agents"] = (
            f"20x ceylon ({ceylon_many:.3f} s): {ceylon_many / 20 / agents * 1e9:.0f} ns/agent"
        )
    ideal = _median(results, "fanout", "ideal", "wall")  # the row bench/run.py names "ideal"
    if ideal:
        out["fanout"] = f"1.5x ideal ({ideal:g} ms): {1.5 * ideal:g} ms/round"
    pykka = _median(results, "query_sync_rtt", "pykka")
    if pykka:
        out["two_wakeups"] = f"0.3x pykka ({pykka:.1f} µs): {0.3 * pykka:.1f} µs/round trip"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--results", type=Path, help="a bench/run.py results.json to compare with")
    parser.add_argument(
        "--memory", action="store_true", help="also bytes per queued message (tell_sync)"
    )
    args = parser.parse_args()
    floors = measure_floors(quick=args.quick, reps=2 if args.quick else 5)
    targets = targets_from_results(json.loads(args.results.read_text())) if args.results else {}
    for name, floor in floors.items():
        line = f"{name:16} floor {floor['median']:10.1f} {floor['unit']}"
        if name in targets:
            line += f"   target asks for {targets[name]}"
        print(line)
    medians = {name: floor["median"] for name, floor in floors.items()}
    if args.memory:
        small, large = (2_000, 20_000) if args.quick else (20_000, 200_000)
        reps = 1 if args.quick else 3
        for implementation in ("serendip", "asyncio"):
            medians[f"bytes_per_message_{implementation}"] = bytes_per_message(
                implementation, small, large, reps
            )
        extra = medians["bytes_per_message_serendip"] - medians["bytes_per_message_asyncio"]
        medians["extra_first_touch_ns"] = extra / PAGE * medians["first_touch"] * 1000
        print(
            f"tell_sync keeps {medians['bytes_per_message_serendip']:.0f} B per queued message"
            f" (asyncio mesh: {medians['bytes_per_message_asyncio']:.0f} B); the extra bytes"
            f" cost {medians['extra_first_touch_ns']:.0f} ns/msg in first touches"
        )
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
