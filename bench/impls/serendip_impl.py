"""serendip, driven through its public API only (``LocalMesh``, ``Agent`` and ``LlmAgent``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import serendip

import llm_server
from impls import check

NOTES: dict[str, str] = {}


class Counting(serendip.Agent):
    """An agent that counts the one-way messages it handled (each subclass: one handler kind)."""

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.count = 0


class Counter(Counting):
    """A plain-function handler."""

    def on_message(self, message: Any, ctx: serendip.Context) -> None:
        self.count += 1


class AsyncCounter(Counting):
    """An ``async def`` handler that never suspends."""

    async def on_message(self, message: Any, ctx: serendip.Context) -> None:
        self.count += 1


class AwaitCounter(Counting):
    """A handler that suspends once."""

    async def on_message(self, message: Any, ctx: serendip.Context) -> None:
        await asyncio.sleep(0)
        self.count += 1


class Echo(serendip.Agent):
    """Answers a query with its number plus one."""

    def on_message(self, message: int, ctx: serendip.Context) -> int:
        return message + 1


class Sleeper(serendip.Agent):
    """Waits like an I/O call would, then answers with its name."""

    async def on_message(self, delay: float, ctx: serendip.Context) -> str:
        await asyncio.sleep(delay)
        return ctx.agent


class Coordinator(serendip.Agent):
    """Queries every worker at once from its handler and returns all their answers."""

    def __init__(self, name: str, workers: list[str]) -> None:
        super().__init__(name)
        self.workers = workers

    async def on_message(self, delay: float, ctx: serendip.Context) -> list[str]:
        return list(await asyncio.gather(*(ctx.query(w, delay) for w in self.workers)))


def _send_all(mesh: serendip.LocalMesh, names: list[str], n_messages: int) -> None:
    """The one place the tell scenarios send: round-robin, never waiting for mailbox space.

    Mailboxes are sized to hold every message, like the asyncio baseline's unbounded queues.
    """
    send = mesh.send_to_nowait
    n_agents = len(names)
    for i in range(n_messages):
        send(names[i % n_agents], i)


async def _tell(kind: type[Counting], n_agents: int, n_messages: int) -> float:
    async with serendip.LocalMesh() as mesh:
        size = n_messages // n_agents + 1
        agents = [kind(f"a{i}", mailbox_size=size) for i in range(n_agents)]
        for agent in agents:
            mesh.add_agent(agent)
        names = [a.name for a in agents]
        start = time.perf_counter()
        _send_all(mesh, names, n_messages)
        await mesh.wait_idle()
        elapsed = time.perf_counter() - start
    handled = sum(a.count for a in agents)
    check(handled == n_messages, f"handled {handled} of {n_messages} messages")
    return elapsed


def tell_sync(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(Counter, n_agents, n_messages))


def tell_async(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(AsyncCounter, n_agents, n_messages))


def tell_await(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(AwaitCounter, n_agents, n_messages))


async def _ask(n_iters: int) -> float:
    async with serendip.LocalMesh() as mesh:
        mesh.add_agent(Echo("echo"))
        query = mesh.query
        start = time.perf_counter()
        for i in range(n_iters):
            reply = await query("echo", i)
            check(reply == i + 1, f"query {i} answered {reply!r}")
        return time.perf_counter() - start


def ask_rtt(n_iters: int) -> float:
    return asyncio.run(_ask(n_iters))


def query_sync_rtt(n_iters: int) -> float:
    # Added outside any loop, the agent lives on the mesh's background loop thread.
    with serendip.LocalMesh() as mesh:
        mesh.add_agent(Echo("echo"))
        query = mesh.query_sync
        start = time.perf_counter()
        for i in range(n_iters):
            reply = query("echo", i)
            check(reply == i + 1, f"query {i} answered {reply!r}")
        return time.perf_counter() - start


async def _fanout(n_agents: int, delay: float, rounds: int) -> float:
    async with serendip.LocalMesh() as mesh:
        workers = [mesh.add_agent(Sleeper(f"w{i}")).name for i in range(n_agents)]
        mesh.add_agent(Coordinator("coordinator", workers))
        start = time.perf_counter()
        for _ in range(rounds):
            replies = await mesh.query("coordinator", delay)
            check(sorted(replies) == sorted(workers), "the coordinator missed some workers")
        return time.perf_counter() - start


def fanout(n_agents: int, delay: float, rounds: int) -> float:
    return asyncio.run(_fanout(n_agents, delay, rounds))


async def _many(n_agents: int) -> float:
    async with serendip.LocalMesh() as mesh:
        agents = [Counter(f"a{i}") for i in range(n_agents)]
        for agent in agents:
            mesh.add_agent(agent)
        names = [a.name for a in agents]
        start = time.perf_counter()
        _send_all(mesh, names, n_agents)
        await mesh.wait_idle()
        elapsed = time.perf_counter() - start
    check(all(a.count == 1 for a in agents), "some agent did not get exactly one message")
    return elapsed


def many_agents(n_agents: int) -> float:
    return asyncio.run(_many(n_agents))


async def _llm_calls(url: str, n_calls: int) -> dict[str, float]:
    agent = serendip.LlmAgent(
        "bench",
        f"openai::{llm_server.MODEL}",
        base_url=url,
        api_key=llm_server.API_KEY,
        max_concurrency=n_calls,
    )

    async def call(i: int) -> str:
        # A conversation per call: histories stay one exchange long, as the baseline's are.
        return await agent.send_message(f"question {i}", conversation=f"c{i}")

    return await llm_server.timed_calls(call, n_calls)


def llm_calls(n_calls: int) -> dict[str, float]:
    with llm_server.serve() as url:
        return asyncio.run(_llm_calls(url, n_calls))
