"""Shutdown: close/aclose, context managers, the exit backstop, and fork."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from serendip import Agent, Context, LocalMesh, MeshClosed

from _support import SAFETY, Gate, Twin, TwinRunner, until, wait_until


class Blocker(Agent):
    """Coroutine handler that waits on a gate; records its hooks and cancellations."""

    def __init__(self, name: str, gate: Gate, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate
        self.cancelled = 0
        self.stopped = threading.Event()

    async def on_message(self, message: Any, ctx: Context) -> Any:
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return message

    async def on_stop(self, ctx: Context) -> None:
        self.stopped.set()


class SyncStop(Agent):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.stopped = threading.Event()

    def on_message(self, message: Any, ctx: Context) -> Any:
        return message

    def on_stop(self, ctx: Context) -> None:
        self.stopped.set()


# -- close / aclose -------------------------------------------------------------------------------


def test_close_fails_every_in_flight_query_with_mesh_closed_and_runs_on_stop(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        blockers = [m.mesh.add_agent(Blocker(name, gate)) for name in ("b1", "b2")]
        plain = m.mesh.add_agent(SyncStop("plain"))
        running = [m.start(m.query, name, "running") for name in ("b1", "b2")]
        assert await m.until(lambda: gate.entered == 2)
        queued = [m.start(m.query, name, f"queued {n}") for name in ("b1", "b2") for n in (1, 2)]
        metrics = m.mesh.metrics
        assert await m.until(
            lambda: metrics()["agents"]["b1"]["mailbox"] == metrics()["agents"]["b2"]["mailbox"] == 2
        )
        await m.close()
        for query in running + queued:
            with pytest.raises(MeshClosed):
                await m.result(query)
        assert plain.stopped.is_set()
        for blocker in blockers:
            assert blocker.stopped.is_set()
            assert blocker.cancelled == 1  # the running handler was cancelled, not left behind
        assert m.mesh.closed

    twin.run(scenario)


def test_close_fails_callers_waiting_for_mailbox_space_or_idleness(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Blocker("small", gate, mailbox_size=1))
        await m.send_to("small", "block")
        assert await m.until(lambda: gate.entered == 1)
        await m.send_to("small", "fills the mailbox")
        sender = m.start(m.send_to, "small", "waits for space")
        idler = m.start(m.wait_idle, None)
        await m.pause()
        assert not m.done(sender) and not m.done(idler)
        await m.close()
        with pytest.raises(MeshClosed):
            await m.result(sender)
        with pytest.raises(MeshClosed):
            await m.result(idler)

    twin.run(scenario)


def test_every_call_after_close_raises_mesh_closed(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(SyncStop("plain"))
        await m.close()
        with pytest.raises(MeshClosed, match="closed"):
            await m.query("plain", 1)
        with pytest.raises(MeshClosed):
            await m.send_to("plain", 1)
        with pytest.raises(MeshClosed):
            m.send_to_nowait("plain", 1)
        with pytest.raises(MeshClosed):
            await m.broadcast(1)
        with pytest.raises(MeshClosed):
            await m.wait_idle()
        with pytest.raises(MeshClosed):
            m.mesh.add_agent(SyncStop("late"))
        with pytest.raises(MeshClosed):
            m.mesh.remove_agent("plain")
        with pytest.raises(MeshClosed):
            m.mesh.agents
        with pytest.raises(MeshClosed):
            m.mesh.metrics()
        # unknown names too: closed wins over not found
        with pytest.raises(MeshClosed):
            await m.query("ghost", 1)

    twin.run(scenario)


def test_close_is_idempotent(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(SyncStop("plain"))
        await m.close()
        await m.close()
        m.mesh.close()
        assert m.mesh.closed
        assert agent.stopped.is_set()
        assert "closed" in repr(m.mesh)

    twin.run(scenario)


@pytest.mark.asyncio
async def test_aclose_after_close_does_nothing() -> None:
    mesh = LocalMesh("twice")
    mesh.add_agent(SyncStop("plain"))
    mesh.close()
    await mesh.aclose()
    assert mesh.closed


def test_an_agent_can_join_another_mesh_after_its_mesh_closed() -> None:
    agent = SyncStop("traveller")
    with LocalMesh("first") as first:
        first.add_agent(agent)
    with LocalMesh("second") as second:
        second.add_agent(agent)
        assert second.query_sync("traveller", "hi") == "hi"


def test_with_closes_the_mesh_and_fails_queries_still_waiting(gate: Gate) -> None:
    outcomes: list[BaseException] = []
    with LocalMesh("with") as mesh:
        blocker = mesh.add_agent(Blocker("blocker", gate))

        def ask() -> None:
            try:
                mesh.query_sync("blocker", "never answered")
            except BaseException as exc:
                outcomes.append(exc)

        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        assert wait_until(lambda: gate.entered == 1)
    thread.join(SAFETY)
    assert not thread.is_alive()
    assert mesh.closed
    assert blocker.stopped.is_set()
    assert len(outcomes) == 1 and isinstance(outcomes[0], MeshClosed)


@pytest.mark.asyncio
async def test_async_with_closes_the_mesh_and_fails_queries_still_waiting(gate: Gate) -> None:
    async with LocalMesh("async-with") as mesh:
        blocker = mesh.add_agent(Blocker("blocker", gate))
        query = asyncio.create_task(mesh.query("blocker", "never answered"))
        while not gate.entered:
            await asyncio.sleep(0.005)
    with pytest.raises(MeshClosed):
        await asyncio.wait_for(query, SAFETY)
    assert mesh.closed
    assert blocker.stopped.is_set()
    assert blocker.cancelled == 1


@pytest.mark.asyncio
async def test_aclose_stops_agents_homed_on_other_loops_too(gate: Gate) -> None:
    mesh = LocalMesh("mixed")
    here = mesh.add_agent(Blocker("here", gate))
    there = await asyncio.to_thread(mesh.add_agent, Blocker("there", gate))
    queries = [asyncio.create_task(mesh.query(name, 1)) for name in ("here", "there")]
    await asyncio.to_thread(wait_until, lambda: gate.entered == 2)
    await mesh.aclose()
    for query in queries:
        with pytest.raises(MeshClosed):
            await asyncio.wait_for(query, SAFETY)
    assert here.stopped.is_set() and there.stopped.is_set()
    assert here.cancelled == there.cancelled == 1


def test_close_from_another_thread_stops_agents_on_a_running_loop(gate: Gate) -> None:
    async def main() -> tuple[Any, ...]:
        mesh = LocalMesh("cross")
        blocker = mesh.add_agent(Blocker("blocker", gate))
        query = asyncio.create_task(mesh.query("blocker", 1))
        closer = threading.Thread(
            target=lambda: (wait_until(lambda: gate.entered == 1), mesh.close()), daemon=True
        )
        closer.start()
        outcome = await asyncio.wait_for(asyncio.gather(query, return_exceptions=True), SAFETY)
        await asyncio.to_thread(closer.join, SAFETY)
        return outcome[0], blocker.stopped.is_set(), blocker.cancelled, closer.is_alive()

    error, stopped, cancelled, closer_alive = asyncio.run(main())
    assert isinstance(error, MeshClosed)
    assert (stopped, cancelled, closer_alive) == (True, 1, False)


@pytest.mark.asyncio
async def test_a_sync_close_on_the_agents_loop_fails_queries_and_schedules_on_stop(
    gate: Gate,
) -> None:
    mesh = LocalMesh("sync-close-on-loop")
    blocker = mesh.add_agent(Blocker("blocker", gate))
    query = asyncio.create_task(mesh.query("blocker", 1))
    while not gate.entered:
        await asyncio.sleep(0.005)
    mesh.close()  # cannot await the stop here: it is scheduled on this loop
    assert mesh.closed
    with pytest.raises(MeshClosed):
        await asyncio.wait_for(query, SAFETY)
    assert await asyncio.to_thread(blocker.stopped.wait, SAFETY)
    assert blocker.cancelled == 1


@pytest.mark.parametrize(
    "how",
    [
        "await aclose()",
        "close()",
    ],
)
def test_a_handler_can_close_its_own_mesh(twin: TwinRunner, how: str) -> None:
    events: list[str] = []

    class Shutdown(Agent):
        async def on_message(self, message: Any, ctx: Context) -> str:
            if how == "close()":
                ctx.mesh.close()
            else:
                await ctx.mesh.aclose()
            events.append("close returned")
            return "closing"

        def on_stop(self, ctx: Context) -> None:
            events.append("shutdown stopped")

    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Shutdown("shutdown"))
        bystander = m.mesh.add_agent(SyncStop("bystander"))
        with pytest.raises(MeshClosed):
            await m.query("shutdown", "please")
        assert await m.until(lambda: len(events) == 2)
        assert sorted(events) == ["close returned", "shutdown stopped"]
        assert await m.until(bystander.stopped.is_set)
        assert await m.until(lambda: "closed agents=0" in repr(m.mesh))  # not stuck "closing"

    twin.run(scenario)


@pytest.mark.asyncio
@pytest.mark.parametrize("handler", ["plain", "async"])
async def test_messages_queued_behind_the_handler_that_closes_the_mesh_are_dropped(
    handler: str,
) -> None:
    # The dispatcher takes queued messages from the mailbox in batches: those already taken
    # are still queued messages, and a close from a handler on this loop drops them too.
    seen: list[int] = []

    class Plain(Agent):
        def on_message(self, message: int, ctx: Context) -> None:
            seen.append(message)
            if message == 0:
                ctx.mesh.close()

    class Async(Agent):
        async def on_message(self, message: int, ctx: Context) -> None:
            seen.append(message)
            if message == 0:
                ctx.mesh.close()

    mesh = LocalMesh("close-from-a-batch")
    mesh.add_agent(Plain("closer") if handler == "plain" else Async("closer"))
    for i in range(5):
        mesh.send_to_nowait("closer", i)
    assert await until(lambda: mesh.closed)
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [0]


# -- exit without close (subprocesses) ----------------------------------------------------------

FORBIDDEN = ["Fatal Python error", "never awaited", "Task was destroyed", "Traceback"]
RUNS = 30

SYNC_EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, threading
    import serendip

    started = threading.Event()

    def say(line):  # one write per line: threads print concurrently
        os.write(1, (line + "\\n").encode())

    class Sleeper(serendip.Agent):
        async def on_message(self, message, ctx):
            started.set()
            await asyncio.sleep(3600)

    class Plain(serendip.Agent):
        def on_message(self, message, ctx):
            return message

    mesh = serendip.LocalMesh("exit-sync")
    mesh.add_agent(Sleeper("sleeper", max_concurrency=4))
    mesh.add_agent(Plain("plain"))
    assert mesh.query_sync("plain", "warm") == "warm"

    def ask(n):
        try:
            mesh.query_sync("sleeper", n, timeout=None)
            say(f"asker {n}: answered")
        except serendip.MeshClosed:
            say(f"asker {n}: MeshClosed")

    askers = [threading.Thread(target=ask, args=(n,)) for n in range(3)]  # non-daemon
    for t in askers:
        t.start()
    for n in range(20):
        mesh.send_to_nowait("sleeper", n)
    assert started.wait(10)
    say("exiting without close")
    """
)

