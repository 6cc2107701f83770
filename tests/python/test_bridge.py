"""The native loop bridge (bindings/bridge.cpp): what it dispatches to runners and futures."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

import serendip
from serendip import Agent, Context, _core
from serendip._bridge import bridge_for, running_bridge

from _support import SAFETY


class Recorder:
    """A runner that records what the bridge hands it and may fail doing so."""

    def __init__(self, name: str, calls: list[Any], fail: BaseException | None = None) -> None:
        self.name = name
        self.calls = calls
        self.fail = fail

    def on_ready(self) -> None:
        self.calls.append(self.name)
        if self.fail is not None:
            raise self.fail

    def abandon(self, request_id: int) -> None:
        self.calls.append((self.name, request_id))


class SuspendingIncrement(Agent):
    """Answers after one turn of the loop: never inside the request call."""

    async def on_message(self, message: Any, ctx: Context) -> Any:
        await asyncio.sleep(0)
        return message + 1


class Increment(Agent):
    def on_message(self, message: Any, ctx: Context) -> Any:
        return message + 1


def ready_pair(
    core_mesh: _core.Mesh, bridge: _core.LoopBridge, calls: list[Any], fail: BaseException
) -> tuple[_core.AgentRef, _core.AgentRef]:
    """Two cells on ``bridge`` with a message each: the first one's runner raises ``fail``."""
    first = core_mesh.add_agent("first", 8, bridge)
    second = core_mesh.add_agent("second", 8, bridge)
    bridge.add_runner(first.id, Recorder("first", calls, fail))
    bridge.add_runner(second.id, Recorder("second", calls))
    assert core_mesh.send("first", 1, None, None)
    assert core_mesh.send("second", 2, None, None)
    return first, second


@pytest.fixture
def core_mesh() -> Iterator[_core.Mesh]:
    """A bare native mesh: its agents are cells whose runners the test itself provides."""
    m = _core.Mesh("bridge-test")
    yield m
    m.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop that is not running: the test drains its bridge by hand."""
    loop = asyncio.new_event_loop()
    yield loop
    bridge_for(loop).close()
    loop.close()


@pytest.mark.asyncio
async def test_a_failing_runner_goes_to_the_loops_exception_handler_and_the_batch_goes_on(
    core_mesh: _core.Mesh,
) -> None:
    loop = asyncio.get_running_loop()
    bridge = bridge_for(loop)
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    calls: list[Any] = []
    first, second = ready_pair(core_mesh, bridge, calls, ValueError("boom"))
    async with asyncio.timeout(SAFETY):
        while len(calls) < 2:
            await asyncio.sleep(0)
    assert calls == ["first", "second"]
    assert len(reported) == 1
    assert reported[0]["message"] == "serendip: error while dispatching native work"
    assert isinstance(reported[0]["exception"], ValueError)
    bridge.remove_runner(first.id)
    bridge.remove_runner(second.id)


def test_system_exit_from_a_runner_is_raised_by_the_drain_once_its_batch_is_done(
    core_mesh: _core.Mesh, loop: asyncio.AbstractEventLoop
) -> None:
    bridge = bridge_for(loop)
    calls: list[Any] = []
    ready_pair(core_mesh, bridge, calls, SystemExit(3))
    with pytest.raises(SystemExit) as raised:
        bridge.drain_turn()
    assert raised.value.code == 3
    assert calls == ["first", "second"]
    bridge.drain_turn()  # raised once: nothing is left over


def test_a_removed_runner_hears_nothing_more(
    core_mesh: _core.Mesh, loop: asyncio.AbstractEventLoop
) -> None:
    bridge = bridge_for(loop)
    calls: list[Any] = []
    cell = core_mesh.add_agent("gone", 8, bridge)
    bridge.add_runner(cell.id, Recorder("gone", calls))
    bridge.remove_runner(cell.id)
    bridge.remove_runner(cell.id)  # a no-op the second time
    assert core_mesh.send("gone", 1, None, None)
    bridge.drain_turn()
    assert calls == []


@pytest.mark.asyncio
async def test_a_query_answered_inside_its_call_hands_back_the_answer_with_no_future(
    amesh: serendip.LocalMesh,
) -> None:
    amesh.add_agent(Increment("inc"))
    assert await amesh.query("inc", 0) == 1  # the bridge has drained: it knows its thread
    await asyncio.sleep(0)  # a fresh turn: the inline budget is whole
    request_id, answer, token = amesh._core.query(running_bridge(), "inc", 41, None, SAFETY)
    assert request_id > 0
    assert (answer, token) == ((_core.STATUS_OK, 42, "", ""), 0)


@pytest.mark.asyncio
async def test_a_query_not_answered_inside_its_call_hands_back_a_future_for_the_answer(
    amesh: serendip.LocalMesh,
) -> None:
    amesh.add_agent(SuspendingIncrement("later"))
    request_id, future, token = amesh._core.query(running_bridge(), "later", 1, None, SAFETY)
    assert request_id > 0 and token > 0
    assert not future.done()
    async with asyncio.timeout(SAFETY):
        assert await future == (_core.STATUS_OK, 2, "", "")


@pytest.mark.asyncio
async def test_listening_after_the_answer_came_resolves_the_future_at_once(
    amesh: serendip.LocalMesh,
) -> None:
    amesh.add_agent(Increment("inc"))
    assert await amesh.query("inc", 0) == 1
    await asyncio.sleep(0)
    bridge = running_bridge()
    waiter = bridge.waiter()
    assert amesh._core.request("inc", 1, None, SAFETY, waiter)
    future, _ = bridge.listen(waiter)
    assert future.done() and future.result() == (_core.STATUS_OK, 2, "", "")
    with pytest.raises(RuntimeError, match="listened to or taken already"):
        bridge.listen(waiter)


def test_an_answer_from_another_loop_reaches_the_future_listened_for() -> None:
    with serendip.LocalMesh("elsewhere") as mesh:
        mesh.add_agent(Increment("inc"))  # homed on the mesh's background loop

        async def ask() -> tuple[int, Any, str, str]:
            bridge = running_bridge()
            waiter = bridge.waiter()
            assert mesh._core.request("inc", 9, None, SAFETY, waiter)
            future, _ = bridge.listen(waiter)  # before or after the answer: either resolves
            async with asyncio.timeout(SAFETY):
                return await future

        assert asyncio.run(ask()) == (_core.STATUS_OK, 10, "", "")


def test_close_cancels_the_waits_and_stops_the_loop_watching_the_fd(
    loop: asyncio.AbstractEventLoop,
) -> None:
    bridge = bridge_for(loop)
    future, _, _ = bridge.new_wait()
    bridge.close()
    assert bridge.closed
    assert future.cancelled()
    assert not loop.remove_reader(bridge.fd)  # close removed it already
    assert bridge_for(loop) is not bridge  # a closed bridge is replaced


def test_a_bridge_does_not_keep_its_loop_alive_and_says_so_once_the_loop_is_gone() -> None:
    loop = asyncio.new_event_loop()
    bridge = bridge_for(loop)
    assert bridge.loop is loop and bridge.owns(loop)
    gone = weakref.ref(loop)
    bridge.close()
    loop.close()
    del loop
    gc.collect()
    assert gone() is None
    with pytest.raises(RuntimeError, match="no longer exists"):
        _ = bridge.loop
