"""The exceptions serendip raises. All are importable from ``serendip``."""

from __future__ import annotations

import traceback

__all__ = [
    "MeshError",
    "AgentNotFound",
    "DuplicateAgent",
    "MeshClosed",
    "MailboxFull",
    "QueryTimeout",
    "HandlerError",
]


class MeshError(Exception):
    """Base class of the mesh's own errors."""


class AgentNotFound(MeshError, LookupError):
    """No agent of that name is registered in the mesh."""


class DuplicateAgent(MeshError, ValueError):
    """An agent of that name is already registered in the mesh."""


class MeshClosed(MeshError):
    """The mesh is closed (or closing), or was inherited across ``fork()``."""


class MailboxFull(MeshError):
    """The target's mailbox is at capacity (raised by the ``*_nowait`` calls)."""


class QueryTimeout(MeshError, TimeoutError):
    """A query's deadline passed before the target answered."""


class HandlerError(MeshError):
    """The target's handler raised instead of answering.

    In-process, ``__cause__`` is the original exception. ``remote_type``, ``remote_message``
    and ``remote_traceback`` describe it as text, which is all a caller in another process
    would get.
    """

    def __init__(
        self, agent: str, remote_type: str, remote_message: str, remote_traceback: str = ""
    ) -> None:
        super().__init__(f"agent {agent!r} failed: {remote_type}: {remote_message}")
        self.agent = agent
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback

    @classmethod
    def from_exception(cls, agent: str, exc: BaseException) -> HandlerError:
        """The error a caller sees for ``exc`` raised by ``agent``'s handler, chained to it."""
        error = cls(
            agent,
            type(exc).__qualname__,
            str(exc),
            "".join(traceback.format_exception(exc)),
        )
        error.__cause__ = exc
        return error
