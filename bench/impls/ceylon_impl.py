"""ceylonai-next 0.3.6, the predecessor, driven as its own docs and examples drive it.

Its Rust mesh only queues a Python agent's messages; Python must call
``mesh.process_messages()`` to run the handlers (an ``async def`` handler is then started with
``loop.create_task`` when a loop runs). Payloads are strings. Sends use ``send_to_sync``, which
its examples use and which is far cheaper than awaiting ``send_to`` (each await goes through a
Tokio future); the suite calls ``process_messages`` itself in a tight loop instead of the
100 ms ``AsyncMessageProcessor`` poll. Both choices favour the predecessor.

A query to a Python agent never completes there (the handler's return value is dropped; only
Rust ``LlmAgent``s answer), so the query scenarios first probe one query with a short deadline
and report the outcome as the reason they cannot run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ceylonai_next import Agent, AsyncMessageProcessor, LocalMesh

from impls import Unsupported, check

NOTES: dict[str, str] = {
    "tell_sync": "send_to_sync, then process_messages() until every handler ran",
    "tell_async": "send_to_sync inside the loop; process_messages() + sleep(0) until all ran",
    "tell_await": "send_to_sync inside the loop; process_messages() + sleep(0) until all ran",
    "many_agents": "send_to_sync, then process_messages() until every handler ran",
}

PROBE_TIMEOUT = 2.0  # seconds a probing query may take; a working one takes microseconds


class Tally:
    def __init__(self) -> None:
        self.count = 0


class Counting(Agent):
    """An agent that counts the messages it handled (each subclass: one handler kind)."""

    def __init__(self, name: str, tally: Tally) -> None:
        super().__init__(name)
        self.tally = tally
        self.count = 0


class Counter(Counting):
    def on_message(self, message: Any, context: Any = None) -> None:
        self.count += 1
        self.tally.count += 1


class AsyncCounter(Counting):
    async def on_message(self, message: Any, context: Any = None) -> None:  # type: ignore[override]
        self.count += 1
        self.tally.count += 1


class AwaitCounter(Counting):
    async def on_message(self, message: Any, context: Any = None) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.count += 1
        self.tally.count += 1


class Echo(Agent):
    def __init__(self) -> None:
        super().__init__("echo")
        self.answered: list[str] = []

    def on_message(self, message: str, context: Any = None) -> str:
        reply = str(int(message) + 1)
        self.answered.append(reply)
        return reply


def _mesh_of(kind: type[Counting], n_agents: int) -> tuple[LocalMesh, Tally, list[Counting]]:
    mesh = LocalMesh("bench")
    tally = Tally()
    agents = [kind(f"a{i}", tally) for i in range(n_agents)]
    for a in agents:
        mesh.add_agent(a)
    mesh.start()
    return mesh, tally, agents


def _send_all(mesh: LocalMesh, names: list[str], n_messages: int) -> None:
    n_agents = len(names)
    for i in range(n_messages):
        mesh.send_to_sync(names[i % n_agents], str(i))


def _tell_sync(n_agents: int, n_messages: int) -> tuple[float, list[Counting]]:
    mesh, tally, agents = _mesh_of(Counter, n_agents)
    names = [a.name() for a in agents]
    start = time.perf_counter()
    _send_all(mesh, names, n_messages)
    while tally.count < n_messages:
        mesh.process_messages()
    elapsed = time.perf_counter() - start
    check(tally.count == n_messages, f"handled {tally.count} of {n_messages} messages")
    return elapsed, agents


def tell_sync(n_agents: int, n_messages: int) -> float:
    return _tell_sync(n_agents, n_messages)[0]


async def _tell_coroutines(kind: type[Counting], n_agents: int, n_messages: int) -> float:
    mesh, tally, agents = _mesh_of(kind, n_agents)
    names = [a.name() for a in agents]
    start = time.perf_counter()
    _send_all(mesh, names, n_messages)
    while tally.count < n_messages:
        mesh.process_messages()
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    check(tally.count == n_messages, f"handled {tally.count} of {n_messages} messages")
    return elapsed


def tell_async(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell_coroutines(AsyncCounter, n_agents, n_messages))


def tell_await(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell_coroutines(AwaitCounter, n_agents, n_messages))


def _unanswered(echo: Echo, error: Exception) -> Unsupported:
    ran = (
        f"the handler ran and returned {echo.answered[0]!r}"
        if echo.answered
        else "the handler never ran"
    )
    return Unsupported(
        f"a query to a Python agent never completes ({ran}; its return value is dropped, only "
        f"Rust LlmAgents answer): {error}"
    )


def _result(reply: Any) -> str:
    return str(reply.response)


async def _ask(n_iters: int) -> float:
    mesh = LocalMesh("bench")
    echo = Echo()
    mesh.add_agent(echo)
    mesh.start()
    async with AsyncMessageProcessor(mesh, interval_ms=1):
        try:
            await mesh.query("echo", "0", timeout=PROBE_TIMEOUT)
        except RuntimeError as e:
            raise _unanswered(echo, e) from e
        start = time.perf_counter()
        for i in range(n_iters):
            reply = _result(await mesh.query("echo", str(i)))
            check(reply == str(i + 1), f"query {i} answered {reply!r}")
        return time.perf_counter() - start


def ask_rtt(n_iters: int) -> float:
    return asyncio.run(_ask(n_iters))


def query_sync_rtt(n_iters: int) -> float:
    mesh = LocalMesh("bench")
    echo = Echo()
    mesh.add_agent(echo)
    mesh.start()
    stop = threading.Event()

    def pump() -> None:  # the script thread blocks in query_sync, so another one drains
        while not stop.wait(0.001):
            mesh.process_messages()

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        try:
            mesh.query_sync("echo", "0", timeout=PROBE_TIMEOUT)
        except RuntimeError as e:
            raise _unanswered(echo, e) from e
        start = time.perf_counter()
        for i in range(n_iters):
            reply = _result(mesh.query_sync("echo", str(i)))
            check(reply == str(i + 1), f"query {i} answered {reply!r}")
        return time.perf_counter() - start
    finally:
        stop.set()
        pumper.join()


def fanout(n_agents: int, delay: float, rounds: int) -> float:
    """The coordinator must query its workers: the probe shows such a query is never answered."""
    try:
        ask_rtt(1)
    except Unsupported as e:
        raise Unsupported(f"the coordinator cannot query its workers: {e}") from e
    raise AssertionError("queries to Python agents answer now: this baseline needs a fanout")


def many_agents(n_agents: int) -> float:
    elapsed, agents = _tell_sync(n_agents, n_agents)
    check(all(a.count == 1 for a in agents), "some agent did not get exactly one message")
    return elapsed
