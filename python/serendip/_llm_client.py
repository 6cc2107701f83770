"""One chat completion through the native LLM client, awaited on a loop or waited for in a thread.

The process has one ``_core.LlmClient``: one native I/O thread runs every agent's HTTP
requests (libcurl multi), parses the answers and completes a waiter. An awaiting caller's
waiter belongs to its loop's bridge, so the answer arrives like any mesh reply; a blocking
caller's is a ``BlockingWaiter``. Nothing here runs on the I/O thread.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import threading
from collections.abc import AsyncIterator
from typing import Any, Final, Literal

from . import _core
from ._bridge import running_bridge
from ._errors import (
    LlmError,
    LlmHttpError,
    LlmProtocolError,
    LlmProviderError,
    LlmResponseTooLarge,
    LlmTimeout,
    LlmTransportError,
)

__all__ = ["CallOptions", "Completion", "LlmToolCall", "Usage", "chat", "chat_stream", "chat_sync", "client", "set_limits"]

FinishReason = Literal["stop", "tool_calls", "length", "other"]

_FAILURES: Final[dict[str, type[LlmError]]] = {
    "LlmHttpError": LlmHttpError,
    "LlmProviderError": LlmProviderError,
    "LlmProtocolError": LlmProtocolError,
    "LlmTimeout": LlmTimeout,
    "LlmTransportError": LlmTransportError,
    "LlmResponseTooLarge": LlmResponseTooLarge,
}
_TEXT_DELTA: Final = 0  # StreamEventKind::text_delta
_WAIT_SLICE: Final = 0.25  # a blocked thread wakes this often to notice Ctrl-C


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Tokens spent, as the provider reported them; ``estimated`` when it reported none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LlmToolCall:
    """A tool call the model asked for. ``arguments`` is the decoded JSON object; when the
    model wrote something else, it is ``{}``, ``raw_arguments`` keeps the text and
    ``arguments_error`` says what is wrong."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    arguments_error: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer to one request."""

    text: str
    tool_calls: tuple[LlmToolCall, ...]
    finish_reason: FinishReason
    raw_finish_reason: str
    usage: Usage
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True)
class CallOptions:
    """How one agent calls its model: everything but the messages."""

    endpoint: _core.LlmEndpoint
    system: str
    tools: _core.LlmTools | None
    temperature: float | None
    max_tokens: int | None
    limit_keys: list[str]
    timeout: float
    max_attempts: int
    max_response_bytes: int
    stats: _core.LlmStats | None


_client: _core.LlmClient | None = None
_client_lock = threading.Lock()


def client() -> _core.LlmClient:
    """The process's native LLM client, started on first use and closed at exit."""
    global _client
    with _client_lock:
        if _client is None:
            _client = _core.LlmClient()
            atexit.register(_client.close)
        return _client


def set_limits(
    key: str, *, max_concurrency: int = 0, requests_per_minute: int = 0, tokens_per_minute: int = 0
) -> None:
    """Limits of one rate-limiter key (0 = unlimited); calls over them wait, never fail."""
    for name, value in (
        ("max_concurrency", max_concurrency),
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ):
        if value < 0:
            raise ValueError(f"{name} must be 0 (unlimited) or more")
    client().set_limits(key, max_concurrency, requests_per_minute, tokens_per_minute)


def _completion(payload: tuple[Any, ...]) -> Completion:
    text, calls, finish, raw_finish, prompt, completion, estimated, attempts = payload
    tool_calls = []
    for call_id, name, args, error in calls:
        if error:
            tool_calls.append(LlmToolCall(call_id, name, {}, args, error))
        else:
            tool_calls.append(LlmToolCall(call_id, name, json.loads(args)))
    return Completion(
        text, tuple(tool_calls), finish, raw_finish, Usage(prompt, completion, estimated), attempts
    )


def _result(outcome: tuple[int, Any, str, str], options: CallOptions) -> Completion:
    """The completion carried by ``outcome``, or the LlmError it stands for."""
    status, payload, error_type, message = outcome
    if status == _core.STATUS_OK:
        return _completion(payload)
    provider, model = options.endpoint.provider, options.endpoint.model
    if status == _core.STATUS_ERROR:
        http_status, attempts, provider_type = payload
        raise _FAILURES.get(error_type, LlmError)(
            f"{provider}::{model}: {message}",
            provider=provider,
            model=model,
            status=http_status,
            attempts=attempts,
            provider_type=provider_type,
        )
    if status == _core.STATUS_CANCELLED:
        raise asyncio.CancelledError()
    raise LlmError(message or "the LLM client closed", provider=provider, model=model)


def _start(done: _core.Waiter, messages: list[tuple[Any, ...]], o: CallOptions) -> int:
    return client().chat(
        done, o.endpoint, o.system, messages, o.tools, o.temperature, o.max_tokens,
        o.limit_keys, o.timeout, o.max_attempts, o.max_response_bytes, o.stats,
    )


async def chat(messages: list[tuple[Any, ...]], options: CallOptions) -> Completion:
    """Runs one call, awaited on the running loop. Cancelling the await cancels the call."""
    bridge = running_bridge()
    future, waiter, token = bridge.new_wait()
    call_id = _start(waiter, messages, options)
    try:
        outcome = await future
    except asyncio.CancelledError:
        bridge.forget(token)
        client().cancel(call_id)
        raise
    return _result(outcome, options)


def chat_sync(messages: list[tuple[Any, ...]], options: CallOptions) -> Completion:
    """Runs one call, blocking this thread (never a loop's: use ``chat`` there)."""
    waiter = _core.BlockingWaiter()
    call_id = _start(waiter, messages, options)
    try:
        while not waiter.wait(_WAIT_SLICE):
            pass
    except BaseException:
        client().cancel(call_id)  # Ctrl-C: the call stops too
        raise
    return _result(waiter.result(), options)


async def chat_stream(
    messages: list[tuple[Any, ...]], options: CallOptions, sink: list[Completion]
) -> AsyncIterator[str]:
    """Runs one streamed call: yields text pieces as they arrive, then appends the assembled
    completion to ``sink``. Leaving the iteration early cancels the call."""
    bridge = running_bridge()
    stream = _core.LlmStream()
    call_id = _start(stream, messages, options)
    ended = False
    try:
        while True:
            events, end = stream.take()
            for kind, text, *_ in events:
                if kind == _TEXT_DELTA and text:
                    yield text
            if end is not None:
                ended = True
                sink.append(_result(end, options))
                return
            future, waiter, token = bridge.new_wait()
            if stream.arm(waiter):
                try:
                    await future
                except asyncio.CancelledError:
                    bridge.forget(token)
                    raise
            else:
                bridge.forget(token)
    finally:
        if not ended:
            client().cancel(call_id)
