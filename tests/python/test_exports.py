"""The public surface of ``serendip``: exactly these names, all presented as ``serendip.X``."""

from __future__ import annotations

import pytest

import serendip

PUBLIC = [
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

ERRORS = [
    "ActionInputError",
    "ActionNotFound",
    "AgentNotFound",
    "DuplicateAgent",
    "HandlerError",
    "MailboxFull",
    "MeshClosed",
    "NativeActionError",
    "MessageDropped",
    "QueryTimeout",
    "RequestNotFound",
]


def test_all_lists_exactly_the_public_names() -> None:
    assert serendip.__all__ == PUBLIC


def test_a_star_import_brings_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from serendip import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_says_it_lives_in_serendip(name: str) -> None:
    obj = getattr(serendip, name)
    assert obj.__module__ == "serendip"
    if isinstance(obj, type):
        assert repr(obj) == f"<class 'serendip.{name}'>"


@pytest.mark.parametrize("name", ERRORS)
def test_every_mesh_error_derives_from_mesh_error(name: str) -> None:
    assert issubclass(getattr(serendip, name), serendip.MeshError)


LLM_ERRORS = [
    "LlmConfigError",
    "LlmHttpError",
    "LlmProtocolError",
    "LlmProviderError",
    "LlmResponseTooLarge",
    "LlmTimeout",
    "LlmTransportError",
]


@pytest.mark.parametrize("name", LLM_ERRORS)
def test_every_llm_error_derives_from_llm_error(name: str) -> None:
    assert issubclass(getattr(serendip, name), serendip.LlmError)


def test_llm_errors_are_the_builtin_kinds_they_stand_for() -> None:
    assert issubclass(serendip.LlmConfigError, ValueError)
    assert issubclass(serendip.LlmTimeout, TimeoutError)
    assert issubclass(serendip.LlmTransportError, ConnectionError)
    assert not issubclass(serendip.LlmError, serendip.MeshError)


def test_mesh_error_is_an_ordinary_exception() -> None:
    assert issubclass(serendip.MeshError, Exception)
    assert not issubclass(serendip.MeshError, (LookupError, TimeoutError, ValueError))


def test_agent_not_found_is_a_lookup_error() -> None:
    assert issubclass(serendip.AgentNotFound, LookupError)


def test_query_timeout_is_a_timeout_error() -> None:
    assert issubclass(serendip.QueryTimeout, TimeoutError)
    with pytest.raises(TimeoutError):
        raise serendip.QueryTimeout("late")


def test_duplicate_agent_is_a_value_error() -> None:
    assert issubclass(serendip.DuplicateAgent, ValueError)


def test_a_handler_error_describes_the_remote_failure_as_text() -> None:
    error = serendip.HandlerError("calc", "ZeroDivisionError", "division by zero", "Traceback ...")
    assert error.agent == "calc"
    assert error.remote_type == "ZeroDivisionError"
    assert error.remote_message == "division by zero"
    assert error.remote_traceback == "Traceback ..."
    assert str(error) == "agent 'calc' failed: ZeroDivisionError: division by zero"
