"""mesh.invoke: running an agent's action through its mailbox, on its home loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from _support import SAFETY, Twin, TwinRunner
from serendip import (
    ActionInputError,
    ActionNotFound,
    Agent,
    Context,
    HandlerError,
    LocalMesh,
    action,
)
from serendip._action import Invocation


class Calculator(Agent):
    """Plain handler, one sync and one async action; records where things ran."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.threads: list[int] = []
        self.senders: list[str | None] = []

    def on_message(self, message: Any, ctx: Context) -> Any:
        return ("message", message)

    @action(description="Adds two numbers.")
    def add(self, a: int, b: int = 1) -> int:
        self.threads.append(threading.get_ident())
        return a + b

    @action
    async def slow_double(self, x: float, ctx: Context) -> float:
        self.threads.append(threading.get_ident())
        self.senders.append(ctx.sender)
        await asyncio.sleep(0)
        return 2 * x

    @action
    def explode(self) -> None:
        raise KeyError("boom")


class AsyncCalculator(Calculator):
    async def on_message(self, message: Any, ctx: Context) -> Any:  # type: ignore[override]
        return ("message", message)


@pytest.mark.parametrize("cls", [Calculator, AsyncCalculator])
def test_invoke_runs_sync_and_async_actions_on_the_home_loop(
    twin: TwinRunner, cls: type[Calculator]
) -> None:
    async def scenario(m: Twin) -> None:
        calc = m.mesh.add_agent(cls("calc"))
        home = await m.query("calc", "where")  # an ordinary message still works
        assert home == ("message", "where")
        if m.kind == "async":
            assert await m.mesh.invoke("calc", "add", {"a": 2}) == 3
            assert await m.mesh.invoke("calc", "slow_double", {"x": 1.5}) == 3.0
        else:
            assert m.mesh.invoke_sync("calc", "add", {"a": 2, "b": 5}) == 7
            assert m.mesh.invoke_sync("calc", "slow_double", {"x": 2}) == 4
        runner = m.mesh._runners["calc"]
        assert set(calc.threads) == {runner.loop._thread_id}  # type: ignore[attr-defined]
        assert calc.senders == [None]
        handled = m.mesh.metrics()["agents"]["calc"]["handled"]
        assert handled == 3  # the query and both invocations

    twin.run(scenario)


def test_invoke_refusals_raise_their_own_errors(mesh: LocalMesh) -> None:
    mesh.add_agent(Calculator("calc"))
    with pytest.raises(ActionNotFound, match="nope"):
        mesh.invoke_sync("calc", "nope")
    with pytest.raises(ActionInputError, match="'a'") as info:
        mesh.invoke_sync("calc", "add", {"a": "two"})
    assert info.value.field == "a"
    with pytest.raises(ActionInputError, match="'a'"):
        mesh.invoke_sync("calc", "add", {})
    with pytest.raises(ActionInputError, match="'c'"):
        mesh.invoke_sync("calc", "add", {"a": 1, "c": 2})
    with pytest.raises(HandlerError, match="KeyError") as failed:
        mesh.invoke_sync("calc", "explode")
    assert isinstance(failed.value.__cause__, KeyError)
    assert mesh.metrics()["agents"]["calc"]["errors"] == {
        "ActionNotFound": 1,
        "ActionInputError": 3,
        "KeyError": 1,
    }


@pytest.mark.asyncio
async def test_an_agent_invokes_another_agents_action_from_its_handler() -> None:
    class Caller(Agent):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            return await ctx.mesh.invoke("calc", "slow_double", {"x": message})

    async with LocalMesh() as mesh:
        calc = mesh.add_agent(Calculator("calc"))
        mesh.add_agent(Caller("caller"))
        assert await mesh.query("caller", 21) == 42
        assert calc.senders == [None]  # invoked through the mesh, not as the caller


@pytest.mark.asyncio
async def test_an_async_action_stopped_before_its_first_step_still_counts_as_handled() -> None:
    # On an agent with a plain handler an async action runs as a task of its own. The yield
    # lets the drain create that task; the removal's task, created next, runs before the
    # action task's first step and cancels it. The message must still be counted handled, or
    # wait_idle would wait for it for the rest of the mesh's life.
    async with LocalMesh() as mesh:
        calc = mesh.add_agent(Calculator("calc"))
        mesh.send_to_nowait("calc", Invocation("slow_double", {"x": 1.0}))
        await asyncio.sleep(0)
        mesh.remove_agent("calc", drain=False)
        await mesh.wait_idle(timeout=SAFETY)
        assert calc.threads == []  # it never started
