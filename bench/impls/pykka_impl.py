"""Pykka: one ``ThreadingActor`` (one OS thread) per agent, driven by ``tell`` and ``ask``.

Pykka has no ``async def`` handlers: ``on_receive`` is a plain method run on the actor's own
thread, so the handler variants that must be coroutines are unsupported, and the fan-out's
handlers wait by blocking their threads in ``time.sleep``.
"""

from __future__ import annotations

import asyncio
import resource
import time
from pathlib import Path
from typing import Any

import pykka

from impls import Unsupported, check

NOTES: dict[str, str] = {
    "ask_rtt": "awaits the future of ref.ask(block=False): Pykka's await blocks the loop in get()",
    "query_sync_rtt": "blocking ref.ask() from the script thread",
    "fanout": "handlers block their own thread in time.sleep (Pykka has no async handlers)",
}

NO_COROUTINES = "Pykka has no async handlers: on_receive is a plain method on the actor's thread"

COUNT = object()  # asks an agent for its tally; arrives after every message told before it


class Counter(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        if message is COUNT:
            return self.count
        self.count += 1
        return None


class Echo(pykka.ThreadingActor):
    def on_receive(self, message: int) -> int:
        return message + 1


class Sleeper(pykka.ThreadingActor):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def on_receive(self, delay: float) -> int:
        time.sleep(delay)
        return self.index


class Coordinator(pykka.ThreadingActor):
    def __init__(self, workers: list[pykka.ActorRef[Sleeper]]) -> None:
        super().__init__()
        self.workers = workers

    def on_receive(self, delay: float) -> list[int]:
        futures = [w.ask(delay, block=False) for w in self.workers]
        return list(pykka.get_all(futures))


def _tally(refs: list[pykka.ActorRef[Counter]]) -> int:
    return sum(pykka.get_all([r.ask(COUNT, block=False) for r in refs]))


def _tell(n_agents: int, n_messages: int) -> float:
    refs = [Counter.start() for _ in range(n_agents)]
    try:
        start = time.perf_counter()
        for i in range(n_messages):
            refs[i % n_agents].tell(i)
        handled = _tally(refs)
        elapsed = time.perf_counter() - start
    finally:
        pykka.ActorRegistry.stop_all()
    check(handled == n_messages, f"handled {handled} of {n_messages} messages")
    return elapsed


def tell_sync(n_agents: int, n_messages: int) -> float:
    return _tell(n_agents, n_messages)


def tell_async(n_agents: int, n_messages: int) -> float:
    raise Unsupported(NO_COROUTINES)


def tell_await(n_agents: int, n_messages: int) -> float:
    raise Unsupported(NO_COROUTINES)


def ask_rtt(n_iters: int) -> float:
    async def run(echo: pykka.ActorRef[Echo]) -> float:
        start = time.perf_counter()
        for i in range(n_iters):
            reply = await echo.ask(i, block=False)
            check(reply == i + 1, f"ask {i} answered {reply!r}")
        return time.perf_counter() - start

    echo = Echo.start()
    try:
        return asyncio.run(run(echo))
    finally:
        pykka.ActorRegistry.stop_all()


def query_sync_rtt(n_iters: int) -> float:
    echo = Echo.start()
    try:
        start = time.perf_counter()
        for i in range(n_iters):
            reply = echo.ask(i)
            check(reply == i + 1, f"ask {i} answered {reply!r}")
        return time.perf_counter() - start
    finally:
        pykka.ActorRegistry.stop_all()


def fanout(n_agents: int, delay: float, rounds: int) -> float:
    workers = [Sleeper.start(i) for i in range(n_agents)]
    coordinator = Coordinator.start(workers)
    try:
        start = time.perf_counter()
        for _ in range(rounds):
            replies = coordinator.ask(delay)
            check(sorted(replies) == list(range(n_agents)), "the coordinator missed some workers")
        return time.perf_counter() - start
    finally:
        pykka.ActorRegistry.stop_all()


def _thread_limit() -> int:
    """How many threads this process may have: the lowest of the kernel's and the user's caps."""
    limits = [resource.getrlimit(resource.RLIMIT_NPROC)[0]]
    for name in ("threads-max", "pid_max"):
        limits.append(int(Path(f"/proc/sys/kernel/{name}").read_text()))
    return min(x for x in limits if x != resource.RLIM_INFINITY)


def many_agents(n_agents: int) -> float:
    limit = _thread_limit()
    if n_agents >= limit:
        raise Unsupported(
            f"one OS thread per actor: {n_agents} actors exceed this machine's thread limit "
            f"({limit}, from pid_max/threads-max/RLIMIT_NPROC)"
        )
    return _tell(n_agents, n_agents)
