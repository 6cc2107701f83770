"""Conversations of an LLM agent: bounded histories, one per conversation key.

A history holds messages in the native client's tuple shape, ready to send without conversion:
``(role, text, tool_calls, tool_call_id, tool_name, is_error)`` with ``tool_calls`` a list of
``(id, name, arguments JSON)`` or None. ``ChatMessage`` is the public view of one.

Calls on one conversation may run at once: each reads the history when it starts and appends
its whole exchange (question, tool rounds, answer) when it ends, under the lock, so exchanges
never interleave. Thread-safe: sync callers run in their own threads.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from typing import Any, Final, Literal

from ._llm_client import LlmToolCall

__all__ = ["ChatMessage", "Conversations", "MessageTuple", "ROLE_ASSISTANT", "ROLE_TOOL", "ROLE_USER"]

Role = Literal["system", "user", "assistant", "tool"]
MessageTuple = tuple[int, str, list[tuple[str, str, str]] | None, str, str, bool]

ROLE_USER: Final = 1
ROLE_ASSISTANT: Final = 2
ROLE_TOOL: Final = 3
_ROLES: Final[tuple[Role, ...]] = ("system", "user", "assistant", "tool")
_CHARS_PER_TOKEN: Final = 4  # the usual rough estimate; the core uses the same


@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation.

    ``role`` is who wrote it. An assistant message may carry ``tool_calls``; a tool message is
    the result of the call ``tool_call_id`` of the tool ``name`` (``is_error`` when it failed).
    """

    role: Role
    content: str
    tool_calls: tuple[LlmToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    is_error: bool = False

    @classmethod
    def of(cls, m: MessageTuple) -> ChatMessage:
        """The public view of a history entry."""
        role, text, calls, call_id, name, is_error = m
        tool_calls = tuple(
            LlmToolCall(i, n, _object_or_empty(a)) for i, n, a in (calls or ())
        )
        return cls(_ROLES[role], text, tool_calls, call_id, name, is_error)


def _object_or_empty(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tokens(m: MessageTuple) -> int:
    size = len(m[1]) + sum(len(n) + len(a) for _, n, a in (m[2] or ()))
    return size // _CHARS_PER_TOKEN + 1


class Conversations:
    """Histories by conversation key, each bounded in messages and (estimated) tokens, and at
    most ``max_conversations`` of them (the least recently used is forgotten first)."""

    def __init__(
        self, max_messages: int | None, max_tokens: int | None, max_conversations: int
    ) -> None:
        self._max_messages = max_messages
        self._max_tokens = max_tokens
        self._max_conversations = max_conversations
        self._histories: OrderedDict[str, list[MessageTuple]] = OrderedDict()
        self._lock = threading.Lock()

    def snapshot(self, key: str, *, touch: bool = True) -> list[MessageTuple]:
        """A copy of the history of ``key`` (empty for a new conversation); ``touch`` counts
        it as used (a call does, a mere read does not)."""
        with self._lock:
            history = self._histories.get(key)
            if history is None:
                return []
            if touch:
                self._histories.move_to_end(key)
            return list(history)

    def append(self, key: str, exchange: list[MessageTuple]) -> None:
        """Adds one call's messages at once, then trims the oldest to the bounds."""
        with self._lock:
            history = self._histories.setdefault(key, [])
            self._histories.move_to_end(key)
            history.extend(exchange)
            self._trim(history)
            while len(self._histories) > self._max_conversations:
                self._histories.popitem(last=False)

    def clear(self, key: str | None) -> None:
        """Forgets one conversation, or every one when ``key`` is None."""
        with self._lock:
            if key is None:
                self._histories.clear()
            else:
                self._histories.pop(key, None)

    def keys(self) -> list[str]:
        """The conversation keys, least recently used first."""
        with self._lock:
            return list(self._histories)

    def _trim(self, history: list[MessageTuple]) -> None:
        cut = 0
        if self._max_messages is not None and len(history) > self._max_messages:
            cut = len(history) - self._max_messages
        if self._max_tokens is not None:
            total = sum(_tokens(m) for m in history[cut:])
            while cut < len(history) and total > self._max_tokens:
                total -= _tokens(history[cut])
                cut += 1
        # A history starts at a question: never with a tool result or an assistant turn whose
        # question (or tool calls) was cut away, which providers reject.
        while cut < len(history) and history[cut][0] != ROLE_USER:
            cut += 1
        if cut:
            del history[:cut]
