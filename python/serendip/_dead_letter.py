"""DeadLetter: the record of a message that reached no handler, and its forwarding to logging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from . import _core
from ._bridge import running_bridge, running_loop

__all__ = ["DeadLetter", "DeadLetterForwarder", "DeadLetterReason", "letters_of"]

DeadLetterReason = Literal["unknown_target", "dropped", "expired", "failed"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the mesh could not hand to a handler, or whose one-way handler failed.

    Attributes:
        reason: ``"unknown_target"`` (no agent of that name), ``"dropped"`` (the target's
            overflow policy dropped it), ``"expired"`` (its query was cancelled or timed out
            while it was queued) or ``"failed"`` (its one-way handler raised).
        target: the agent it was for.
        sender: the sending agent's name; None when sent from outside any agent.
        message_id: the mesh's id of the message; None when none was assigned.
        request_id: the query's request id; None for one-way messages.
        detail: a short explanation (for ``"failed"``: ``"TypeName: message"``).
        time: when it was recorded (seconds since the epoch, as ``time.time()``).
    """

    reason: DeadLetterReason
    target: str
    sender: str | None
    message_id: int | None
    request_id: int | None
    detail: str
    time: float


logger = logging.getLogger("serendip.dead_letters")

# How each reason is logged: a message nobody could take is a warning; drops and expiries are
# what an overflow policy or a deadline asked for.
_LEVELS: dict[str, int] = {
    "unknown_target": logging.WARNING,
    "dropped": logging.INFO,
    "expired": logging.INFO,
    "failed": logging.ERROR,
}


def letters_of(rows: list[tuple[str, str, str, int, int, str, float]]) -> list[DeadLetter]:
    """The native log's rows as DeadLetters (empty strings and zero ids become None)."""
    return [
        DeadLetter(cast(DeadLetterReason, reason), target, sender or None, mid or None,
                   rid or None, detail, when)
        for reason, target, sender, mid, rid, detail, when in rows
    ]


class DeadLetterForwarder:
    """Logs the mesh's dead letters on the ``serendip.dead_letters`` logger as they appear.

    Threading rules 1 and 3: whoever records a dead letter (a scheduler worker included) only
    completes a waiter; this forwarder's task, on a loop, reads the native log and calls
    ``logging``. Records carry ``agent`` (the target), ``message_id``, ``request_id`` and
    ``reason`` attributes. Failed one-way messages of Python agents are logged by their runner
    (with the traceback), so ``logged_elsewhere`` lets them be skipped here.
    """

    def __init__(self, core: _core.Mesh, logged_elsewhere: Callable[[DeadLetter], bool]) -> None:
        self._core = core
        self._logged_elsewhere = logged_elsewhere
        self._seen = 0
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """Starts the forwarding task on ``loop`` unless one is alive. Any thread."""
        if self._task is not None and not self._task.done():
            return
        if loop is running_loop():
            self._task = loop.create_task(self._run(), name="serendip:dead-letters")
        else:
            loop.call_soon_threadsafe(self.ensure_running, loop)

    async def _run(self) -> None:
        bridge = running_bridge()
        while True:
            rows, self._seen = self._core.dead_letters_since(self._seen)
            for letter in letters_of(rows):
                if not self._logged_elsewhere(letter):
                    _log(letter)
            if self._core.closed:
                return
            future, waiter, token = bridge.new_wait()
            try:
                # False: news arrived meanwhile (read it), or the mesh closed (checked above).
                if self._core.watch_dead_letters(self._seen, waiter):
                    await future
            finally:
                bridge.forget(token)


def _log(letter: DeadLetter) -> None:
    logger.log(
        _LEVELS[letter.reason],
        "dead letter for agent %r (%s)%s",
        letter.target,
        letter.reason,
        f": {letter.detail}" if letter.detail else "",
        extra={
            "agent": letter.target,
            "message_id": letter.message_id,
            "request_id": letter.request_id,
            "reason": letter.reason,
        },
    )
