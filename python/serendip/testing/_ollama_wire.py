"""serendip.testing._ollama_wire: an answer as an Ollama ``/api/chat`` response, JSON or NDJSON.

Ollama streams unless the request says ``"stream": false``. Non-stream: one object with
``message`` (``tool_calls`` carry their arguments as an object), ``done: true``,
``done_reason`` and the counts ``prompt_eval_count`` / ``eval_count``. Stream: one line per text
piece with ``done: false``, one line with all the tool calls, and a last line with
``done: true``, the reason and the counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._scripted_server import Answer

TOOL_ID_PREFIX: Final = "call_"  # ids are never rendered: Ollama's tool calls carry none
STREAM_CONTENT_TYPE: Final = "application/x-ndjson"

_DONE_REASONS: Final = {"stop": "stop", "tool_calls": "stop", "length": "length"}


def streams(body: Mapping[str, Any]) -> bool:
    """Ollama streams unless told not to."""
    return body.get("stream", True) is not False


def response(answer: Answer) -> dict[str, Any]:
    """The non-stream answer: the whole message and the final counts."""
    return {**_line(answer, _message(answer, answer.text, with_calls=True)), **_final(answer)}


def stream(answer: Answer) -> list[bytes]:
    """The NDJSON lines of a streamed answer, the ``done: true`` line last."""
    lines = [_line(answer, _message(answer, piece, with_calls=False)) for piece in answer.pieces]
    if answer.calls:
        lines.append(_line(answer, _message(answer, "", with_calls=True)))
    lines.append({**_line(answer, _message(answer, "", with_calls=False)), **_final(answer)})
    return [_ndjson(line) for line in lines]


def broken_stream(answer: Answer) -> list[bytes]:
    """One good line, then a line cut in half."""
    whole = json.dumps(_line(answer, _message(answer, answer.text, with_calls=False)))
    return stream(answer)[:1] + [f"{whole[: len(whole) // 2]}\n".encode()]


def error(status: int, message: str) -> dict[str, Any]:
    """Ollama's error object (it has no error types)."""
    return {"error": message}


def _message(answer: Answer, content: str, *, with_calls: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if with_calls and answer.calls:
        message["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}} for call in answer.calls
        ]
    return message


def _line(answer: Answer, message: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromtimestamp(answer.created, UTC).isoformat()
    created = created.replace("+00:00", "Z")  # RFC 3339 with Z, as Ollama writes it
    return {"model": answer.model, "created_at": created, "message": message, "done": False}


def _final(answer: Answer) -> dict[str, Any]:
    prompt, completion = answer.usage
    return {
        "done": True,
        "done_reason": _DONE_REASONS[answer.finish],
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 0,
        "eval_count": completion,
        "eval_duration": 0,
    }


def _ndjson(line: Mapping[str, Any]) -> bytes:
    return f"{json.dumps(line)}\n".encode()
