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
    "MessageDropped",
    "RequestNotFound",
    "ActionNotFound",
    "ActionInputError",
    "NativeActionError",
    "LlmError",
    "LlmConfigError",
    "LlmHttpError",
    "LlmProviderError",
    "LlmProtocolError",
    "LlmTimeout",
    "LlmTransportError",
    "LlmResponseTooLarge",
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


class MessageDropped(MeshError):
    """The target's overflow policy dropped the query's message before it was handled."""


class RequestNotFound(MeshError, LookupError):
    """No submitted request with that id is pending or has a retained result."""


class ActionNotFound(MeshError, LookupError):
    """The agent has no action of that name."""


class ActionInputError(MeshError, ValueError):
    """An action's inputs do not match its schema. ``field`` names the offending input
    (dotted for nested values, empty when the inputs as a whole are wrong)."""

    def __init__(self, action: str, field: str, problem: str) -> None:
        where = f"input {field!r}" if field else "inputs"
        super().__init__(f"action {action!r}: {where}: {problem}")
        self.action = action
        self.field = field
        self.problem = problem


class NativeActionError(MeshError, RuntimeError):
    """A native action reported an error (its message is this error's), or answered with
    something that is not JSON."""


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


class LlmError(Exception):
    """Base class of the errors of LLM calls. Messages never contain an API key.

    ``provider`` and ``model`` name the endpoint; ``status`` is the last HTTP status (0 when no
    response arrived), ``attempts`` the HTTP attempts made (retries included) and
    ``provider_type`` the provider's own error type or code when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int = 0,
        attempts: int = 0,
        provider_type: str = "",
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.attempts = attempts
        self.provider_type = provider_type


class LlmConfigError(LlmError, ValueError):
    """A model string, provider, key or setting is unusable; raised before any request."""


class LlmHttpError(LlmError):
    """The provider answered with a non-2xx status (after any retries): ``status`` says which."""


class LlmProviderError(LlmError):
    """The provider answered with an error object (``provider_type`` holds its type)."""


class LlmProtocolError(LlmError):
    """The provider's answer was not the protocol's JSON or stream (malformed, cut short)."""


class LlmTimeout(LlmError, TimeoutError):
    """A connect, idle or total timeout passed before the provider answered."""


class LlmTransportError(LlmError, ConnectionError):
    """No answer: the connection was refused or reset, or DNS or TLS failed."""


class LlmResponseTooLarge(LlmError):
    """The provider's answer passed the response size limit."""
