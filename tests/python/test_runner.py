"""How handlers run: on their home loop, inside real Tasks (but not one per message), in order."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import serendip
from serendip import Agent, Context

from _support import SAFETY, Gate, Twin, TwinRunner, until

# Set by the tests before add_agent (seen by handlers) and inside handlers (not seen by the next).
request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")

SAFETY_LONG = 60.0  # a sleep that only ends by cancellation


def where() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    return asyncio.get_running_loop(), threading.current_thread()


def assert_home(m: Twin, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Async twin: the scenario's own loop and thread. Sync twin: a running background loop."""
    if m.kind == "async":
        assert loop is asyncio.get_running_loop()
        assert thread is threading.current_thread()
    else:
        assert thread is not threading.current_thread()
        assert thread is not threading.main_thread()
        assert thread.is_alive()
        assert loop.is_running()


# -- coroutine handlers run inside real Tasks ---------------------------------------------------


def test_a_coroutine_handler_runs_inside_a_task_on_its_home_loop(twin: TwinRunner) -> None:
    class Probe(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await asyncio.sleep(0)
            return asyncio.current_task(), *where()

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Probe("probe"))
        task, loop, thread = await m.query("probe", "where?")
        assert isinstance(task, asyncio.Task)
        assert task.get_loop() is loop
        assert_home(m, loop, thread)

    twin.run(scenario)


