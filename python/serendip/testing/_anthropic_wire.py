"""serendip.testing._anthropic_wire: an answer as an Anthropic Messages response, JSON or SSE.

Non-stream: one ``message`` whose ``content`` is a text block (unless the answer is tool calls
alone) followed by ``tool_use`` blocks, with ``stop_reason`` and ``usage``. Stream, each event as
``event: NAME`` + ``data: {...}``: ``message_start``, a ``ping`` (the real API sends them, so
clients must skip events they do not use), per block ``content_block_start``, its
``content_block_delta`` events (``text_delta`` pieces, or ``input_json_delta`` fragments of the
tool input) and ``content_block_stop``, then ``message_delta`` (stop reason, output tokens) and
``message_stop``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._scripted_server import Answer

TOOL_ID_PREFIX: Final = "toolu_"
STREAM_CONTENT_TYPE: Final = "text/event-stream"

_STOP_REASONS: Final = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def streams(body: Mapping[str, Any]) -> bool:
    """Anthropic streams only when asked."""
    return body.get("stream") is True


def response(answer: Answer) -> dict[str, Any]:
    """The non-stream ``message`` object."""
    blocks: list[dict[str, Any]] = []
    if _has_text(answer):
        blocks.append({"type": "text", "text": answer.text})
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in answer.calls
    ]
    prompt, completion = answer.usage
    return {
        **_message(answer),
        "content": blocks,
        "stop_reason": _STOP_REASONS[answer.finish],
        "usage": {"input_tokens": prompt, "output_tokens": completion},
    }


def stream(answer: Answer) -> list[bytes]:
    """The SSE events of a streamed message, ``message_stop`` last."""
    prompt, completion = answer.usage
    start = {
        **_message(answer),
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": prompt, "output_tokens": 0},
    }
    events = [_event("message_start", {"message": start}), _event("ping", {})]
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if _has_text(answer):
        text_deltas = [{"type": "text_delta", "text": piece} for piece in answer.pieces]
        blocks.append(({"type": "text", "text": ""}, text_deltas))
    for call in answer.calls:
        opening = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        json_deltas = [{"type": "input_json_delta", "partial_json": f} for f in call.fragments]
        blocks.append((opening, json_deltas))
    for index, (opening, deltas) in enumerate(blocks):
        events.append(_event("content_block_start", {"index": index, "content_block": opening}))
        events += [_event("content_block_delta", {"index": index, "delta": d}) for d in deltas]
        events.append(_event("content_block_stop", {"index": index}))
    delta = {"stop_reason": _STOP_REASONS[answer.finish], "stop_sequence": None}
    events.append(_event("message_delta", {"delta": delta, "usage": {"output_tokens": completion}}))
    events.append(_event("message_stop", {}))
    return events


def broken_stream(answer: Answer) -> list[bytes]:
    """``message_start``, then a ``content_block_start`` whose data is cut in half."""
    block = {"index": 0, "content_block": {"type": "text", "text": ""}}
    whole = json.dumps({"type": "content_block_start", **block})
    return stream(answer)[:1] + [_frame("content_block_start", whole[: len(whole) // 2])]


def error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error object for ``status``."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _has_text(answer: Answer) -> bool:
    return bool(answer.text) or not answer.calls


def _message(answer: Answer) -> dict[str, Any]:
    return {
        "id": f"msg_{answer.serial}",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "stop_sequence": None,
    }


def _event(name: str, fields: Mapping[str, Any]) -> bytes:
    return _frame(name, json.dumps({"type": name, **fields}))


def _frame(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()
