"""LocalMesh from every caller context, its errors, back-pressure, payloads, broadcast, idleness."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

import serendip
from serendip import (
    Agent,
    AgentNotFound,
    Context,
    DuplicateAgent,
    HandlerError,
    LocalMesh,
    MailboxFull,
    MeshClosed,
    QueryTimeout,
)

from _support import SAFETY, Gate, Twin, TwinRunner, wait_until


def where() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    return asyncio.get_running_loop(), threading.current_thread()


class AsyncEcho(Agent):
    async def on_message(self, message: Any, ctx: Context) -> Any:
        await asyncio.sleep(0)
        return message, ctx.sender, where()


class SyncEcho(Agent):
    def on_message(self, message: Any, ctx: Context) -> Any:
        return message, ctx.sender, where()


class Counter(Agent):
    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.received: list[Any] = []

    async def on_message(self, message: Any, ctx: Context) -> int:
        await asyncio.sleep(0)
        self.received.append(message)
        return len(self.received)


class Blocker(Agent):
    """Waits on a gate for the message "block" (a coroutine handler); echoes the rest."""

    def __init__(self, name: str, gate: Gate, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate
        self.received: list[Any] = []
        self.cancelled = threading.Event()

    async def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "block":
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        self.received.append(message)
        return message


class SyncBlocker(Agent):
    """A plain handler blocking its loop thread on a gate for "block"."""

    def __init__(self, name: str, gate: Gate, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate
        self.received: list[Any] = []

    def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "block":
            self.gate.wait_blocking()
        self.received.append(message)
        return message


def join(thread: threading.Thread) -> None:
    thread.join(SAFETY)
    assert not thread.is_alive(), "the thread never finished"


# -- every caller context -----------------------------------------------------------------------


def test_a_plain_script_uses_the_sync_twins_and_its_async_agents_run_on_the_background_loop(
    mesh: LocalMesh,
) -> None:
    mesh.add_agent(AsyncEcho("async"))
    mesh.add_agent(SyncEcho("sync"))
    counter = mesh.add_agent(Counter("counter"))
    message, sender, (loop, thread) = mesh.query_sync("async", "hi")
    assert (message, sender) == ("hi", None)
    assert thread is not threading.current_thread()
    assert loop.is_running()
    assert mesh.query_sync("sync", "ho")[:2] == ("ho", None)
    for n in range(10):
        mesh.send_to_sync("counter", n)
    mesh.wait_idle_sync(SAFETY)
    assert counter.received == list(range(10))
    assert mesh.broadcast_sync("all", exclude=["async", "sync"]) == 1
    mesh.wait_idle_sync(SAFETY)
    assert counter.received[-1] == "all"


def test_inside_asyncio_run_every_operation_is_awaited_and_handlers_share_the_loop() -> None:
    async def main() -> None:
        async with LocalMesh("run") as mesh:
            mesh.add_agent(AsyncEcho("async"))
            mesh.add_agent(SyncEcho("sync"))
            counter = mesh.add_agent(Counter("counter"))
            here = (asyncio.get_running_loop(), threading.current_thread())
            assert await mesh.query("async", 1) == (1, None, here)
            assert await mesh.query("sync", 2) == (2, None, here)
            for n in range(10):
                await mesh.send_to("counter", n)
            await mesh.wait_idle(SAFETY)
            assert counter.received == list(range(10))
            assert await mesh.broadcast("all", exclude=("async", "sync")) == 1
            await mesh.wait_idle(SAFETY)
            assert counter.received[-1] == "all"

    asyncio.run(main())


@pytest.mark.asyncio
async def test_another_thread_uses_the_sync_twins_while_the_agents_loop_runs(
    amesh: LocalMesh,
) -> None:
    amesh.add_agent(AsyncEcho("async"))
    amesh.add_agent(SyncEcho("sync"))
    counter = amesh.add_agent(Counter("counter"))
    results: dict[str, Any] = {}

    def other_thread() -> None:
        results["async"] = amesh.query_sync("async", "a")
        results["sync"] = amesh.query_sync("sync", "s")
        for n in range(5):
            amesh.send_to_sync("counter", n)
        amesh.wait_idle_sync(SAFETY)
        results["counted"] = list(counter.received)

    thread = threading.Thread(target=other_thread)
    thread.start()
    await asyncio.wait_for(asyncio.to_thread(thread.join), SAFETY)  # this loop keeps running
    here = (asyncio.get_running_loop(), threading.current_thread())
    assert results == {
        "async": ("a", None, here),
        "sync": ("s", None, here),
        "counted": [0, 1, 2, 3, 4],
    }


def test_a_handler_queries_a_sync_and_an_async_agent_as_itself(twin: TwinRunner) -> None:
    class Asker(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            from_sync = await ctx.query("sync", f"{message} to sync")
            from_async = await ctx.query("async", f"{message} to async")
            await ctx.send_to("counter", f"{message} told")
            return from_sync[:2], from_async[:2]

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(SyncEcho("sync"))
        m.mesh.add_agent(AsyncEcho("async"))
        m.mesh.add_agent(Asker("asker"))
        counter = m.mesh.add_agent(Counter("counter"))
        assert await m.query("asker", "hi") == (
            ("hi to sync", "asker"),
            ("hi to async", "asker"),
        )
        await m.wait_idle()
        assert counter.received == ["hi told"]

    twin.run(scenario)


def test_a_mesh_built_in_sync_code_works_inside_asyncio_run_later(mesh: LocalMesh) -> None:
    mesh.add_agent(AsyncEcho("background"))
    first_home = mesh.query_sync("background", 0)[2]

    async def main() -> None:
        here = (asyncio.get_running_loop(), threading.current_thread())
        message, _, home = await mesh.query("background", 1)
        assert (message, home) == (1, first_home)  # still on the background loop
        mesh.add_agent(AsyncEcho("local"))
        assert await mesh.query("local", 2) == (2, None, here)
        await mesh.send_to("background", 3)
        await mesh.wait_idle(SAFETY)
        mesh.remove_agent("local")  # its loop ends with asyncio.run

    asyncio.run(main())
    assert mesh.query_sync("background", 4)[0] == 4
    assert mesh.agents == ["background"]


def test_two_meshes_can_share_one_loop() -> None:
    class Tagged(Agent):
        def __init__(self, name: str, tag: str) -> None:
            super().__init__(name)
            self.tag = tag

        async def on_message(self, message: Any, ctx: Context) -> Any:
            return self.tag, ctx.mesh.name, message

    async def main() -> None:
        async with LocalMesh("one") as one, LocalMesh("two") as two:
            one.add_agent(Tagged("same", "first"))
            two.add_agent(Tagged("same", "second"))
            assert await one.query("same", 1) == ("first", "one", 1)
            assert await two.query("same", 2) == ("second", "two", 2)
            await one.aclose()
            assert await two.query("same", 3) == ("second", "two", 3)

    asyncio.run(main())


@pytest.mark.asyncio
@pytest.mark.parametrize("call", ["query_sync", "send_to_sync", "wait_idle_sync"])
async def test_a_sync_call_on_the_loop_thread_that_runs_the_target_raises_runtime_error(
    amesh: LocalMesh, call: str
) -> None:
    echo = amesh.add_agent(Counter("echo"))
    invoke = {
        "query_sync": lambda: amesh.query_sync("echo", 1),
        "send_to_sync": lambda: amesh.send_to_sync("echo", 1),
        "wait_idle_sync": lambda: amesh.wait_idle_sync(SAFETY),
    }[call]
    with pytest.raises(RuntimeError, match="deadlock"):
        invoke()
    assert await asyncio.wait_for(amesh.query("echo", 2), SAFETY) == 1  # nothing got stuck
    assert echo.received == [2]


@pytest.mark.parametrize("call", ["query_sync", "send_to_sync", "wait_idle_sync"])
def test_a_sync_call_from_a_handler_to_an_agent_on_its_own_loop_raises_runtime_error(
    mesh: LocalMesh, call: str
) -> None:
    class Misuser(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            if call == "query_sync":
                return ctx.mesh.query_sync("peer", 1)
            if call == "send_to_sync":
                return ctx.mesh.send_to_sync("peer", 1)
            return ctx.mesh.wait_idle_sync(SAFETY)

    mesh.add_agent(Counter("peer"))
    mesh.add_agent(Misuser("misuser"))
    with pytest.raises(HandlerError) as info:
        mesh.query_sync("misuser", "go")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "deadlock" in info.value.remote_message


@pytest.mark.asyncio
async def test_a_sync_call_from_a_loop_thread_to_an_agent_on_another_loop_is_allowed(
    amesh: LocalMesh,
) -> None:
    await asyncio.to_thread(amesh.add_agent, AsyncEcho("elsewhere"))  # homed on the background
    message, _, (loop, _thread) = amesh.query_sync("elsewhere", "x")
    assert message == "x"
    assert loop is not asyncio.get_running_loop()


# -- errors ---------------------------------------------------------------------------------------


class Oops(Exception):
    pass


@pytest.mark.parametrize("style", ["async", "sync"])
def test_a_handler_exception_reaches_the_asker_as_handler_error(
    twin: TwinRunner, style: str
) -> None:
    raised: list[BaseException] = []

    def answer(message: Any) -> Any:
        if message == "fail":
            error = Oops("it broke")
            raised.append(error)
            raise error
        return f"ok {message}"

    class Fragile(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            return answer(message)

    class AsyncFragile(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await asyncio.sleep(0)
            return answer(message)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent((AsyncFragile if style == "async" else Fragile)("fragile"))
        with pytest.raises(HandlerError) as info:
            await m.query("fragile", "fail")
        error = info.value
        assert error.__cause__ is raised[0]
        assert error.agent == "fragile"
        assert error.remote_type == "Oops"
        assert error.remote_message == "it broke"
        assert error.remote_traceback.startswith("Traceback (most recent call last)")
        assert "in answer" in error.remote_traceback
        assert "Oops: it broke" in error.remote_traceback
        assert await m.query("fragile", "again") == "ok again"  # the agent keeps working
        assert m.mesh.metrics()["agents"]["fragile"]["failed"] == 1

    twin.run(scenario)


@pytest.mark.parametrize("style", ["async", "sync"])
def test_a_failing_one_way_message_is_logged_and_counted(
    twin: TwinRunner, style: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Fragile(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "fail":
                raise Oops("one-way failure")

    class AsyncFragile(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "fail":
                raise Oops("one-way failure")

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent((AsyncFragile if style == "async" else Fragile)("fragile"))
        await m.send_to("fragile", "fail")
        await m.send_to("fragile", "fine")
        await m.wait_idle()
        fragile = m.mesh.metrics()["agents"]["fragile"]
        assert (fragile["handled"], fragile["failed"], fragile["mailbox"]) == (2, 1, 0)
        assert fragile["errors"] == {"Oops": 1}
        [letter] = m.mesh.dead_letters
        assert (letter.reason, letter.target, letter.detail) == (
            "failed",
            "fragile",
            "Oops: one-way failure",
        )

    with caplog.at_level(logging.ERROR, logger="serendip"):
        twin.run(scenario)
    records = [r for r in caplog.records if r.name == "serendip"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert "'fragile'" in record.getMessage()
    assert "Oops: one-way failure" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], Oops)
    assert record.agent == "fragile"  # type: ignore[attr-defined]
    assert isinstance(record.message_id, int)  # type: ignore[attr-defined]


def test_a_query_past_its_deadline_raises_query_timeout_and_cancels_the_handler(
    twin: TwinRunner,
) -> None:
    class Slow(Agent):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.cancelled = threading.Event()
            self.received: list[Any] = []

        async def on_message(self, message: Any, ctx: Context) -> Any:
            self.received.append(message)
            if message == "slow":
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    self.cancelled.set()
                    raise
            return message

    async def scenario(m: Twin) -> None:
        slow = m.mesh.add_agent(Slow("slow"))
        with pytest.raises(QueryTimeout, match="'slow'"):
            await m.query("slow", "slow", timeout=0.2)
        assert await m.until(slow.cancelled.is_set)  # deadline expiry cancelled the handler
        assert await m.query("slow", "next") == "next"  # and the agent went on
        assert slow.received == ["slow", "next"]

    twin.run(scenario)


def test_a_deadline_fires_even_while_the_targets_loop_is_blocked(
    mesh: LocalMesh, gate: Gate
) -> None:
    agent = mesh.add_agent(SyncBlocker("hog", gate))  # holds the background loop thread
    with pytest.raises(QueryTimeout):
        mesh.query_sync("hog", "block", timeout=0.2)
    assert gate.entered == 1 and not gate.is_open  # the handler is still running
    gate.open()
    mesh.wait_idle_sync(SAFETY)
    assert agent.received == ["block"]  # its late answer went nowhere
    assert mesh.query_sync("hog", "next") == "next"


@pytest.mark.asyncio
@pytest.mark.parametrize("home", ["caller loop", "background loop"])
async def test_cancelling_an_awaiting_query_cancels_that_handler_invocation(
    amesh: LocalMesh, gate: Gate, home: str
) -> None:
    class Watcher(Blocker):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.received.append(("cancelling", task.cancelling()))
            return await super().on_message(message, ctx)

    watcher = Watcher("watcher", gate)
    if home == "caller loop":
        amesh.add_agent(watcher)
    else:
        await asyncio.to_thread(amesh.add_agent, watcher)
    task = asyncio.create_task(amesh.query("watcher", "block"))
    assert await asyncio.wait_for(asyncio.to_thread(lambda: wait_until(lambda: gate.entered)), SAFETY)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(asyncio.to_thread(watcher.cancelled.wait, SAFETY), SAFETY + 1)
    assert await asyncio.wait_for(amesh.query("watcher", "next"), SAFETY) == "next"
    # the runner's Task was un-cancelled: the next handler starts with no pending cancel
    assert watcher.received == [("cancelling", 0), ("cancelling", 0), "next"]



def test_a_query_that_expires_in_the_mailbox_is_never_handled(twin: TwinRunner, gate: Gate) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("busy", gate))
        await m.send_to("busy", "block")
        assert await m.until(lambda: gate.entered == 1)
        with pytest.raises(QueryTimeout):
            await m.query("busy", "expired", timeout=0.1)
        gate.open()
        await m.wait_idle()
        assert agent.received == ["block"]  # nobody waited for "expired" any more
        assert await m.query("busy", "fresh") == "fresh"

    twin.run(scenario)


@pytest.mark.asyncio
async def test_cancelling_a_query_still_in_the_mailbox_means_it_is_never_handled(
    amesh: LocalMesh, gate: Gate
) -> None:
    agent = amesh.add_agent(Blocker("busy", gate))
    await amesh.send_to("busy", "block")
    while not gate.entered:
        await asyncio.sleep(0.005)
    queued = asyncio.create_task(amesh.query("busy", "cancelled"))
    while amesh.metrics()["agents"]["busy"]["mailbox"] == 0:
        await asyncio.sleep(0.005)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    gate.open()
    await asyncio.wait_for(amesh.wait_idle(), SAFETY)
    assert agent.received == ["block"]


CTRL_C_SCRIPT = """
import asyncio, faulthandler, os, signal, threading
import serendip