def test_agents_added_outside_a_loop_share_the_mesh_background_loop(
    mesh: serendip.LocalMesh,
) -> None:
    class AsyncProbe(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            return where()

    class SyncProbe(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            return where()

    mesh.add_agent(AsyncProbe("a"))
    mesh.add_agent(SyncProbe("s"))
    loop_a, thread_a = mesh.query_sync("a", "where?")
    loop_s, thread_s = mesh.query_sync("s", "where?")
    assert loop_a is loop_s
    assert thread_a is thread_s
    assert thread_a is not threading.current_thread()
    assert thread_a.daemon  # never keeps the interpreter from exiting


def test_asyncio_timeout_works_inside_a_handler(twin: TwinRunner) -> None:
    class Impatient(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(SAFETY_LONG)
            except TimeoutError:
                task = asyncio.current_task()
                assert task is not None
                return "timed out", task.cancelling()
            return "slept", None

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Impatient("impatient"))
        assert await m.query("impatient", 1) == ("timed out", 0)
        assert await m.query("impatient", 2) == ("timed out", 0)

    twin.run(scenario)


def test_a_task_group_works_inside_a_handler(twin: TwinRunner) -> None:
    class FanOut(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            async def square(n: int) -> int:
                await asyncio.sleep(0)
                if n < 0:
                    raise ValueError(f"negative: {n}")
                return n * n

            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(square(n)) for n in message]
            return [t.result() for t in tasks]

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(FanOut("fan"))
        assert await m.query("fan", [1, 2, 3]) == [1, 4, 9]
        with pytest.raises(serendip.HandlerError) as info:
            await m.query("fan", [1, -2])
        assert isinstance(info.value.__cause__, ExceptionGroup)
        assert info.value.remote_type == "ExceptionGroup"
        assert await m.query("fan", [4]) == [16]

    twin.run(scenario)



def test_a_cancelled_error_the_handler_raises_itself_fails_that_message_only(
    twin: TwinRunner,
) -> None:
    class Unlucky(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "await a cancelled future":
                future = asyncio.get_running_loop().create_future()
                future.cancel()  # cancelled by someone else: this Task is not being cancelled
                await future
            return message

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Unlucky("unlucky"))
        with pytest.raises(serendip.HandlerError) as info:
            await m.query("unlucky", "await a cancelled future", timeout=SAFETY)
        assert isinstance(info.value.__cause__, asyncio.CancelledError)
        assert await m.query("unlucky", "next", timeout=SAFETY) == "next"  # not bricked

    twin.run(scenario)



def test_a_task_group_that_failed_after_its_body_leaves_no_cancellation_behind(
    twin: TwinRunner,
) -> None:
    # On Python 3.11 a TaskGroup whose child fails after the body ended cancels the task
    # running it and never takes that back: the runner Task that ran the handler stays
    # "cancelling". A later handler's own CancelledError must still fail only its message.
    class Grouping(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "group":

                async def fail() -> None:
                    await asyncio.sleep(0)
                    raise ValueError("the child failed")

                async with asyncio.TaskGroup() as group:
                    group.create_task(fail())
            if message == "await a cancelled future":
                await asyncio.sleep(0)
                future = asyncio.get_running_loop().create_future()
                future.cancel()
                await future
            return message

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Grouping("grouping"))
        with pytest.raises(serendip.HandlerError):
            await m.query("grouping", "group", timeout=SAFETY)
        with pytest.raises(serendip.HandlerError) as info:
            await m.query("grouping", "await a cancelled future", timeout=SAFETY)
        assert isinstance(info.value.__cause__, asyncio.CancelledError)
        assert await m.query("grouping", "next", timeout=SAFETY) == "next"

    twin.run(scenario)


def test_a_decorated_coroutine_handler_is_awaited_not_sent_back_as_a_coroutine(
    twin: TwinRunner,
) -> None:
    def traced(fn: Any) -> Any:
        @functools.wraps(fn)  # a plain wrapper, as many logging/metrics decorators are
        def wrapper(self: Agent, message: Any, ctx: Context) -> Any:
            return fn(self, message, ctx)

        return wrapper

    class Decorated(Agent):
        @traced
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await asyncio.sleep(0)
            return message * 2

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Decorated("decorated"))
        try:
            answer: Any = await m.query("decorated", 21, timeout=SAFETY)
        except serendip.HandlerError as error:  # a clear refusal would be acceptable too
            assert isinstance(error.__cause__, TypeError)
            return
        assert not inspect.isawaitable(answer)
        assert answer == 42

    twin.run(scenario)


# -- context variables --------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["async", "sync"])
def test_context_variables_set_before_add_agent_are_seen_but_not_those_of_the_previous_message(
    twin: TwinRunner, style: str
) -> None:
    class Remember(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            seen = request_var.get()
            request_var.set(f"set by message {message}")
            return seen

    class AsyncRemember(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            seen = request_var.get()
            request_var.set(f"set by message {message}")
            await asyncio.sleep(0)
            assert request_var.get() == f"set by message {message}"
            return seen

    async def scenario(m: Twin) -> None:
        request_var.set("set before add_agent")
        m.mesh.add_agent((AsyncRemember if style == "async" else Remember)("remember"))
        request_var.set("set after add_agent")
        for n in range(3):
            assert await m.query("remember", n) == "set before add_agent"
        for n in range(3, 6):
            await m.send_to("remember", n)
        await m.wait_idle()
        assert await m.query("remember", 6) == "set before add_agent"
        assert request_var.get() == "set after add_agent"  # the handlers never leak out

    twin.run(scenario)


@pytest.mark.parametrize("style", ["async", "sync"])
def test_handlers_of_one_batch_each_start_from_the_agents_variables(style: str) -> None:
    # One run of the dispatcher takes all thirty (sent without the loop turning in between),
    # and reuses one context copy while no handler changed it: the changes must not carry on.
    seen: list[str] = []

    def handle(message: int) -> None:
        seen.append(request_var.get())
        if message % 3 == 0:
            request_var.set(f"set by message {message}")
        elif message % 3 == 1:
            request_var.reset(request_var.set("set and reset"))

    class Plain(Agent):
        def on_message(self, message: Any, ctx: Context) -> None:
            handle(message)

    class Async(Agent):
        async def on_message(self, message: Any, ctx: Context) -> None:
            handle(message)

    async def scenario() -> None:
        request_var.set("the agent's")
        async with serendip.LocalMesh() as mesh:
            mesh.add_agent((Async if style == "async" else Plain)("batch"))
            request_var.set("the caller's")
            for n in range(30):
                mesh.send_to_nowait("batch", n)
            await mesh.wait_idle()
        assert request_var.get() == "the caller's"  # nor do they leak out of the run

    asyncio.run(scenario())
    assert seen == ["the agent's"] * 30


def test_context_variables_survive_awaits_and_reach_child_tasks_of_the_same_message(
    twin: TwinRunner,
) -> None:
    class Nested(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            request_var.set(message)

            async def child() -> str:
                await asyncio.sleep(0)
                return request_var.get()

            async with asyncio.TaskGroup() as group:
                task = group.create_task(child())
            await asyncio.sleep(0)
            return request_var.get(), task.result()

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Nested("nested", max_concurrency=4))
        for n in range(4):
            await m.send_to("nested", f"warm-up {n}")
        assert await m.query("nested", "mine") == ("mine", "mine")

    twin.run(scenario)


# -- no Task per message ------------------------------------------------------------------------


def test_one_task_handles_a_whole_backlog_of_messages(twin: TwinRunner, gate: Gate) -> None:
    tasks: list[asyncio.Task[Any] | None] = []

    class Recorder(Agent):
        async def on_message(self, message: Any, ctx: Context) -> None:
            if message == 0:
                await gate.wait()  # the other 49 queue up meanwhile
            await asyncio.sleep(0)
            tasks.append(asyncio.current_task())

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Recorder("recorder"))
        await m.send_to("recorder", 0)
        assert await m.until(lambda: gate.entered == 1)
        for n in range(1, 50):
            await m.send_to("recorder", n)
        gate.open()
        await m.wait_idle()
        assert len(tasks) == 50
        assert None not in tasks
        assert len(set(tasks)) == 1

    twin.run(scenario)


class Backlog(Agent):
    """Handles one-way messages 0..n that finish at once, after one await, after two, or fail;
    message "first" waits at the gate while the rest queue up behind it."""

    def __init__(self, name: str, gate: Gate) -> None:
        super().__init__(name)
        self.gate = gate
        self.seen: list[tuple[Any, str, int | None]] = []
        self.failed: list[tuple[Any, str, int | None]] = []

    async def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "first":
            await self.gate.wait()
            return None
        self.seen.append((message, request_var.get(), ctx.message_id))
        request_var.set(f"set by message {message}")  # never seen by the next message
        for _ in range(message % 3):
            await asyncio.sleep(0)
        assert request_var.get() == f"set by message {message}"
        if message % 7 == 6:
            raise ValueError(f"message {message} fails")
        return message

    def on_error(self, error: BaseException, message: Any, ctx: Context) -> None:
        self.failed.append((message, str(error), ctx.message_id))


def test_a_backlog_of_one_way_messages_runs_in_order_each_in_its_own_context_past_failures(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        request_var.set("set before add_agent")
        agent = m.mesh.add_agent(Backlog("backlog", gate))
        await m.send_to("backlog", "first")
        assert await m.until(lambda: gate.entered == 1)
        for n in range(40):
            await m.send_to("backlog", n)
        gate.open()
        await m.wait_idle()
        assert [n for n, _, _ in agent.seen] == list(range(40))
        assert {var for _, var, _ in agent.seen} == {"set before add_agent"}
        assert len({mid for _, _, mid in agent.seen}) == 40  # each had its own Context data
        failing = [n for n in range(40) if n % 7 == 6]
        assert [n for n, _, _ in agent.failed] == failing
        assert [text for _, text, _ in agent.failed] == [f"message {n} fails" for n in failing]
        ids = {n: mid for n, _, mid in agent.seen}
        assert [mid for _, _, mid in agent.failed] == [ids[n] for n in failing]
        assert await m.query("backlog", 100) == 100  # a request after the run is answered

    twin.run(scenario)


@pytest.mark.asyncio
async def test_a_query_queued_among_one_way_messages_is_cancelled_alone_when_its_asker_gives_up(
    amesh: serendip.LocalMesh,
) -> None:
    class Mixed(Agent):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.handled: list[Any] = []
            self.cancelled: list[Any] = []

        async def on_message(self, message: Any, ctx: Context) -> Any:
            try:
                await asyncio.sleep(SAFETY_LONG if message == "stuck" else 0)
            except asyncio.CancelledError:
                self.cancelled.append(message)
                raise
            self.handled.append(message)
            return message

    agent = amesh.add_agent(Mixed("mixed"))
    for n in range(5):
        amesh.send_to_nowait("mixed", n)
    asker = asyncio.ensure_future(amesh.query("mixed", "stuck", timeout=0.2))
    await asyncio.sleep(0)  # the query is queued behind the five
    for n in range(5, 10):
        amesh.send_to_nowait("mixed", n)
    with pytest.raises(serendip.QueryTimeout):
        await asyncio.wait_for(asker, SAFETY)
    await asyncio.wait_for(amesh.wait_idle(), SAFETY)
    assert agent.cancelled == ["stuck"]
    assert agent.handled == list(range(10))


def test_a_backlog_of_one_way_messages_to_a_handler_returning_other_awaitables_is_handled(
    twin: TwinRunner, gate: Gate
) -> None:
    results: list[Any] = []

    def via_task(fn: Any) -> Any:
        @functools.wraps(fn)  # hands back a Task (an awaitable that is not a coroutine)
        def wrapper(self: Agent, message: Any, ctx: Context) -> Any:
            if message == "plain":
                results.append("plain")
                return "a plain value"
            return asyncio.ensure_future(fn(self, message, ctx))

        return wrapper

    class ViaTask(Agent):
        @via_task
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "first":
                await gate.wait()
            await asyncio.sleep(0)
            results.append(message)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(ViaTask("via-task"))
        await m.send_to("via-task", "first")
        assert await m.until(lambda: gate.entered == 1)
        for message in [1, "plain", 2, 3, "plain", 4]:
            await m.send_to("via-task", message)
        gate.open()
        await m.wait_idle()
        assert results == ["first", 1, "plain", 2, 3, "plain", 4]

    twin.run(scenario)


@pytest.mark.asyncio
async def test_far_fewer_tasks_than_messages_are_created(amesh: serendip.LocalMesh) -> None:
    created: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        created.append(getattr(coro, "__qualname__", repr(coro)))
        return asyncio.Task(coro, loop=loop, **kw)

    handled = 0

    class Worker(Agent):
        async def on_message(self, message: Any, ctx: Context) -> None:
            nonlocal handled
            await asyncio.sleep(0)
            handled += 1

    amesh.add_agent(Worker("worker"))
    loop.set_task_factory(counting_factory)
    try:
        for n in range(500):
            amesh.send_to_nowait("worker", n)
        await asyncio.wait_for(amesh.wait_idle(), 10)
    finally:
        loop.set_task_factory(previous)
    assert handled == 500
    assert 1 <= len(created) <= 10, created


# -- a query from the home loop runs an idle agent's handler in the asking Task -----------------


class Sleeper(Agent):
    """Answers after ``message`` seconds (None: never); records how each invocation ended."""

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.ended: list[str] = []
        self.tasks: list[asyncio.Task[Any] | None] = []  # the Task each invocation ran in
        self.requests: list[int] = []  # the request each answered
        self.active = 0

    async def on_message(self, message: Any, ctx: Context) -> Any:
        self.tasks.append(asyncio.current_task())
        self.requests.append(ctx.request_id)
        self.active += 1
        try:
            await asyncio.sleep(SAFETY_LONG if message is None else message)
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        finally:
            self.active -= 1
        self.ended.append("answered")
        return asyncio.current_task()

    def on_stop(self, ctx: Context) -> None:
        self.ended.append("stopped")


async def parked_sleeper(mesh: serendip.LocalMesh) -> Sleeper:
    """A Sleeper whose first message has started its runner Task, which has parked."""
    sleeper = mesh.add_agent(Sleeper("sleeper"))
    await mesh.query("sleeper", 0)
    sleeper.ended.clear()
    return sleeper


async def asking(mesh: serendip.LocalMesh, sleeper: Sleeper, message: Any) -> asyncio.Task[Any]:
    """A Task querying ``sleeper``, once the handler has started inside it."""
    query = asyncio.create_task(mesh.query(sleeper.name, message))
    assert await until(lambda: sleeper.active == 1)
    assert sleeper.tasks[-1] is query
    return query


@pytest.mark.asyncio
async def test_a_query_from_the_home_loop_runs_an_idle_async_handler_in_the_asking_task(
    amesh: serendip.LocalMesh,
) -> None:
    sleeper = amesh.add_agent(Sleeper("sleeper"))
    # The first message starts the agent's runner Task, which then parks.
    first = await amesh.query("sleeper", 0)
    assert first is not asyncio.current_task() and first.get_name() == "serendip:sleeper"
    asker = asyncio.create_task(amesh.query("sleeper", 0))
    assert await asker is asker  # no Task switch on the way in or out
    assert await amesh.query("sleeper", 0) is asyncio.current_task()
    stats = amesh.metrics()["agents"]["sleeper"]
    assert (stats["handled"], stats["failed"], stats["in_flight"]) == (3, 0, 0)
    assert sleeper.ended == ["answered"] * 3


@pytest.mark.asyncio
@pytest.mark.parametrize("ends_it", ["the query's deadline", "the asker's own timeout"])
async def test_a_timeout_cancels_the_handler_in_the_asking_task_and_leaves_that_task_uncancelled(
    amesh: serendip.LocalMesh, ends_it: str
) -> None:
    sleeper = await parked_sleeper(amesh)
    if ends_it == "the query's deadline":
        with pytest.raises(serendip.QueryTimeout):
            await amesh.query("sleeper", None, timeout=0.05)
    else:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await amesh.query("sleeper", None)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    assert sleeper.ended == ["cancelled"]
    assert await amesh.query("sleeper", 0) is task  # the agent is idle again, and runs here
    stats = amesh.metrics()["agents"]["sleeper"]
    assert (stats["handled"], stats["in_flight"]) == (3, 0)


@pytest.mark.asyncio
async def test_a_cancellation_pending_when_the_asker_queries_cancels_the_query(
    amesh: serendip.LocalMesh,
) -> None:
    sleeper = await parked_sleeper(amesh)

    async def cancelled_asker() -> Any:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # delivered at its next suspension: inside the handler
        return await amesh.query("sleeper", 0.05)

    asker = asyncio.create_task(cancelled_asker())
    with pytest.raises(asyncio.CancelledError):
        await asker
    assert sleeper.tasks[-1] is asker
    assert sleeper.ended == ["cancelled"]
    assert not amesh._core.cancel(sleeper.requests[-1])  # the asker's cancellation ended it
    assert await amesh.query("sleeper", 0) is asyncio.current_task()
    stats = amesh.metrics()["agents"]["sleeper"]
    assert (stats["failed"], stats["in_flight"]) == (0, 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("max_concurrency", [1, 2])
async def test_a_handler_in_an_asking_task_counts_against_max_concurrency(
    amesh: serendip.LocalMesh, gate: Gate, max_concurrency: int
) -> None:
    class Gated(Agent):
        def __init__(self) -> None:
            super().__init__("gated", max_concurrency=max_concurrency)
            self.active = 0
            self.most_active = 0
            self.tasks: list[asyncio.Task[Any] | None] = []

        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "warm-up":
                return message
            self.tasks.append(asyncio.current_task())
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            try:
                await gate.wait()
            finally:
                self.active -= 1
            return message

    gated = amesh.add_agent(Gated())
    await amesh.query("gated", "warm-up")  # starts the runner Task, which parks
    queries = [asyncio.create_task(amesh.query("gated", n)) for n in range(3)]
    assert await until(lambda: gate.entered == max_concurrency)
    for _ in range(10):
        await asyncio.sleep(0)  # room for a handler too many to start
    assert gated.active == max_concurrency
    assert gated.tasks[0] is queries[0]  # the first ran in its asking Task
    gate.open()
    assert await asyncio.wait_for(asyncio.gather(*queries), SAFETY) == [0, 1, 2]
    assert gated.most_active == max_concurrency


class Journal(Agent):
    """Notes each message after one suspension and answers it."""

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.seen: list[Any] = []

    async def on_message(self, message: Any, ctx: Context) -> Any:
        await asyncio.sleep(0)
        self.seen.append(message)
        return message


@pytest.mark.asyncio
async def test_one_way_messages_queued_first_are_handled_first(amesh: serendip.LocalMesh) -> None:
    journal = amesh.add_agent(Journal("journal"))
    await amesh.query("journal", "warm-up")  # starts the runner Task, which parks
    for n in range(3):
        await amesh.send_to("journal", n)
    assert await amesh.query("journal", "query") == "query"
    assert journal.seen == ["warm-up", 0, 1, 2, "query"]


@pytest.mark.asyncio
async def test_the_mesh_is_not_idle_while_a_handler_runs_in_an_asking_task(
    amesh: serendip.LocalMesh, gate: Gate
) -> None:
    class Gated(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message != "warm-up":
                self.task = asyncio.current_task()
                await gate.wait()
            return message

    gated = amesh.add_agent(Gated("gated"))
    await amesh.query("gated", "warm-up")  # starts the runner Task, which parks
    query = asyncio.create_task(amesh.query("gated", "q"))
    assert await until(lambda: gate.entered == 1)
    idle = asyncio.create_task(amesh.wait_idle())
    for _ in range(10):
        await asyncio.sleep(0)
    assert gated.task is query
    assert not idle.done()
    gate.open()
    assert await asyncio.wait_for(query, SAFETY) == "q"
    await asyncio.wait_for(idle, SAFETY)


@pytest.mark.asyncio
async def test_closing_the_mesh_cancels_a_handler_in_an_asking_task_before_on_stop(
    amesh: serendip.LocalMesh,
) -> None:
    sleeper = await parked_sleeper(amesh)
    query = await asking(amesh, sleeper, None)
    await asyncio.wait_for(amesh.aclose(), SAFETY)
    assert sleeper.ended == ["cancelled", "stopped"]
    with pytest.raises(serendip.MeshClosed):
        await asyncio.wait_for(query, SAFETY)
    assert not query.cancelled()


@pytest.mark.asyncio
async def test_removing_an_agent_drains_the_handler_in_an_asking_task_before_on_stop(
    amesh: serendip.LocalMesh,
) -> None:
    sleeper = await parked_sleeper(amesh)
    query = await asking(amesh, sleeper, 0.05)
    amesh.remove_agent("sleeper")  # on its own loop: scheduled, draining first
    assert await asyncio.wait_for(query, SAFETY) is query
    assert await until(lambda: sleeper.ended == ["answered", "stopped"])
    assert "sleeper" not in amesh.agents


@pytest.mark.asyncio
async def test_removing_an_agent_undrained_cancels_the_handler_in_an_asking_task_before_on_stop(
    amesh: serendip.LocalMesh,
) -> None:
    sleeper = await parked_sleeper(amesh)
    query = await asking(amesh, sleeper, None)
    amesh.remove_agent("sleeper", drain=False)
    with pytest.raises(serendip.AgentNotFound, match="left the mesh before answering"):
        await asyncio.wait_for(query, SAFETY)
    assert await until(lambda: sleeper.ended == ["cancelled", "stopped"])


@pytest.mark.asyncio
async def test_messages_queued_behind_a_handler_in_an_asking_task_outlive_a_cancelled_runner(
    amesh: serendip.LocalMesh, gate: Gate
) -> None:
    seen: list[Any] = []

    class Gated(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "q":
                await gate.wait()
            seen.append(message)
            return message

    amesh.add_agent(Gated("gated"))
    await amesh.query("gated", "warm-up")  # starts the runner Task, which parks
    parked = amesh._runners["gated"]._parked_task
    assert parked is not None
    query = asyncio.create_task(amesh.query("gated", "q"))
    assert await until(lambda: gate.entered == 1)
    parked.cancel()  # as a loop's shutdown would
    assert await until(parked.done)
    await amesh.send_to("gated", "later")  # queued behind the handler in `query`
    gate.open()
    assert await asyncio.wait_for(query, SAFETY) == "q"
    await asyncio.wait_for(amesh.wait_idle(), SAFETY)
    assert seen == ["warm-up", "q", "later"]


@pytest.mark.asyncio
async def test_a_chain_of_queries_longer_than_the_recursion_limit_allows_still_answers(
    amesh: serendip.LocalMesh,
) -> None:
    class Link(Agent):
        def __init__(self, name: str, next_: str | None) -> None:
            super().__init__(name)
            self.next = next_

        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "warm-up" or self.next is None:
                return 0
            return 1 + await ctx.query(self.next, message)

    # Each link nests its target's handler in the asking Task, until the stack is half as
    # deep as Python allows; runner Tasks, on stacks of their own, take the rest.
    n = sys.getrecursionlimit()
    for i in range(n):
        amesh.add_agent(Link(f"link{i}", f"link{i + 1}" if i + 1 < n else None))
    for i in range(n):
        await amesh.query(f"link{i}", "warm-up")  # starts each runner Task, which parks
    assert await amesh.query("link0", "go") == n - 1


class Stubborn(Agent):
    """Swallows a cancellation and answers anyway."""

    async def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "warm-up":
            return message
        self.task = asyncio.current_task()
        try:
            await asyncio.sleep(SAFETY_LONG)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"


@pytest.mark.asyncio
async def test_the_asker_is_cancelled_even_when_the_handler_in_it_swallows_the_cancellation(
    amesh: serendip.LocalMesh,
) -> None:
    stubborn = amesh.add_agent(Stubborn("stubborn"))
    await amesh.query("stubborn", "warm-up")  # starts the runner Task, which parks
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await amesh.query("stubborn", "sleep")
    task = asyncio.current_task()
    assert stubborn.task is task and task.cancelling() == 0
    query = asyncio.create_task(amesh.query("stubborn", "sleep"))
    assert await until(lambda: stubborn.task is query)
    query.cancel()
    with pytest.raises(asyncio.CancelledError):
        await query
    assert await amesh.query("stubborn", "warm-up") == "warm-up"


@pytest.mark.asyncio
async def test_a_deadline_passing_in_the_handlers_first_step_still_cancels_it(
    amesh: serendip.LocalMesh,
) -> None:
    class Plain(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            time.sleep(0.2)  # the asker's deadline passes meanwhile
            return message

    class Late(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "warm-up":
                return message
            # Answered inside the call, by a drain of the bridge that also dispatches the
            # abandon of this request, all before the handler first suspends.
            await ctx.query("plain", 1)
            await asyncio.sleep(SAFETY_LONG)
            return "slept"

    amesh.add_agent(Plain("plain"))
    amesh.add_agent(Late("late"))
    await amesh.query("late", "warm-up")  # starts the runner Task, which parks
    with pytest.raises(serendip.QueryTimeout):
        await asyncio.wait_for(amesh.query("late", "go", timeout=0.05), SAFETY)


@pytest.mark.asyncio
async def test_a_query_to_an_idle_agent_whose_mailbox_filled_meanwhile_waits_for_space(
    amesh: serendip.LocalMesh,
) -> None:
    journal = amesh.add_agent(Journal("journal", mailbox_size=2))
    await amesh.query("journal", "warm-up")  # starts the runner Task, which parks
    amesh.send_to_nowait("journal", 1)
    amesh.send_to_nowait("journal", 2)  # full, and its runner not yet woken
    assert await asyncio.wait_for(amesh.query("journal", "q"), SAFETY) == "q"
    assert journal.seen == ["warm-up", 1, 2, "q"]


@pytest.mark.asyncio
async def test_a_query_an_idle_agent_refuses_leaves_its_mailbox_working(
    amesh: serendip.LocalMesh,
) -> None:
    journal = amesh.add_agent(Journal("journal", mailbox_size=1, overflow="reject"))
    await amesh.query("journal", "warm-up")  # starts the runner Task, which parks
    amesh.send_to_nowait("journal", 1)
    with pytest.raises(serendip.MailboxFull):
        await amesh.query("journal", "refused")
    await asyncio.wait_for(amesh.wait_idle(), SAFETY)
    assert await asyncio.wait_for(amesh.query("journal", "q"), SAFETY) == "q"
    assert journal.seen == ["warm-up", 1, "q"]


@pytest.mark.asyncio
async def test_on_stop_waits_for_a_handler_in_an_asking_task_even_if_its_runner_was_cancelled(
    amesh: serendip.LocalMesh,
) -> None:
    class SlowToStop(Agent):
        def __init__(self) -> None:
            super().__init__("slow")
            self.ended: list[str] = []
            self.task: asyncio.Task[Any] | None = None

        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "warm-up":
                return message
            self.task = asyncio.current_task()
            try:
                await asyncio.sleep(SAFETY_LONG)
            except asyncio.CancelledError:
                await asyncio.sleep(0.05)  # cleanup that takes a while
                self.ended.append("cleaned up")
                raise
            return "slept"

        def on_stop(self, ctx: Context) -> None:
            self.ended.append("stopped")

    slow = amesh.add_agent(SlowToStop())
    await amesh.query("slow", "warm-up")  # starts the runner Task, which parks
    parked = amesh._runners["slow"]._parked_task
    assert parked is not None
    query = asyncio.create_task(amesh.query("slow", "go"))
    assert await until(lambda: slow.task is query)
    parked.cancel()  # as a loop's shutdown would
    assert await until(parked.done)
    await asyncio.wait_for(amesh.aclose(), SAFETY)
    assert slow.ended == ["cleaned up", "stopped"]
    with pytest.raises(serendip.MeshClosed):
        await asyncio.wait_for(query, SAFETY)


@pytest.mark.asyncio
async def test_a_handler_in_an_asking_task_may_close_its_own_mesh(
    amesh: serendip.LocalMesh,
) -> None:
    class Closer(Agent):
        def __init__(self) -> None:
            super().__init__("closer")
            self.stopped = False

        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "warm-up":
                return message
            self.task = asyncio.current_task()
            await asyncio.sleep(0)
            await ctx.mesh.aclose()
            return "closed"

        def on_stop(self, ctx: Context) -> None:
            self.stopped = True

    closer = amesh.add_agent(Closer())
    await amesh.query("closer", "warm-up")  # starts the runner Task, which parks
    asker = asyncio.create_task(amesh.query("closer", "close"))
    with pytest.raises(serendip.MeshClosed):
        await asyncio.wait_for(asker, SAFETY)
    assert closer.task is asker
    assert closer.stopped
    assert amesh.closed


# -- ordering and concurrency -------------------------------------------------------------------


def test_with_max_concurrency_1_messages_are_handled_one_at_a_time_in_mailbox_order(
    twin: TwinRunner, gate: Gate
) -> None:
    events: list[tuple[str, int]] = []

    class Serial(Agent):
        async def on_message(self, message: int, ctx: Context) -> None:
            events.append(("start", message))
            if message == 0:
                await gate.wait()
            for _ in range(3):
                await asyncio.sleep(0)
            await asyncio.sleep(0.001 * (message % 3))
            events.append(("end", message))

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Serial("serial"))
        await m.send_to("serial", 0)
        assert await m.until(lambda: gate.entered == 1)
        for n in range(1, 20):
            await m.send_to("serial", n)
        await m.pause()
        assert events == [("start", 0)]  # the others wait while message 0 awaits
        gate.open()
        await m.wait_idle()
        assert events == [(kind, n) for n in range(20) for kind in ("start", "end")]

    twin.run(scenario)


class Plug(Agent):
    """A plain handler that holds its whole loop thread until its gate opens."""

    def __init__(self, name: str, gate: Gate) -> None:
        super().__init__(name)
        self.gate = gate

    def on_message(self, message: Any, ctx: Context) -> None:
        self.gate.wait_blocking()


def test_with_max_concurrency_k_up_to_k_handlers_run_at_once_and_never_more(
    twin: TwinRunner, new_gate: Any
) -> None:
    gate, plug = new_gate(), new_gate()
    started: list[int] = []
    current = 0
    peak = 0

    class Pool(Agent):
        async def on_message(self, message: int, ctx: Context) -> None:
            nonlocal current, peak
            started.append(message)
            current += 1
            peak = max(peak, current)
            try:
                await gate.wait()
                await asyncio.sleep(0)
            finally:
                current -= 1

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Pool("pool", max_concurrency=3))
        if m.kind == "sync":  # hold the background loop: all 10 must queue before any starts
            m.mesh.add_agent(Plug("plug", plug))
            await m.send_to("plug", "hold")
            assert await m.until(lambda: plug.entered == 1)
        for n in range(10):  # (an async scenario never yields here: they queue up too)
            await m.send_to("pool", n)
        plug.open()
        assert await m.until(lambda: current == 3)
        await m.pause()
        assert (current, peak, started) == (3, 3, [0, 1, 2])  # the 4th waits for a slot
        gate.open()
        await m.wait_idle()
        assert current == 0
        assert peak == 3
        assert started == list(range(10))  # slots take messages in mailbox order

    twin.run(scenario)


def test_max_concurrency_k_answers_queries_while_other_handlers_wait(
    twin: TwinRunner, gate: Gate
) -> None:
    class Pool(Agent):
        async def on_message(self, message: str, ctx: Context) -> str:
            if message == "block":
                await gate.wait()
            return message.upper()

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Pool("pool", max_concurrency=2))
        blocked = m.start(m.query, "pool", "block")
        assert await m.until(lambda: gate.entered == 1)
        free = m.start(m.query, "pool", "free")  # arrives while the only running slot waits
        answered = await m.until(lambda: m.done(free))
        gate.open()
        assert answered, "the free slot never took a message sent while the other slot was busy"
        assert await m.result(free) == "FREE"
        assert await m.result(blocked) == "BLOCK"

    twin.run(scenario)


# -- sync handlers --------------------------------------------------------------------------------


def test_a_sync_handler_is_called_on_its_home_loop_thread(twin: TwinRunner) -> None:
    class Plain(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            return where()

    class Coroutine(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            return where()

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Plain("plain"))
        m.mesh.add_agent(Coroutine("coro"))
        loop, thread = await m.query("plain", "where?")
        assert_home(m, loop, thread)
        assert (loop, thread) == await m.query("coro", "where?")

    twin.run(scenario)


def test_sync_handlers_take_messages_one_at_a_time_in_order(twin: TwinRunner) -> None:
    seen: list[int] = []
    inside = 0

    class Plain(Agent):
        def on_message(self, message: int, ctx: Context) -> None:
            nonlocal inside
            inside += 1
            assert inside == 1
            seen.append(message)
            inside -= 1

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Plain("plain", max_concurrency=4))
        for n in range(300):
            await m.send_to("plain", n)
        await m.wait_idle()
        assert seen == list(range(300))
        plain = m.mesh.metrics()["agents"]["plain"]
        assert (plain["handled"], plain["failed"], plain["mailbox"]) == (300, 0, 0)

    twin.run(scenario)


# -- hooks --------------------------------------------------------------------------------------


def make_hooked(style: str, events: list[tuple[str, Any, Any]]) -> type[Agent]:
    def record(name: str, ctx: Context) -> None:
        loop, thread = where()
        events.append((name, (loop, thread), (ctx.agent, ctx.sender, ctx.message_id)))

    class SyncHooks(Agent):
        def on_start(self, ctx: Context) -> None:
            record("start", ctx)

        def on_stop(self, ctx: Context) -> None:
            record("stop", ctx)

        async def on_message(self, message: Any, ctx: Context) -> None:
            record("message", ctx)

    class AsyncHooks(Agent):
        async def on_start(self, ctx: Context) -> None:
            await asyncio.sleep(0.01)  # messages sent meanwhile must wait for the hook
            record("start", ctx)

        async def on_stop(self, ctx: Context) -> None:
            await asyncio.sleep(0)
            record("stop", ctx)

        async def on_message(self, message: Any, ctx: Context) -> None:
            record("message", ctx)

    return SyncHooks if style == "sync" else AsyncHooks


@pytest.mark.parametrize("style", ["sync", "async"])
def test_hooks_run_on_the_home_loop_start_first_and_stop_at_remove_agent(
    twin: TwinRunner, style: str
) -> None:
    events: list[tuple[str, Any, Any]] = []
    hooked = make_hooked(style, events)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(hooked("hooked"))
        await m.send_to("hooked", "first")  # sent at once: must wait for on_start
        await m.wait_idle()
        m.mesh.remove_agent("hooked")
        assert await m.until(lambda: len(events) == 3)  # on the caller's loop it is scheduled
        assert [e[0] for e in events] == ["start", "message", "stop"]
        home = events[0][1]
        assert all(e[1] == home for e in events)
        assert_home(m, *home)
        assert events[0][2] == ("hooked", None, None)
        assert events[2][2] == ("hooked", None, None)

    twin.run(scenario)


@pytest.mark.parametrize("style", ["sync", "async"])
def test_on_stop_runs_at_close(twin: TwinRunner, style: str) -> None:
    events: list[tuple[str, Any, Any]] = []
    hooked = make_hooked(style, events)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(hooked("one"))
        m.mesh.add_agent(hooked("two"))
        assert await m.until(lambda: len(events) == 2)
        assert_home(m, *events[0][1])
        await m.close()
        assert sorted((e[0], e[2][0]) for e in events) == [
            ("start", "one"),
            ("start", "two"),
            ("stop", "one"),
            ("stop", "two"),
        ]
        assert all(e[1] == events[0][1] for e in events)

    twin.run(scenario)


def test_a_failing_on_start_is_logged_and_the_agent_still_works(
    twin: TwinRunner, caplog: pytest.LogCaptureFixture
) -> None:
    class Fragile(Agent):
        async def on_start(self, ctx: Context) -> None:
            raise OSError("no config")

        async def on_message(self, message: Any, ctx: Context) -> Any:
            return message

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Fragile("fragile"))
        assert await m.query("fragile", "still here") == "still here"

    with caplog.at_level("ERROR", logger="serendip"):
        twin.run(scenario)
    failures = [r for r in caplog.records if r.name == "serendip" and "on_start" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None and isinstance(failures[0].exc_info[1], OSError)



@pytest.mark.parametrize("style", ["def", "async def"])
def test_a_context_kept_by_a_handler_keeps_describing_its_own_message(
    twin: TwinRunner, style: str
) -> None:
    kept: list[tuple[Context, Any]] = []

    def keep(message: Any, ctx: Context) -> Any:
        kept.append((ctx, message))
        return message

    class Keeper(Agent):
        if style == "def":

            def on_message(self, message: Any, ctx: Context) -> Any:
                return keep(message, ctx)

        else:

            async def on_message(self, message: Any, ctx: Context) -> Any:
                return keep(message, ctx)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Keeper("keeper"))
        for n in range(3):
            await m.send_to("keeper", f"told {n}")
        assert await m.query("keeper", "asked") == "asked"
        await m.wait_idle()

    twin.run(scenario)
    assert [message for _, message in kept] == ["told 0", "told 1", "told 2", "asked"]
    contexts = [ctx for ctx, _ in kept]
    assert len({id(ctx) for ctx in contexts}) == 4  # kept contexts are never reused
    assert len({ctx.message_id for ctx in contexts}) == 4
    assert [ctx.request_id is None for ctx in contexts] == [True, True, True, False]
    assert all(ctx.agent == "keeper" and ctx.sender is None for ctx in contexts)


def test_a_wrapped_async_handler_may_return_any_awaitable_or_a_plain_value(
    twin: TwinRunner,
) -> None:
    def via_task(fn: Any) -> Any:
        @functools.wraps(fn)  # hands back a Task (an awaitable that is not a coroutine)
        def wrapper(self: Agent, message: Any, ctx: Context) -> Any:
            return asyncio.ensure_future(fn(self, message, ctx))

        return wrapper

    def cached(fn: Any) -> Any:
        @functools.wraps(fn)  # answers from its cache without awaiting anything
        def wrapper(self: Agent, message: Any, ctx: Context) -> Any:
            if message == "cached":
                return "from cache"
            return fn(self, message, ctx)

        return wrapper

    class ViaTask(Agent):
        @via_task
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await asyncio.sleep(0)
            return f"task {message}"

    class Cached(Agent):
        @cached
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await asyncio.sleep(0)
            return f"computed {message}"

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(ViaTask("via-task"))
        m.mesh.add_agent(Cached("cached"))
        assert await m.query("via-task", 1) == "task 1"
        assert await m.query("cached", "cached") == "from cache"
        assert await m.query("cached", 2) == "computed 2"
        assert await m.query("via-task", 3) == "task 3"  # the agent goes on

    twin.run(scenario)


def test_the_background_loop_still_hears_timers_and_sockets_while_it_polls_for_work(
    mesh: serendip.LocalMesh,
) -> None:
    # Its selector polls the loop bridge for a moment before sleeping in epoll: a timer and a
    # socket that become ready meanwhile must still wake it.
    ours, theirs = socket.socketpair()

    class Reader(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            loop = asyncio.get_running_loop()
            fired: asyncio.Future[str] = loop.create_future()
            loop.call_later(0.005, fired.set_result, "timer")
            data = await loop.sock_recv(ours, 16)
            return await fired, data

    with ours, theirs:
        ours.setblocking(False)
        mesh.add_agent(Reader("reader"))
        writer = threading.Timer(0.02, theirs.send, [b"ping"])
        writer.start()
        try:
            assert mesh.query_sync("reader", None, timeout=SAFETY) == ("timer", b"ping")
        finally:
            writer.join()


def test_blocking_callers_on_several_threads_each_get_their_own_answers(
    mesh: serendip.LocalMesh,
) -> None:
    # query_sync releases the GIL from its push to the answer and then waits for the loop to
    # finish its turn: interleaved callers must still pair every answer with its question.
    class Double(Agent):
        def on_message(self, message: int, ctx: Context) -> int:
            return 2 * message

    mesh.add_agent(Double("double"))
    errors: list[str] = []

    def caller(base: int) -> None:
        for i in range(base, base + 2000):
            answer = mesh.query_sync("double", i)
            if answer != 2 * i:
                errors.append(f"{i} answered {answer}")

    threads = [threading.Thread(target=caller, args=(k * 10_000,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert mesh.metrics()["agents"]["double"]["handled"] == 6000


def test_the_background_loop_serves_sockets_while_blocking_callers_keep_it_busy(
    mesh: serendip.LocalMesh,
) -> None:
    # End to end: a socket is heard while blocking callers keep work arriving through the
    # bridge. (The selector's bound on turns without the kernel is proven in test_home.py;
    # here the loop's poll also runs out now and then, so this passes without the bound.) The
    # bytes come from a child process, so no thread of ours needs the GIL to send them.
    ours, theirs = socket.socketpair()

    class Reader(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            return await asyncio.get_running_loop().sock_recv(ours, 16)

    class Echo(Agent):
        def on_message(self, message: int, ctx: Context) -> int:
            return message

    stop = threading.Event()
    answers: list[int] = []

    def keep_busy() -> None:
        while not stop.is_set():
            answers.append(mesh.query_sync("echo", len(answers)))

    with ours, theirs:
        ours.setblocking(False)
        mesh.add_agent(Reader("reader"))
        mesh.add_agent(Echo("echo"))
        busy = threading.Thread(target=keep_busy)
        busy.start()
        fd = theirs.fileno()
        send_later = "import os, sys, time; time.sleep(0.05); os.write(int(sys.argv[1]), b'ping')"
        writer = subprocess.Popen([sys.executable, "-c", send_later, str(fd)], pass_fds=[fd])
        try:
            assert mesh.query_sync("reader", None, timeout=SAFETY) == b"ping"
        finally:
            writer.wait(SAFETY)
            stop.set()
            busy.join()
    assert answers == list(range(len(answers)))
    assert answers  # the loop was kept busy meanwhile
