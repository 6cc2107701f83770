"""Agent: the base class users subclass to receive messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["Agent"]


class Agent:
    """A named participant of a mesh with a bounded mailbox.

    Override ``on_message(self, message, ctx)`` as a plain ``def`` or an ``async def``; its
    return value is the reply to a ``query``. Handlers run on the agent's *home loop*: the
    asyncio loop running when the agent was added to the mesh, or else the mesh's own
    background loop. So a handler may share asyncio objects with the code on that loop.

    Optional hooks ``on_start(self, ctx)`` and ``on_stop(self, ctx)`` (sync or async) run on
    the home loop when the agent joins and leaves the mesh.

    Args:
        name: unique within a mesh.
        max_concurrency: how many ``async`` handler invocations may run at once. 1 (the
            default) handles messages strictly one at a time, in mailbox order, even while
            a handler awaits. Plain ``def`` handlers always run one at a time.
        mailbox_size: messages that may wait in the mailbox; beyond that, senders wait
            (``send_to``), block (``send_to_sync``) or get ``MailboxFull`` (``send_to_nowait``).
    """

    def __init__(self, name: str, *, max_concurrency: int = 1, mailbox_size: int = 1024) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("an agent's name must be a non-empty str")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if mailbox_size < 1:
            raise ValueError("mailbox_size must be at least 1")
        self._name = name
        self.max_concurrency = max_concurrency
        self.mailbox_size = mailbox_size

    @property
    def name(self) -> str:
        """The agent's name, unique within its mesh."""
        return self._name

    def on_message(self, message: Any, ctx: Context) -> Any:
        """Handles one message; the return value answers a query. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must override on_message")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"