faulthandler.dump_traceback_later(45, exit=True)  # a hang shows every thread's stack
# Ctrl-C as an interactive Python has it: started in the background by a shell without job
# control (as CI may be), this process inherited SIGINT ignored, and Python keeps it so.
signal.signal(signal.SIGINT, signal.default_int_handler)

entered, cancelled = threading.Event(), threading.Event()

class Sleeper(serendip.Agent):
    async def on_message(self, message, ctx):
        if message == "sleep":
            entered.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return message

mesh = serendip.LocalMesh("ctrl-c")
mesh.add_agent(Sleeper("sleeper"))

def press_ctrl_c():
    entered.wait(10)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=press_ctrl_c, daemon=True).start()
try:
    mesh.query_sync("sleeper", "sleep", timeout=None)
    print("answered")
except KeyboardInterrupt:
    print("interrupted")
print("handler cancelled" if cancelled.wait(10) else "handler still running")
print(mesh.query_sync("sleeper", "next", timeout=10))
mesh.close()
"""


def test_ctrl_c_interrupts_query_sync_and_cancels_the_request() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", CTRL_C_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["interrupted", "handler cancelled", "next"]
    assert "Traceback" not in proc.stderr, proc.stderr


def test_an_unknown_target_raises_agent_not_found_at_once(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Counter("present"))
        with pytest.raises(AgentNotFound, match="'absent'"):
            await m.send_to("absent", 1)
        with pytest.raises(AgentNotFound, match="'absent'"):
            m.send_to_nowait("absent", 1)
        with pytest.raises(AgentNotFound, match="'absent'"):
            await m.query("absent", 1)
        with pytest.raises(LookupError):
            await m.query("absent", 1, timeout=None)
        assert await m.query("present", 1) == 1

    twin.run(scenario)


def test_a_second_agent_with_the_same_name_raises_duplicate_agent(mesh: LocalMesh) -> None:
    first = mesh.add_agent(Counter("twin"))
    with pytest.raises(DuplicateAgent):
        mesh.add_agent(Counter("twin"))
    assert mesh.agents == ["twin"]
    assert mesh.query_sync("twin", "x") == 1
    assert first.received == ["x"]


def test_an_agent_cannot_join_two_meshes(mesh: LocalMesh) -> None:
    agent = mesh.add_agent(Counter("shared"))
    with LocalMesh("other") as other:
        with pytest.raises(ValueError):
            other.add_agent(agent)
        assert other.agents == []


def test_add_agent_rejects_what_is_not_an_agent(mesh: LocalMesh) -> None:
    with pytest.raises(TypeError):
        mesh.add_agent(object())  # type: ignore[arg-type]


# -- back-pressure --------------------------------------------------------------------------------


def test_a_full_mailbox_refuses_nowait_and_makes_send_to_wait_for_space(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("small", gate, mailbox_size=2))
        await m.send_to("small", "block")
        assert await m.until(lambda: gate.entered == 1)  # popped: the mailbox is empty again
        m.send_to_nowait("small", 1)
        m.send_to_nowait("small", 2)
        with pytest.raises(MailboxFull, match="'small'"):
            m.send_to_nowait("small", 3)
        assert m.mesh.metrics()["agents"]["small"]["mailbox"] == 2
        late = m.start(m.send_to, "small", "late")
        await m.pause()
        assert not m.done(late)  # still waiting for space: an event check, not a timing one
        gate.open()
        assert await m.result(late) is None
        await m.wait_idle()
        assert agent.received == ["block", 1, 2, "late"]

    twin.run(scenario)


def test_a_query_to_a_full_mailbox_waits_for_space(twin: TwinRunner, gate: Gate) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Blocker("small", gate, mailbox_size=1))
        await m.send_to("small", "block")
        assert await m.until(lambda: gate.entered == 1)
        m.send_to_nowait("small", "queued")
        asked = m.start(m.query, "small", "asked")
        await m.pause()
        assert not m.done(asked)
        gate.open()
        assert await m.result(asked) == "asked"

    twin.run(scenario)


def test_a_query_waiting_for_mailbox_space_still_honours_its_deadline(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Blocker("small", gate, mailbox_size=1))
        await m.send_to("small", "block")
        assert await m.until(lambda: gate.entered == 1)
        m.send_to_nowait("small", "queued")
        asked = m.start(m.query, "small", "asked", timeout=0.2)
        ended = await m.until(lambda: m.done(asked))
        gate.open()
        assert ended, "a query with timeout=0.2 kept waiting for space past its deadline"
        with pytest.raises(QueryTimeout):
            await m.result(asked)

    twin.run(scenario)


def test_send_to_sync_blocks_a_thread_while_the_mailbox_is_full(
    mesh: LocalMesh, gate: Gate
) -> None:
    agent = mesh.add_agent(SyncBlocker("small", gate, mailbox_size=2))
    mesh.send_to_sync("small", "block")
    assert wait_until(lambda: gate.entered == 1)
    mesh.send_to_sync("small", 1)
    mesh.send_to_sync("small", 2)
    with pytest.raises(MailboxFull):
        mesh.send_to_nowait("small", 3)
    sent = threading.Event()

    def sender() -> None:
        mesh.send_to_sync("small", "late")
        sent.set()

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and not sent.is_set()  # blocked, not failed
    gate.open()
    join(thread)
    assert sent.is_set()
    mesh.wait_idle_sync(SAFETY)
    assert agent.received == ["block", 1, 2, "late"]


@pytest.mark.asyncio
async def test_await_send_to_does_not_block_the_loop_while_it_waits_for_space(
    amesh: LocalMesh, gate: Gate
) -> None:
    agent = amesh.add_agent(Blocker("small", gate, mailbox_size=1))
    await amesh.send_to("small", "block")
    await amesh.send_to("small", 1)
    waiting = asyncio.create_task(amesh.send_to("small", "late"))
    ticks = 0
    while ticks < 20:  # the loop keeps running other work meanwhile
        await asyncio.sleep(0.001)
        ticks += 1
    assert not waiting.done()
    gate.open()
    await asyncio.wait_for(waiting, SAFETY)
    await amesh.wait_idle(SAFETY)
    assert agent.received == ["block", 1, "late"]


# -- payloads -------------------------------------------------------------------------------------


def test_in_process_payloads_and_replies_are_the_objects_themselves(twin: TwinRunner) -> None:
    seen: list[Any] = []
    replies: list[Any] = []

    class Keeper(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            seen.append(message)
            reply = {"reply to": message}
            replies.append(reply)
            return reply

    class SyncKeeper(Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            seen.append(message)
            reply = [message]
            replies.append(reply)
            return reply

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Keeper("keeper"))
        m.mesh.add_agent(SyncKeeper("sync-keeper"))
        told, asked, lock = {"n": 1}, [object()], threading.Lock()  # lock: not serialisable
        await m.send_to("keeper", told)
        await m.wait_idle()
        assert seen[0] is told
        reply = await m.query("keeper", asked)
        assert seen[1] is asked
        assert reply is replies[-1]
        assert reply["reply to"] is asked
        reply = await m.query("sync-keeper", lock)
        assert seen[2] is lock
        assert reply is replies[-1]
        assert reply[0] is lock

    twin.run(scenario)


def test_none_is_a_valid_payload_and_a_valid_reply(twin: TwinRunner) -> None:
    seen: list[Any] = []

    class Quiet(Agent):
        async def on_message(self, message: Any, ctx: Context) -> None:
            seen.append(message)  # returns None, like most handlers do

    class SyncQuiet(Agent):
        def on_message(self, message: Any, ctx: Context) -> None:
            seen.append(message)

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Quiet("quiet"))
        m.mesh.add_agent(SyncQuiet("sync-quiet"))
        assert await m.query("quiet", "a", timeout=SAFETY) is None
        assert await m.query("sync-quiet", "b", timeout=SAFETY) is None
        assert await m.query("quiet", None, timeout=SAFETY) is None
        await m.send_to("sync-quiet", None)
        await m.wait_idle()
        assert seen == ["a", "b", None, None]

    twin.run(scenario)


# -- broadcast ------------------------------------------------------------------------------------


def test_broadcast_reaches_every_agent_but_the_excluded_ones(twin: TwinRunner) -> None:
    class SyncCounter(Agent):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.received: list[Any] = []

        def on_message(self, message: Any, ctx: Context) -> None:
            self.received.append(message)

    async def scenario(m: Twin) -> None:
        assert await m.broadcast("nobody") == 0
        a = m.mesh.add_agent(Counter("a"))
        b = m.mesh.add_agent(SyncCounter("b"))
        c = m.mesh.add_agent(Counter("c"))
        assert await m.broadcast("all") == 3
        assert await m.broadcast("not a", exclude="a") == 2
        assert await m.broadcast("only c", exclude=["a", "b"]) == 1
        assert await m.broadcast("none", exclude=["a", "b", "c", "ghost"]) == 0
        shared = {"one": "object"}
        assert await m.broadcast(shared) == 3
        await m.wait_idle()
        assert a.received == ["all", shared]
        assert b.received == ["all", "not a", shared]
        assert c.received == ["all", "not a", "only c", shared]
        assert a.received[-1] is b.received[-1] is c.received[-1] is shared

    twin.run(scenario)


# -- idleness -------------------------------------------------------------------------------------


def test_wait_idle_returns_once_every_message_is_handled(twin: TwinRunner) -> None:
    class Slowish(Agent):
        def __init__(self, name: str) -> None:
            super().__init__(name, max_concurrency=4)
            self.handled = 0

        async def on_message(self, message: Any, ctx: Context) -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            self.handled += 1

    async def scenario(m: Twin) -> None:
        await m.wait_idle()  # an empty mesh is idle
        agent = m.mesh.add_agent(Slowish("slowish"))
        counter = m.mesh.add_agent(Counter("counter"))
        for n in range(40):
            await m.send_to("slowish", n)
            await m.send_to("counter", n)
        await m.wait_idle()
        assert agent.handled == 40
        assert len(counter.received) == 40
        slowish = m.mesh.metrics()["agents"]["slowish"]
        assert (slowish["handled"], slowish["failed"], slowish["mailbox"]) == (40, 0, 0)

    twin.run(scenario)


def test_wait_idle_raises_timeout_error_while_a_handler_is_blocked(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("stuck", gate))
        await m.send_to("stuck", "block")
        assert await m.until(lambda: gate.entered == 1)
        with pytest.raises(TimeoutError):
            await m.wait_idle(timeout=0.2)
        gate.open()
        await m.wait_idle()
        assert agent.received == ["block"]

    twin.run(scenario)


# -- the registry ---------------------------------------------------------------------------------


def test_agents_lists_the_registered_names(mesh: LocalMesh) -> None:
    assert mesh.agents == []
    for name in ["b", "a", "c"]:
        mesh.add_agent(Counter(name))
    assert sorted(mesh.agents) == ["a", "b", "c"]


def test_send_to_nowait_takes_its_arguments_by_position_or_name_and_refuses_wrong_ones(
    mesh: LocalMesh,
) -> None:
    agent = mesh.add_agent(Counter("a"))
    with pytest.raises(TypeError, match="must be a str, not int"):
        mesh.send_to_nowait(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing argument 'payload'"):
        mesh.send_to_nowait("a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 2 arguments"):
        mesh.send_to_nowait("a", "x", "y")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for 'target'"):
        mesh.send_to_nowait("a", target="a")  # type: ignore[misc]
    with pytest.raises(TypeError, match="unexpected argument 'topic'"):
        mesh.send_to_nowait("a", "x", topic="t")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        mesh.send_to_sync(b"a", "x")  # type: ignore[arg-type]
    mesh.send_to_nowait("a", "by position")
    mesh.send_to_nowait(target="a", payload="by name")
    mesh.send_to_nowait("a", payload=None)
    mesh.wait_idle_sync(timeout=SAFETY)
    assert agent.received == ["by position", "by name", None]


def test_a_removed_agent_is_no_longer_found(mesh: LocalMesh) -> None:
    agent = mesh.add_agent(Counter("gone"))
    mesh.add_agent(Counter("kept"))
    assert mesh.remove_agent("gone") is agent
    assert mesh.agents == ["kept"]
    with pytest.raises(AgentNotFound):
        mesh.query_sync("gone", 1)
    with pytest.raises(AgentNotFound):
        mesh.send_to_sync("gone", 1)
    with pytest.raises(AgentNotFound):
        mesh.send_to_nowait("gone", 1)
    with pytest.raises(AgentNotFound):
        mesh.remove_agent("gone")
    assert "gone" not in mesh.metrics()["agents"]
    again = mesh.add_agent(Counter("gone"))  # the name is free again
    assert mesh.query_sync("gone", "x") == 1
    assert again.received == ["x"]


def test_a_name_sent_to_in_a_loop_reaches_whichever_agent_holds_it_now(mesh: LocalMesh) -> None:
    name = "holder"  # one str object, sent to again and again as in a sender's loop
    first = mesh.add_agent(Counter(name))
    for n in range(3):
        mesh.send_to_nowait(name, n)
    mesh.wait_idle_sync(timeout=SAFETY)
    mesh.remove_agent(name)
    with pytest.raises(AgentNotFound):
        mesh.send_to_nowait(name, "after remove")
    second = mesh.add_agent(Counter(name))
    mesh.send_to_nowait(name, "to the new one")
    mesh.wait_idle_sync(timeout=SAFETY)
    assert first.received == [0, 1, 2]
    assert second.received == ["to the new one"]
    mesh.close()
    with pytest.raises(MeshClosed):
        mesh.send_to_nowait(name, "after close")


def test_sends_round_robin_over_more_names_than_fit_in_the_send_cache_reach_each_agent(
    mesh: LocalMesh,
) -> None:
    agents = [mesh.add_agent(Counter(f"many-{i}", mailbox_size=8)) for i in range(600)]
    names = [agent.name for agent in agents]
    for round_ in range(3):
        for name in names:
            mesh.send_to_nowait(name, (name, round_))
        for name in reversed(names):  # another order: other slots collide
            mesh.send_to_nowait(name, (name, round_ + 10))
    mesh.wait_idle_sync(timeout=SAFETY)
    for agent in agents:
        expected = [(agent.name, r) for r in (0, 10, 1, 11, 2, 12)]
        assert agent.received == expected


def test_queries_still_queued_for_a_removed_agent_fail_with_agent_not_found(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("leaving", gate))
        await m.send_to("leaving", "block")
        assert await m.until(lambda: gate.entered == 1)
        queued = m.start(m.query, "leaving", "queued")
        assert await m.until(lambda: m.mesh.metrics()["agents"]["leaving"]["mailbox"] == 1)
        m.mesh.remove_agent("leaving", drain=False)
        with pytest.raises(AgentNotFound):
            await m.result(queued)
        assert await m.until(agent.cancelled.is_set)  # its running handler was cancelled
        assert agent.received == []

    twin.run(scenario)


def test_remove_agent_drains_what_is_queued_before_stopping_the_agent(gate: Gate) -> None:
    mesh = LocalMesh()
    try:
        agent = mesh.add_agent(Blocker("leaving", gate))
        mesh.send_to_sync("leaving", "block")
        assert wait_until(lambda: gate.entered == 1)
        mesh.send_to_sync("leaving", 1)
        mesh.send_to_sync("leaving", 2)
        asked: list[Any] = []
        asker = threading.Thread(target=lambda: asked.append(mesh.query_sync("leaving", 3)))
        asker.start()
        assert wait_until(lambda: mesh.metrics()["agents"]["leaving"]["mailbox"] == 3)
        removed: list[Agent] = []
        remover = threading.Thread(target=lambda: removed.append(mesh.remove_agent("leaving")))
        remover.start()
        assert wait_until(lambda: "leaving" not in mesh.agents)
        with pytest.raises(AgentNotFound):  # new work is refused while it drains
            mesh.send_to_nowait("leaving", "late")
        assert remover.is_alive()  # still draining: the handler holds the gate
        gate.open()
        remover.join(SAFETY)
        asker.join(SAFETY)
        assert removed == [agent]
        assert agent.received == ["block", 1, 2, 3]
        assert asked == [3]  # the queued query was answered, not failed
    finally:
        gate.open()
        mesh.close()


def test_a_drain_that_outlasts_its_timeout_fails_what_is_left(gate: Gate) -> None:
    with LocalMesh() as mesh:
        agent = mesh.add_agent(Blocker("leaving", gate))
        mesh.send_to_sync("leaving", "block")
        assert wait_until(lambda: gate.entered == 1)
        mesh.send_to_sync("leaving", 1)
        assert mesh.remove_agent("leaving", timeout=0.05) is agent
        assert agent.cancelled.is_set()  # the running handler was cancelled
        assert agent.received == []


@pytest.mark.asyncio
async def test_remove_agent_on_its_own_loop_drains_in_the_background(gate: Gate) -> None:
    async with LocalMesh() as mesh:
        agent = mesh.add_agent(Blocker("leaving", gate))
        await mesh.send_to("leaving", "block")
        while gate.entered == 0:
            await asyncio.sleep(0)
        queued = asyncio.ensure_future(mesh.query("leaving", "queued"))
        while mesh.metrics()["agents"]["leaving"]["mailbox"] == 0:
            await asyncio.sleep(0)
        mesh.remove_agent("leaving")  # returns at once: waiting here would deadlock
        assert "leaving" not in mesh.agents
        gate.open()
        assert await queued == "queued"
        assert agent.received == ["block", "queued"]


def test_a_query_being_handled_when_its_agent_is_removed_fails_with_agent_not_found(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("leaving", gate))
        running = m.start(m.query, "leaving", "block")  # default deadline: 30 s
        assert await m.until(lambda: gate.entered == 1)
        m.mesh.remove_agent("leaving", drain=False)
        assert await m.until(agent.cancelled.is_set)
        with pytest.raises(AgentNotFound):
            await m.result(running)  # at once, not at the deadline

    twin.run(scenario)


# -- self-queries ---------------------------------------------------------------------------------


def test_a_self_query_from_a_one_at_a_time_handler_raises_runtime_error(twin: TwinRunner) -> None:
    class Narcissus(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "ask myself":
                return await ctx.query(ctx.agent, "inner", timeout=SAFETY)
            return message

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Narcissus("narcissus"))
        with pytest.raises(HandlerError) as info:
            await m.query("narcissus", "ask myself")
        assert isinstance(info.value.__cause__, RuntimeError)
        assert "deadlock" in info.value.remote_message
        assert await m.query("narcissus", "still fine") == "still fine"

    twin.run(scenario)


def test_a_self_query_works_when_the_agent_may_run_two_handlers_at_once(twin: TwinRunner) -> None:
    class Reflective(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "ask myself":
                return "outer got " + await ctx.query(ctx.agent, "inner", timeout=SAFETY)
            return message

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Reflective("reflective", max_concurrency=2))
        assert await m.query("reflective", "ask myself") == "outer got inner"

    twin.run(scenario)


# -- the context ----------------------------------------------------------------------------------


def test_the_context_describes_the_message_being_handled(twin: TwinRunner) -> None:
    seen: list[tuple[str, str | None, int | None, int | None]] = []

    class Inspector(Agent):
        def on_message(self, message: Any, ctx: Context) -> None:
            assert ctx.mesh is mesh_box[0]
            seen.append((ctx.agent, ctx.sender, ctx.message_id, ctx.request_id))
            return "seen"

    mesh_box: list[LocalMesh] = []

    async def scenario(m: Twin) -> None:
        mesh_box.append(m.mesh)
        m.mesh.add_agent(Inspector("inspector"))
        await m.send_to("inspector", "told")
        await m.query("inspector", "asked")
        await m.query("inspector", "asked again")
        await m.wait_idle()

    twin.run(scenario)
    (told, asked, again) = seen
    assert told[:2] == asked[:2] == ("inspector", None)
    assert told[3] is None  # a one-way message has no request id
    assert asked[3] is not None and again[3] is not None and asked[3] != again[3]
    assert len({told[2], asked[2], again[2]}) == 3  # message ids are unique


def test_mesh_and_agent_validate_their_arguments() -> None:
    with pytest.raises(ValueError):
        Agent("")
    with pytest.raises(ValueError):
        Agent("a", max_concurrency=0)
    with pytest.raises(ValueError):
        Agent("a", mailbox_size=0)
    agent = Agent("plain")
    assert agent.name == "plain"
    assert repr(agent) == "<Agent 'plain'>"
    with serendip.LocalMesh("m") as mesh:
        assert mesh.name == "m"
        assert not mesh.closed


# -- queries answered inside the call --


class Increment(Agent):
    def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "exit":
            raise SystemExit(7)
        return message + 1


class AsyncIncrement(Agent):
    async def on_message(self, message: Any, ctx: Context) -> Any:
        return message + 1


@pytest.mark.asyncio
@pytest.mark.parametrize("agent", [Increment, AsyncIncrement])
async def test_a_handler_on_the_callers_loop_answers_without_a_turn_yet_the_loop_still_turns(
    amesh: LocalMesh, agent: type[Agent]
) -> None:
    # A plain handler runs inside the request call; an async one that never suspends, inside
    # the asking Task once its runner has parked after the first message.
    amesh.add_agent(agent("inc"))
    assert await amesh.query("inc", 0) == 1  # the loop's bridge has drained: it knows its thread
    await asyncio.sleep(0)  # a fresh turn: the inline budget is whole
    done = 0
    seen_at: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: seen_at.append(done))
    for i in range(100):
        assert await amesh.query("inc", i) == i + 1
        done += 1
    # The first answers came inside their calls, before the loop ran the callback; a caller
    # that queries in a loop still gives the loop a turn after a bounded number of them.
    assert len(seen_at) == 1 and 1 <= seen_at[0] <= serendip._bridge.INLINE_BUDGET
    assert amesh.metrics()["agents"]["inc"]["handled"] == 101


def test_system_exit_from_a_plain_handler_answering_inside_the_call_still_stops_the_loop() -> None:
    errors: list[BaseException] = []

    async def main() -> None:
        async with LocalMesh("exit") as mesh:
            mesh.add_agent(Increment("inc"))
            assert await mesh.query("inc", 0) == 1
            try:
                await mesh.query("inc", "exit")
            except HandlerError as exc:
                errors.append(exc)
            await asyncio.sleep(0)  # the loop raises it here, at its next turn
            errors.append(RuntimeError("the loop went on"))

    with pytest.raises(SystemExit) as caught:
        asyncio.run(main())
    assert caught.value.code == 7
    assert [type(e) for e in errors] == [HandlerError]
