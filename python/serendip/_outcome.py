"""How the end of a request becomes a return value or an exception (shared by both twins)."""

from __future__ import annotations

import asyncio
from typing import Any

from . import _core
from ._errors import AgentNotFound, HandlerError, MeshClosed, MessageDropped, QueryTimeout

__all__ = ["unwrap"]


def unwrap(outcome: tuple[int, Any, str, str], target: str) -> Any:
    """The reply carried by ``outcome``, or the exception its status stands for."""
    status, payload, error_type, message = outcome
    if status == _core.STATUS_OK:
        return payload
    if status == _core.STATUS_ERROR:
        if isinstance(payload, BaseException):
            raise HandlerError.from_exception(target, payload)
        raise HandlerError(target, error_type or "Error", message)
    if status == _core.STATUS_TIMEOUT:
        raise QueryTimeout(f"no reply from agent {target!r} before the deadline")
    if status == _core.STATUS_NOT_FOUND:
        raise AgentNotFound(f"agent {target!r} left the mesh before answering")
    if status == _core.STATUS_DROPPED:
        raise MessageDropped(message or f"agent {target!r} dropped the query: its mailbox was full")
    if status == _core.STATUS_CANCELLED:
        raise asyncio.CancelledError()
    raise MeshClosed(message or "the mesh closed")

