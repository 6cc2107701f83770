"""The hand-written asyncio mesh: what a Python user writes instead of a mesh library.

Each agent is an unbounded ``asyncio.Queue`` and one consumer task that handles its messages in
order; a query puts a future beside the payload and awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from typing import Any

from impls import check

NOTES: dict[str, str] = {}

Reply = asyncio.Future[Any] | None


class QueueAgent:
    """An agent: a queue of (payload, reply future or None) and a task consuming it."""

    def __init__(self, handler: Callable[[Any], Any]) -> None:
        self.queue: asyncio.Queue[tuple[Any, Reply]] = asyncio.Queue()
        self.handler = handler
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        queue, handler = self.queue, self.handler
        while True:
            payload, reply = await queue.get()
            result = handler(payload)
            if reply is not None:
                reply.set_result(result)
            queue.task_done()

    def tell(self, payload: Any) -> None:
        self.queue.put_nowait((payload, None))

    async def ask(self, payload: Any) -> Any:
        reply = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((payload, reply))
        return await reply

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class AsyncQueueAgent(QueueAgent):
    """The same for an ``async def`` handler, awaited before the next message."""

    async def _consume(self) -> None:
        queue, handler = self.queue, self.handler
        while True:
            payload, reply = await queue.get()
            result = await handler(payload)
            if reply is not None:
                reply.set_result(result)
            queue.task_done()


async def _started() -> None:
    """Lets every new consumer task start and block on its empty queue before timing."""
    await asyncio.sleep(0)


class Tally:
    """Counts handled messages across agents, one handler variant per scenario."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, message: Any) -> None:
        self.count += 1

    async def handle_async(self, message: Any) -> None:
        self.count += 1

    async def handle_await(self, message: Any) -> None:
        await asyncio.sleep(0)
        self.count += 1


async def _tell(n_agents: int, n_messages: int, variant: str) -> float:
    tally = Tally()
    if variant == "sync":
        agents = [QueueAgent(tally.handle) for _ in range(n_agents)]
    else:
        handler = tally.handle_async if variant == "async" else tally.handle_await
        agents = [AsyncQueueAgent(handler) for _ in range(n_agents)]
    await _started()
    start = time.perf_counter()
    for i in range(n_messages):
        agents[i % n_agents].tell(i)
    await asyncio.gather(*(a.queue.join() for a in agents))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(a.close() for a in agents))
    check(tally.count == n_messages, f"handled {tally.count} of {n_messages} messages")
    return elapsed


def tell_sync(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(n_agents, n_messages, "sync"))


def tell_async(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(n_agents, n_messages, "async"))


def tell_await(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(n_agents, n_messages, "await"))


def _plus_one(message: int) -> int:
    return message + 1


async def _ask(n_iters: int) -> float:
    echo = QueueAgent(_plus_one)
    await _started()
    start = time.perf_counter()
    for i in range(n_iters):
        reply = await echo.ask(i)
        check(reply == i + 1, f"query {i} answered {reply!r}")
    elapsed = time.perf_counter() - start
    await echo.close()
    return elapsed


def ask_rtt(n_iters: int) -> float:
    return asyncio.run(_ask(n_iters))


def query_sync_rtt(n_iters: int) -> float:
    """The agents run on a loop in a thread; the script asks through run_coroutine_threadsafe."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make() -> QueueAgent:
        return QueueAgent(_plus_one)

    echo = asyncio.run_coroutine_threadsafe(make(), loop).result()
    start = time.perf_counter()
    for i in range(n_iters):
        future: ThreadFuture[int] = asyncio.run_coroutine_threadsafe(echo.ask(i), loop)
        reply = future.result()
        check(reply == i + 1, f"query {i} answered {reply!r}")
    elapsed = time.perf_counter() - start
    asyncio.run_coroutine_threadsafe(echo.close(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return elapsed


async def _fanout(n_agents: int, delay: float, rounds: int) -> float:
    async def sleep_then_answer(index: int) -> int:
        await asyncio.sleep(delay)
        return index

    def worker(index: int) -> AsyncQueueAgent:
        return AsyncQueueAgent(lambda _delay: sleep_then_answer(index))

    workers = [worker(i) for i in range(n_agents)]

    async def coordinate(_delay: float) -> list[int]:
        return list(await asyncio.gather(*(w.ask(_delay) for w in workers)))

    coordinator = AsyncQueueAgent(coordinate)
    await _started()
    start = time.perf_counter()
    for _ in range(rounds):
        replies = await coordinator.ask(delay)
        check(sorted(replies) == list(range(n_agents)), "the coordinator missed some workers")
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(a.close() for a in [*workers, coordinator]))
    return elapsed


def fanout(n_agents: int, delay: float, rounds: int) -> float:
    return asyncio.run(_fanout(n_agents, delay, rounds))


async def _many(n_agents: int) -> float:
    tally = Tally()
    agents = [QueueAgent(tally.handle) for _ in range(n_agents)]
    await _started()
    start = time.perf_counter()
    for a in agents:
        a.tell(1)
    await asyncio.gather(*(a.queue.join() for a in agents))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(a.close() for a in agents))
    check(tally.count == n_agents, f"handled {tally.count} of {n_agents} messages")
    return elapsed


def many_agents(n_agents: int) -> float:
    return asyncio.run(_many(n_agents))
