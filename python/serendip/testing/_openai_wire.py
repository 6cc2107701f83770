"""serendip.testing._openai_wire: an answer as an OpenAI chat completion, JSON or SSE chunks.

Non-stream: one ``chat.completion`` with ``choices[0].message`` (``tool_calls`` carry their
arguments as a JSON string) and ``usage``. Stream: ``chat.completion.chunk`` events, one
``data: {...}`` each: the role, one per text piece, per tool call one opening delta (index, id,
name) then its argument fragments, a last chunk with ``finish_reason``, a usage chunk (empty
``choices``) only when ``stream_options.include_usage`` asks, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._scripted_server import Answer, AnswerCall

TOOL_ID_PREFIX: Final = "call_"
STREAM_CONTENT_TYPE: Final = "text/event-stream"


def streams(body: Mapping[str, Any]) -> bool:
    """OpenAI streams only when asked."""
    return body.get("stream") is True


def response(answer: Answer) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": _content(answer), "refusal": None}
    if answer.calls:
        message["tool_calls"] = [_tool_call(call, call.arguments_json) for call in answer.calls]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish}
    return {**_envelope(answer, "chat.completion"), "choices": [choice], "usage": _usage(answer)}


def stream(answer: Answer) -> list[bytes]:
    """The SSE events of a streamed completion, ``data: [DONE]`` last."""
    chunk = _Chunks(answer)
    role_content = None if _content(answer) is None else ""  # the text follows in pieces
    events = [chunk({"role": "assistant", "content": role_content})]
    events += [chunk({"content": piece}) for piece in answer.pieces]
    for index, call in enumerate(answer.calls):
        events.append(chunk({"tool_calls": [{"index": index, **_tool_call(call, "")}]}))
        events += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            for fragment in call.fragments
        ]
    events.append(chunk({}, answer.finish))
    if chunk.with_usage:
        last = {"choices": [], "usage": _usage(answer)}
        events.append(_sse(json.dumps({**_envelope(answer, "chat.completion.chunk"), **last})))
    events.append(_sse("[DONE]"))
    return events


def broken_stream(answer: Answer) -> list[bytes]:
    """The role chunk, then a content chunk cut in half; no ``[DONE]``."""
    whole = json.dumps(_Chunks(answer).payload({"content": answer.text}, None))
    return stream(answer)[:1] + [_sse(whole[: len(whole) // 2])]


def error(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error object for ``status``."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Chunks:
    """Makes the ``chat.completion.chunk`` events of one answer."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        options = answer.request.get("stream_options")
        self.with_usage = isinstance(options, dict) and options.get("include_usage") is True

    def __call__(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(json.dumps(self.payload(delta, finish)))

    def payload(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload = {**_envelope(self._answer, "chat.completion.chunk"), "choices": [choice]}
        if self.with_usage:
            payload["usage"] = None  # under include_usage every chunk has the key, null until last
        return payload


def _content(answer: Answer) -> str | None:
    return None if answer.calls and not answer.text else answer.text  # tool calls alone: null


def _tool_call(call: AnswerCall, arguments: str) -> dict[str, Any]:
    function = {"name": call.name, "arguments": arguments}
    return {"id": call.id, "type": "function", "function": function}


def _envelope(answer: Answer, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{answer.serial}",
        "object": kind,
        "created": int(answer.created),
        "model": answer.model,
    }


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.usage
    total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()
