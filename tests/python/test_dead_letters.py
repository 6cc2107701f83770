"""Dead letters: what reached no handler, kept in the mesh and forwarded to logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from _support import Gate, wait_until
from serendip import Agent, AgentNotFound, Context, LocalMesh, QueryTimeout


class Blocker(Agent):
    def __init__(self, name: str, gate: Gate, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate

    async def on_message(self, message: Any, ctx: Context) -> Any:
        if message == "block":
            await self.gate.wait()
        return message


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "serendip.dead_letters"]


def test_every_reason_is_recorded_with_its_message_and_forwarded_to_logging(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serendip.dead_letters")
    with LocalMesh(dead_letter_capacity=10) as mesh:
        mesh.add_agent(Blocker("box", gate, mailbox_size=1, overflow="drop_newest"))
        with pytest.raises(AgentNotFound):
            mesh.send_to_nowait("nobody", 1)
        mesh.send_to_sync("box", "block")
        assert wait_until(lambda: gate.entered == 1)
        with pytest.raises(QueryTimeout):
            mesh.query_sync("box", "late", timeout=0.05)  # expires while queued
        mesh.send_to_nowait("box", "dropped")  # the mailbox holds the expired query
        gate.open()
        mesh.wait_idle_sync()
        letters = mesh.dead_letters
        assert [letter.reason for letter in letters] == ["unknown_target", "dropped", "expired"]
        unknown, dropped, expired = letters
        assert (unknown.target, unknown.sender, unknown.message_id) == ("nobody", None, None)
        assert dropped.target == "box" and dropped.message_id is not None
        assert expired.request_id is not None and expired.detail
        assert mesh.metrics()["totals"]["dead_letters"] == 3
        assert wait_until(lambda: len(_records(caplog)) == 3)
    records = _records(caplog)
    assert [r.reason for r in records] == ["unknown_target", "dropped", "expired"]  # type: ignore[attr-defined]
    assert records[0].levelno == logging.WARNING
    assert records[0].agent == "nobody"  # type: ignore[attr-defined]
    assert records[2].request_id == expired.request_id  # type: ignore[attr-defined]


def test_the_log_keeps_the_newest_letters(mesh: LocalMesh) -> None:
    small = LocalMesh(dead_letter_capacity=2)
    try:
        for name in ["a", "b", "c"]:
            with pytest.raises(AgentNotFound):
                small.send_to_nowait(name, 1)
        assert [letter.target for letter in small.dead_letters] == ["b", "c"]
        assert small.metrics()["totals"]["dead_letters"] == 3
    finally:
        small.close()
    with pytest.raises(ValueError):
        LocalMesh(dead_letter_capacity=0)
