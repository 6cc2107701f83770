"""AutoGen core: ``RoutedAgent``s on a ``SingleThreadedAgentRuntime``, as its docs drive them.

One-way messages are ``publish_message`` to a topic whose source picks the agent (a
``TypeSubscription``), followed by ``stop_when_idle``; queries are ``send_message``. The runtime
runs every message in a task of its own, so one agent's messages are not handled in order.
Runtime tracing is switched off through the documented environment variable, the cheapest
configuration the runtime offers.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass

os.environ.setdefault("AUTOGEN_DISABLE_RUNTIME_TRACING", "true")  # read when a runtime is made

from autogen_core import (  # noqa: E402
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)

from impls import Unsupported, check  # noqa: E402

NOTES: dict[str, str] = {
    "tell_async": "publish_message + stop_when_idle; a task per message, no per-agent order",
    "tell_await": "publish_message + stop_when_idle; a task per message, no per-agent order",
    "query_sync_rtt": "no sync API: run_coroutine_threadsafe(send_message) onto the runtime's "
    "loop thread",
    "many_agents": "agents instantiated through try_get_underlying_agent_instance before timing",
}

TOPIC = "tick"


@dataclass
class Tick:
    value: int


@dataclass
class Work:
    delay: float


@dataclass
class Done:
    index: int


@dataclass
class Fan:
    delay: float
    workers: int


@dataclass
class Answers:
    indexes: list[int]


class Tally:
    def __init__(self) -> None:
        self.count = 0


class Counting(RoutedAgent):
    """An agent that counts the ticks it handled (each subclass: one handler kind)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__("counts ticks")
        self.tally = tally
        self.count = 0


class Counter(Counting):
    @message_handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        self.count += 1
        self.tally.count += 1


class AwaitCounter(Counting):
    @message_handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        await asyncio.sleep(0)
        self.count += 1
        self.tally.count += 1


class Echo(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("answers n with n + 1")

    @message_handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> Tick:
        return Tick(message.value + 1)


class Sleeper(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("waits, then answers with its key")

    @message_handler
    async def on_work(self, message: Work, ctx: MessageContext) -> Done:
        await asyncio.sleep(message.delay)
        return Done(int(self.id.key))


class Coordinator(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("queries every worker at once")

    @message_handler
    async def on_fan(self, message: Fan, ctx: MessageContext) -> Answers:
        replies = await asyncio.gather(
            *(
                self.send_message(Work(message.delay), AgentId("worker", str(k)))
                for k in range(message.workers)
            )
        )
        return Answers([r.index for r in replies])


async def _counters(
    runtime: SingleThreadedAgentRuntime, kind: type[Counting], n_agents: int
) -> tuple[Tally, list[Counting]]:
    """Registers the counter type on the topic and instantiates its ``n_agents`` agents."""
    tally = Tally()
    await kind.register(runtime, "counter", lambda: kind(tally))
    await runtime.add_subscription(TypeSubscription(topic_type=TOPIC, agent_type="counter"))
    agents = [
        await runtime.try_get_underlying_agent_instance(AgentId("counter", str(i)), kind)
        for i in range(n_agents)
    ]
    return tally, agents


async def _tell(kind: type[Counting], n_agents: int, n_messages: int) -> tuple[float, list[int]]:
    runtime = SingleThreadedAgentRuntime()
    tally, agents = await _counters(runtime, kind, n_agents)
    topics = [TopicId(TOPIC, source=str(i)) for i in range(n_agents)]
    runtime.start()
    start = time.perf_counter()
    for i in range(n_messages):
        await runtime.publish_message(Tick(i), topics[i % n_agents])
    await runtime.stop_when_idle()
    elapsed = time.perf_counter() - start
    await runtime.close()
    check(tally.count == n_messages, f"handled {tally.count} of {n_messages} messages")
    return elapsed, [a.count for a in agents]


def tell_sync(n_agents: int, n_messages: int) -> float:
    raise Unsupported(
        "handlers must be coroutines: @message_handler wraps an async def and awaits it"
    )


def tell_async(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(Counter, n_agents, n_messages))[0]


def tell_await(n_agents: int, n_messages: int) -> float:
    return asyncio.run(_tell(AwaitCounter, n_agents, n_messages))[0]


async def _echo_runtime() -> SingleThreadedAgentRuntime:
    runtime = SingleThreadedAgentRuntime()
    await Echo.register(runtime, "echo", Echo)
    runtime.start()
    return runtime


async def _ask(n_iters: int) -> float:
    runtime = await _echo_runtime()
    echo = AgentId("echo", "default")
    start = time.perf_counter()
    for i in range(n_iters):
        reply = await runtime.send_message(Tick(i), echo)
        check(reply == Tick(i + 1), f"query {i} answered {reply!r}")
    elapsed = time.perf_counter() - start
    await runtime.stop()
    return elapsed


def ask_rtt(n_iters: int) -> float:
    return asyncio.run(_ask(n_iters))


def query_sync_rtt(n_iters: int) -> float:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runtime = asyncio.run_coroutine_threadsafe(_echo_runtime(), loop).result()
    echo = AgentId("echo", "default")
    start = time.perf_counter()
    for i in range(n_iters):
        reply = asyncio.run_coroutine_threadsafe(runtime.send_message(Tick(i), echo), loop).result()
        check(reply == Tick(i + 1), f"query {i} answered {reply!r}")
    elapsed = time.perf_counter() - start
    asyncio.run_coroutine_threadsafe(runtime.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return elapsed


async def _fanout(n_agents: int, delay: float, rounds: int) -> float:
    runtime = SingleThreadedAgentRuntime()
    await Sleeper.register(runtime, "worker", Sleeper)
    await Coordinator.register(runtime, "coordinator", Coordinator)
    for k in range(n_agents):
        await runtime.try_get_underlying_agent_instance(AgentId("worker", str(k)), Sleeper)
    coordinator = AgentId("coordinator", "default")
    runtime.start()
    start = time.perf_counter()
    for _ in range(rounds):
        reply = await runtime.send_message(Fan(delay, n_agents), coordinator)
        check(sorted(reply.indexes) == list(range(n_agents)), "the coordinator missed workers")
    elapsed = time.perf_counter() - start
    await runtime.stop()
    return elapsed


def fanout(n_agents: int, delay: float, rounds: int) -> float:
    return asyncio.run(_fanout(n_agents, delay, rounds))


def many_agents(n_agents: int) -> float:
    elapsed, counts = asyncio.run(_tell(Counter, n_agents, n_agents))
    check(all(c == 1 for c in counts), "some agent did not get exactly one message")
    return elapsed