ASYNC_EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, threading
    import serendip

    started = threading.Event()

    def say(line):  # one write per line: threads print concurrently
        os.write(1, (line + "\\n").encode())

    class Sleeper(serendip.Agent):
        async def on_message(self, message, ctx):
            started.set()
            await asyncio.sleep(3600)

    class Relay(serendip.Agent):
        async def on_message(self, message, ctx):
            return await ctx.query("sleeper", message)

    class Plain(serendip.Agent):
        def on_message(self, message, ctx):
            return message

    def ask_from_thread(mesh):
        try:
            mesh.query_sync("sleeper", "from a thread", timeout=None)
            say("thread: answered")
        except serendip.MeshClosed:
            say("thread: MeshClosed")

    async def main():
        mesh = serendip.LocalMesh("exit-async")
        mesh.add_agent(Sleeper("sleeper", max_concurrency=3))
        mesh.add_agent(Relay("relay"))
        mesh.add_agent(Plain("plain"))
        await asyncio.to_thread(mesh.add_agent, Sleeper("background"))
        assert await mesh.query("plain", "warm") == "warm"
        pending = [asyncio.create_task(mesh.query("relay", n)) for n in range(3)]
        pending.append(asyncio.create_task(mesh.query("background", "bg")))
        for n in range(10):
            mesh.send_to_nowait("sleeper", n)
            mesh.send_to_nowait("background", n)
        threading.Thread(target=ask_from_thread, args=(mesh,)).start()
        while not started.is_set():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)
        say("exiting without aclose")

    asyncio.run(main())
    """
)


def run_script(source: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-c", source],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def assert_clean_exits(source: str, expected_stdout: list[str]) -> None:
    def one(_: int) -> subprocess.CompletedProcess[str]:
        return run_script(source)

    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine has 2 cores
        results = list(pool.map(one, range(RUNS)))
    for proc in results:
        assert proc.returncode == 0, proc.stderr
        for bad in FORBIDDEN:
            assert bad not in proc.stderr, proc.stderr
        assert sorted(proc.stdout.splitlines()) == sorted(expected_stdout), proc.stdout


@pytest.mark.slow
def test_a_script_that_exits_without_close_while_messages_are_in_flight_exits_cleanly() -> None:
    assert_clean_exits(
        SYNC_EXIT_SCRIPT,
        ["exiting without close"] + [f"asker {n}: MeshClosed" for n in range(3)],
    )


@pytest.mark.slow
def test_an_asyncio_run_script_that_exits_without_aclose_exits_cleanly() -> None:
    assert_clean_exits(ASYNC_EXIT_SCRIPT, ["exiting without aclose", "thread: MeshClosed"])


# -- fork -----------------------------------------------------------------------------------------

FORK_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os
    import serendip

    class Echo(serendip.Agent):
        async def on_message(self, message, ctx):
            await asyncio.sleep(0)
            return message

    class Plain(serendip.Agent):
        def on_message(self, message, ctx):
            return message

    def attempt(call):
        try:
            return f"returned {call()!r}"
        except serendip.MeshClosed as exc:
            return f"MeshClosed: {exc}"
        except BaseException as exc:
            return f"{type(exc).__name__}: {exc}"

    mesh = serendip.LocalMesh("inherited")
    mesh.add_agent(Echo("echo"))
    mesh.add_agent(Plain("plain"))
    assert mesh.query_sync("echo", "before") == "before"

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        child = {
            "closed": mesh.closed,
            "query_sync": attempt(lambda: mesh.query_sync("echo", "child", timeout=5)),
            "query": attempt(lambda: asyncio.run(mesh.query("echo", "child", timeout=5))),
            "send_to_sync": attempt(lambda: mesh.send_to_sync("plain", "child")),
            "send_to_nowait": attempt(lambda: mesh.send_to_nowait("plain", "child")),
            "wait_idle_sync": attempt(lambda: mesh.wait_idle_sync(5)),
            "agents": attempt(lambda: mesh.agents),
            "add_agent": attempt(lambda: mesh.add_agent(Plain("new"))),
            "close": attempt(mesh.close),
        }

        def fresh():
            with serendip.LocalMesh("child") as own:
                own.add_agent(Echo("echo"))
                return own.query_sync("echo", "fresh", timeout=5)

        child["fresh mesh"] = attempt(fresh)
        os.write(write_end, json.dumps(child).encode())
        os._exit(0)

    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    parent = {
        "child status": status,
        "query_sync": attempt(lambda: mesh.query_sync("echo", "parent", timeout=5)),
        "plain": attempt(lambda: mesh.query_sync("plain", "parent", timeout=5)),
        "query": attempt(lambda: asyncio.run(mesh.query("echo", "parent async", timeout=5))),
    }
    mesh.close()
    print(json.dumps({"child": json.loads(b"".join(chunks) or b"{}"), "parent": parent}))
    """
)


def test_a_forked_child_gets_mesh_closed_from_an_inherited_mesh_and_the_parent_keeps_working() -> (
    None
):
    proc = run_script(FORK_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    for bad in FORBIDDEN:
        assert bad not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    child, parent = report["child"], report["parent"]
    assert child["closed"] is True
    for call in ["query_sync", "query", "send_to_sync", "send_to_nowait", "wait_idle_sync",
                 "agents", "add_agent"]:
        assert child[call].startswith("MeshClosed: "), (call, child[call])
        assert "fork" in child[call], (call, child[call])
    assert child["close"] == "returned None"
    assert child["fresh mesh"] == "returned 'fresh'"
    assert parent == {
        "child status": 0,
        "query_sync": "returned 'parent'",
        "plain": "returned 'parent'",
        "query": "returned 'parent async'",
    }


