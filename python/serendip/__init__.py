"""serendip: an agent mesh with a C++20 engine.

Agents have names and bounded mailboxes; the mesh routes messages to them by name. A Python
agent's ``on_message`` may be a plain function or an ``async def``; every mesh operation can
be awaited or called through its ``*_sync`` twin from plain code.

This module is the only one users import. Layout: ``_core`` is the native engine (C++ via
nanobind); the underscore modules build the Python surface on it; this file re-exports it.
"""

from ._action import ActionSpec as ActionSpec
from ._action import action as action
from ._agent import Agent as Agent
from ._context import Context as Context
from ._dead_letter import DeadLetter as DeadLetter
from ._errors import ActionInputError as ActionInputError
from ._errors import ActionNotFound as ActionNotFound
from ._errors import AgentNotFound as AgentNotFound
from ._errors import DuplicateAgent as DuplicateAgent
from ._errors import HandlerError as HandlerError
from ._errors import LlmConfigError as LlmConfigError
from ._errors import LlmError as LlmError
from ._errors import LlmHttpError as LlmHttpError
from ._errors import LlmProtocolError as LlmProtocolError
from ._errors import LlmProviderError as LlmProviderError
from ._errors import LlmResponseTooLarge as LlmResponseTooLarge
from ._errors import LlmTimeout as LlmTimeout
from ._errors import LlmTransportError as LlmTransportError
from ._errors import MailboxFull as MailboxFull
from ._errors import MeshClosed as MeshClosed
from ._errors import NativeActionError as NativeActionError
from ._errors import MeshError as MeshError
from ._errors import MessageDropped as MessageDropped
from ._errors import QueryTimeout as QueryTimeout
from ._errors import RequestNotFound as RequestNotFound
from ._conversation import ChatMessage as ChatMessage
from ._llm_agent import LlmAgent as LlmAgent
from ._llm_agent import LlmReply as LlmReply
from ._llm_agent import set_provider_limits as set_provider_limits
from ._llm_client import LlmToolCall as LlmToolCall
from ._llm_client import Usage as Usage
from ._mesh import LocalMesh as LocalMesh
from ._react import ReActConfig as ReActConfig
from ._react import ReActResult as ReActResult
from ._react import ReActStep as ReActStep
from ._tracking import MeshRequest as MeshRequest
from ._tracking import MeshResult as MeshResult

__version__ = "0.1.0"

__all__ = [
    "ActionInputError",
    "ActionNotFound",
    "ActionSpec",
    "Agent",
    "AgentNotFound",
    "ChatMessage",
    "Context",
    "DeadLetter",
    "DuplicateAgent",
    "HandlerError",
    "LlmAgent",
    "LlmConfigError",
    "LlmError",
    "LlmHttpError",
    "LlmProtocolError",
    "LlmProviderError",
    "LlmReply",
    "LlmResponseTooLarge",
    "LlmTimeout",
    "LlmToolCall",
    "LlmTransportError",
    "LocalMesh",
    "MailboxFull",
    "MeshClosed",
    "MeshError",
    "MeshRequest",
    "MeshResult",
    "MessageDropped",
    "NativeActionError",
    "QueryTimeout",
    "ReActConfig",
    "ReActResult",
    "ReActStep",
    "RequestNotFound",
    "Usage",
    "action",
    "set_provider_limits",
]

# Tracebacks and reprs say serendip.Agent, not serendip._agent.Agent.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
