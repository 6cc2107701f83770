"""Per-agent overflow policies: what a full mailbox does with one more message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from _support import Gate, Twin, TwinRunner
from serendip import Agent, Context, LocalMesh, MailboxFull, MessageDropped


class Blocker(Agent):
    """Holds its handler on a gate for "block"; records everything it handles."""

    def __init__(self, name: str, gate: Gate, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate
        self.received: list[Any] = []

    async def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "block":
            await self.gate.wait()
        self.received.append(message)
        return message


async def _fill(m: Twin, gate: Gate, overflow: str, size: int = 2) -> Blocker:
    """An agent busy on "block" whose mailbox then holds 0..size-1 (full)."""
    agent = m.mesh.add_agent(Blocker("box", gate, mailbox_size=size, overflow=overflow))
    await m.send_to("box", "block")
    assert await m.until(lambda: gate.entered == 1)
    for i in range(size):
        m.send_to_nowait("box", i)
    return agent


def test_an_unknown_overflow_policy_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="overflow must be one of"):
        Agent("a", overflow="spill")  # type: ignore[arg-type]


def test_reject_makes_every_kind_of_send_raise_mailbox_full_at_once(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = await _fill(m, gate, "reject")
        with pytest.raises(MailboxFull, match="'box'"):
            await m.send_to("box", "more")
        with pytest.raises(MailboxFull, match="'box'"):
            await m.query("box", "more")
        with pytest.raises(MailboxFull, match="overflow='reject'"):
            await m.submit("box", "more")
        with pytest.raises(MailboxFull):
            m.send_to_nowait("box", "more")
        gate.open()
        await m.wait_idle()
        assert agent.received == ["block", 0, 1]
        assert await m.query("box", "after") == "after"  # space again: accepted

    twin.run(scenario)


def test_drop_newest_drops_the_new_message_and_keeps_the_queued_ones(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = await _fill(m, gate, "drop_newest")
        await m.send_to("box", "dropped")  # neither waits nor raises
        m.send_to_nowait("box", "dropped too")
        with pytest.raises(MessageDropped, match="'box'"):
            await m.query("box", "dropped query")
        gate.open()
        await m.wait_idle()  # dropped messages do not keep the mesh busy
        assert agent.received == ["block", 0, 1]

    twin.run(scenario)


def test_drop_oldest_queues_the_new_message_and_fails_a_dropped_query_at_once(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Blocker("box", gate, mailbox_size=1, overflow="drop_oldest"))
        await m.send_to("box", "block")
        assert await m.until(lambda: gate.entered == 1)
        asked = m.start(m.query, "box", "asked")
        assert await m.until(lambda: m.mesh.metrics()["agents"]["box"]["mailbox"] == 1)
        m.send_to_nowait("box", "newest")  # pushes the query out: it fails before the gate opens
        with pytest.raises(MessageDropped, match="'box'"):
            await m.result(asked)
        gate.open()
        await m.wait_idle()
        assert agent.received == ["block", "newest"]

    twin.run(scenario)


@pytest.mark.asyncio
async def test_a_dropped_message_is_released_on_the_home_loop_and_nothing_leaks(
    gate: Gate,
) -> None:
    class Payload:
        alive = 0

        def __init__(self) -> None:
            Payload.alive += 1

        def __del__(self) -> None:
            Payload.alive -= 1

    async with LocalMesh() as mesh:
        agent = mesh.add_agent(Blocker("box", gate, mailbox_size=1, overflow="drop_oldest"))
        await mesh.send_to("box", "block")
        while gate.entered == 0:
            await asyncio.sleep(0)
        for _ in range(5):
            mesh.send_to_nowait("box", Payload())
        assert Payload.alive == 5  # four dropped, still held for their owner to dispose of
        gate.open()
        await mesh.wait_idle()
        assert len(agent.received) == 2 and Payload.alive == 1  # only the one it kept
