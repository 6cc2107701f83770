"""DeadLetter: the record of a message that reached no handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DeadLetter", "DeadLetterReason"]

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
