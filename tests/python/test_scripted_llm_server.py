"""serendip.testing.ScriptedLLMServer: the three wire formats, faults, recording, concurrency.

Every test talks to the real server over loopback with the standard library (``http.client``,
raw sockets, asyncio streams) and parses what came back the way a client would.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from serendip.testing import Fault, RecordedRequest, Reply, ScriptedLLMServer, ToolCall

from _support import SAFETY

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
OLLAMA = "/api/chat"
PROMPT = "What is the weather in Paris"  # six words: the default prompt token count


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as uut:
        yield uut


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "test-model", "messages": [{"role": "user", "content": PROMPT}], **extra}


def post(
    server: ScriptedLLMServer, path: str, body: dict[str, Any] | bytes, **headers: str
) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=SAFETY)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request(
            "POST", path, body=data, headers={"content-type": "application/json", **headers}
        )
        response = conn.getresponse()
        return Response(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def port(server: ScriptedLLMServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def sse(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per server-sent event."""
    events = []
    for block in body.decode().split("\n\n"):
        if block:
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append((fields.get("event"), fields["data"]))
    return events


def openai_chunks(response: Response) -> list[dict[str, Any]]:
    """The JSON chunks of an OpenAI stream, checked to end with ``[DONE]``."""
    events = sse(response.body)
    assert events[-1] == (None, "[DONE]")
    return [json.loads(data) for _, data in events[:-1]]


def ndjson(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]


def user_text(request: RecordedRequest) -> str:
    content: str = request.json["messages"][-1]["content"]
    return content


# -- OpenAI --


def test_an_openai_answer_carries_message_finish_reason_and_word_counted_usage(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("It is sunny in Paris."))
    response = post(server, OPENAI, chat())
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "test-model"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "It is sunny in Paris.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}


def test_an_openai_stream_sends_role_text_pieces_finish_and_done_in_order(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("It is  sunny"))
    response = post(server, OPENAI, chat(stream=True))
    assert response.headers["content-type"] == "text/event-stream"
    chunks = openai_chunks(response)
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "It"},
        {"content": " is"},
        {"content": "  sunny"},
        {},
    ]
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None] * 4 + ["stop"]
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]}
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert not any("usage" in chunk for chunk in chunks)


def test_an_openai_stream_ends_with_a_usage_chunk_only_when_include_usage_asks(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("Sunny."))
    response = post(server, OPENAI, chat(stream=True, stream_options={"include_usage": True}))
    *chunks, last = openai_chunks(response)
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7}
    assert all(chunk["usage"] is None for chunk in chunks)


def test_openai_parallel_tool_calls_get_generated_ids_and_json_string_arguments(
    server: ScriptedLLMServer,
) -> None:
    calls = [ToolCall("weather", {"city": "Paris"}), ToolCall("time", {"tz": "Europe/Paris"})]
    server.script(Reply(tool_calls=calls))
    body = post(server, OPENAI, chat()).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    got = choice["message"]["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in got] == [
        ("call_1", "function", "weather"),
        ("call_2", "function", "time"),
    ]
    assert [json.loads(c["function"]["arguments"]) for c in got] == [c.arguments for c in calls]
    assert body["usage"]["completion_tokens"] == 2  # one per tool call


def test_openai_streamed_tool_call_deltas_reassemble_into_the_json_arguments(
    server: ScriptedLLMServer,
) -> None:
    arguments: list[dict[str, Any]] = [
        {"city": "Zürich", "units": ["metric", "kelvin"]},
        {"q": 'a "quoted" word'},
    ]
    server.script(
        Reply(
            "Checking.",
            tool_calls=[
                ToolCall("weather", arguments[0], id="mine"),
                ToolCall("search", arguments[1]),
            ],
        )
    )
    chunks = openai_chunks(post(server, OPENAI, chat(stream=True)))
    calls: dict[int, dict[str, Any]] = {}
    fragments = 0
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
            call = calls.setdefault(delta["index"], {"arguments": ""})
            if "id" in delta:
                call.update(id=delta["id"], name=delta["function"]["name"])
            call["arguments"] += delta["function"]["arguments"]
            fragments += 1
    assert fragments > 2 * len(arguments)  # arguments really arrive in several pieces
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("mine", "weather", arguments[0]),
        ("call_1", "search", arguments[1]),
    ]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Checking."
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_any_path_ending_in_chat_completions_speaks_openai(server: ScriptedLLMServer) -> None:
    server.script(Reply("Hi."))
    path = "/openai/deployments/gpt/chat/completions?api-version=2024-06-01"
    response = post(server, path, chat(), **{"api-key": "azure-key"})
    assert response.json()["choices"][0]["message"]["content"] == "Hi."
    [recorded] = server.requests
    assert (recorded.protocol, recorded.path) == ("openai", path)
    assert recorded.headers["api-key"] == "***"
    assert server.saw_api_key("azure-key")


# -- Anthropic --


def test_an_anthropic_message_has_text_and_tool_use_blocks_stop_reason_and_usage(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("Let me check.", tool_calls=[ToolCall("weather", {"city": "Paris"})]))
    request = chat(system="You are terse.", max_tokens=100)
    headers = {"x-api-key": "ant-key", "anthropic-version": "2023-06-01"}
    body = post(server, ANTHROPIC, request, **headers).json()
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
    ]
    assert body["stop_reason"] == "tool_use"
    assert body["usage"] == {"input_tokens": 6 + 3, "output_tokens": 3 + 1}
    [recorded] = server.requests
    assert recorded.protocol == "anthropic"
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.headers["x-api-key"] == "***"


def test_an_anthropic_stream_sends_its_events_in_order_and_they_reassemble(
    server: ScriptedLLMServer,
) -> None:
    arguments = {"city": "Paris", "days": [1, 2, 3]}
    server.script(Reply("Let me check.", tool_calls=[ToolCall("weather", arguments)]))
    response = post(server, ANTHROPIC, chat(stream=True, max_tokens=100))
    assert response.headers["content-type"] == "text/event-stream"
    events = [(name, json.loads(data)) for name, data in sse(response.body)]
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    text_deltas = names.index("content_block_stop") - 3
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[3 : 3 + text_deltas] == ["content_block_delta"] * text_deltas
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    blocks: dict[int, dict[str, Any]] = {}
    for name, data in events:
        if name == "content_block_start":
            blocks[data["index"]] = {**data["content_block"], "text": "", "json": ""}
        elif name == "content_block_delta":
            delta = data["delta"]
            block = blocks[data["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                block["json"] += delta["partial_json"]
    assert blocks[0]["type"] == "text" and blocks[0]["text"] == "Let me check."
    assert (blocks[1]["type"], blocks[1]["id"], blocks[1]["name"]) == (
        "tool_use",
        "toolu_1",
        "weather",
    )
    assert json.loads(blocks[1]["json"]) == arguments
    start, delta = events[0][1], events[-2][1]
    assert start["message"]["usage"]["input_tokens"] == 6
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"] == {"output_tokens": 4}


# -- Ollama --


def test_ollama_streams_ndjson_by_default_with_the_counts_on_the_done_line(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("It is sunny.", tool_calls=[ToolCall("weather", {"city": "Paris"})]))
    response = post(server, OLLAMA, chat())
    assert response.headers["content-type"] == "application/x-ndjson"
    *lines, last = ndjson(response.body)
    assert not any(line["done"] for line in lines)
    assert "".join(line["message"]["content"] for line in lines) == "It is sunny."
    assert [
        line["message"].get("tool_calls") for line in lines if "tool_calls" in line["message"]
    ] == [[{"function": {"name": "weather", "arguments": {"city": "Paris"}}}]]
    assert last["done"] is True
    assert last["done_reason"] == "stop"
    assert (last["prompt_eval_count"], last["eval_count"]) == (6, 4)
    assert last["model"] == "test-model"


def test_ollama_answers_one_object_when_stream_is_false(server: ScriptedLLMServer) -> None:
    server.script(Reply(tool_calls=[ToolCall("weather", {"city": "Paris"}), ToolCall("time", {})]))
    body = post(server, OLLAMA, chat(stream=False)).json()
    assert body["message"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "time", "arguments": {}}},
        ],
    }
    assert body["done"] is True
    assert (body["prompt_eval_count"], body["eval_count"]) == (6, 2)


# -- one Reply, every protocol --


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (OPENAI, lambda b: b["choices"][0]["finish_reason"]),
        (ANTHROPIC, lambda b: b["stop_reason"]),
        (OLLAMA, lambda b: b["done_reason"]),
    ],
    ids=["openai", "anthropic", "ollama"],
)
def test_a_length_finish_is_reported_in_each_protocols_words(
    server: ScriptedLLMServer, path: str, reason: Any
) -> None:
    server.script(Reply("It is", finish="length"))
    body = post(server, path, chat(stream=False)).json()
    assert reason(body) == {OPENAI: "length", ANTHROPIC: "max_tokens", OLLAMA: "length"}[path]


def test_turns_are_taken_in_order_whatever_protocol_asks(server: ScriptedLLMServer) -> None:
    server.script(Reply("one"), Reply("two"), Reply("three"))
    assert post(server, OPENAI, chat()).json()["choices"][0]["message"]["content"] == "one"
    assert post(server, ANTHROPIC, chat()).json()["content"][0]["text"] == "two"
    assert post(server, OLLAMA, chat(stream=False)).json()["message"]["content"] == "three"


def test_explicit_usage_and_chunks_are_sent_as_given(server: ScriptedLLMServer) -> None:
    server.script(Reply("Hello", chunks=["Hel", "lo"], usage=(100, 7)))
    response = post(server, OPENAI, chat(stream=True, stream_options={"include_usage": True}))
    *chunks, last = openai_chunks(response)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == ["Hel", "lo"]
    assert last["usage"] == {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}


def test_a_reply_refuses_chunks_that_do_not_join_to_its_text() -> None:
    with pytest.raises(ValueError, match="join"):
        Reply("Hello", chunks=["Hel", "p"])


# -- faults --


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (OPENAI, lambda b: b["error"]["code"]),
        (ANTHROPIC, lambda b: b["error"]["type"]),
        (OLLAMA, lambda b: b["error"]),
    ],
    ids=["openai", "anthropic", "ollama"],
)
def test_a_fault_answers_its_status_with_the_protocols_error_and_retry_after(
    server: ScriptedLLMServer, path: str, error: Any
) -> None:
    server.script(Fault(429, retry_after=3))
    response = post(server, path, chat(stream=True))
    assert response.status == 429
    assert response.headers["retry-after"] == "3"
    expected = {
        OPENAI: "rate_limit_exceeded",
        ANTHROPIC: "rate_limit_error",
        OLLAMA: "scripted fault 429",
    }
    assert error(response.json()) == expected[path]


def test_an_anthropic_overload_is_a_529_overloaded_error(server: ScriptedLLMServer) -> None:
    server.script(Fault(529))
    response = post(server, ANTHROPIC, chat())
    assert response.status == 529
    assert response.json()["error"]["type"] == "overloaded_error"


def test_a_fault_sends_a_given_body_and_headers_as_they_are(server: ScriptedLLMServer) -> None:
    server.script(Fault(503, "upstream down", headers={"x-trace": "t1"}), Fault(400, {"oops": 1}))
    text = post(server, OPENAI, chat())
    assert (text.status, text.body, text.headers["x-trace"]) == (503, b"upstream down", "t1")
    assert text.headers["content-type"].startswith("text/plain")
    data = post(server, OPENAI, chat())
    assert (data.status, data.json()) == (400, {"oops": 1})


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, OLLAMA])
def test_a_malformed_answer_is_a_200_whose_body_is_not_json(
    server: ScriptedLLMServer, path: str
) -> None:
    server.script(Fault.malformed())
    response = post(server, path, chat(stream=False))
    assert response.status == 200
    assert response.body.startswith(b"{")
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
def test_a_malformed_sse_stream_breaks_after_one_good_event(
    server: ScriptedLLMServer, path: str
) -> None:
    server.script(Fault.malformed())
    response = post(server, path, chat(stream=True))
    assert response.status == 200
    [(_, good), (_, broken)] = sse(response.body)
    json.loads(good)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)


def test_a_malformed_ndjson_stream_breaks_after_one_good_line(server: ScriptedLLMServer) -> None:
    server.script(Fault.malformed())
    good, broken = post(server, OLLAMA, chat()).body.decode().splitlines()
    json.loads(good)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)


def test_an_oversized_answer_is_valid_and_larger_than_asked(server: ScriptedLLMServer) -> None:
    size = 3_000_000
    server.script(Fault.oversized(size), Fault.oversized(size))
    response = post(server, OPENAI, chat())
    assert len(response.body) > size
    assert response.json()["choices"][0]["message"]["content"] == "x" * size
    events = [
        json.loads(data) for name, data in sse(post(server, ANTHROPIC, chat(stream=True)).body)
    ]
    assert [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"] == [
        "x" * size
    ]


def test_a_stalled_request_times_out_on_the_client_until_stop_closes_it() -> None:
    uut = ScriptedLLMServer()
    uut.start()
    arrived = threading.Event()

    def stall(request: RecordedRequest) -> Fault:
        arrived.set()
        return Fault.stall()

    uut.script(stall)
    body = json.dumps(chat()).encode()
    head = f"POST {OPENAI} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port(uut)), timeout=SAFETY) as client:
        client.sendall(head.encode() + body)
        assert arrived.wait(SAFETY)
        assert uut.in_flight == 1
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(1)
        uut.stop()
        client.settimeout(SAFETY)
        assert client.recv(1) == b""  # closed without an answer
    assert uut.in_flight == 0


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, OLLAMA])
def test_an_exhausted_script_answers_500_in_the_protocols_error_shape(
    server: ScriptedLLMServer, path: str
) -> None:
    response = post(server, path, chat())
    assert response.status == 500
    assert "script exhausted" in json.dumps(response.json())


def test_the_default_turn_answers_once_the_script_is_empty(server: ScriptedLLMServer) -> None:
    server.script(Reply("scripted"))
    server.default = Reply("default")
    answers = [
        post(server, OPENAI, chat()).json()["choices"][0]["message"]["content"] for _ in "abc"
    ]
    assert answers == ["scripted", "default", "default"]


# -- callable turns --


def test_a_callable_turn_answers_from_the_recorded_request(server: ScriptedLLMServer) -> None:
    server.script(lambda request: Reply(f"you said: {user_text(request)}"))
    body = post(server, ANTHROPIC, chat()).json()
    assert body["content"][0]["text"] == f"you said: {PROMPT}"


def test_a_callable_turn_that_raises_answers_500_and_stop_raises_it() -> None:
    uut = ScriptedLLMServer()
    uut.start()

    def check(request: RecordedRequest) -> Reply:
        assert request.json["messages"][-1]["role"] == "tool", "expected a tool result"
        return Reply("ok")

    uut.script(check)
    response = post(uut, OPENAI, chat())
    assert response.status == 500
    assert "expected a tool result" in response.json()["error"]["message"]
    with pytest.raises(AssertionError, match="expected a tool result"):
        uut.stop()
    uut.stop()  # raised once; a second stop is quiet


# -- recording --


def test_requests_are_recorded_with_api_keys_redacted_and_only_hashed(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("a"), Reply("b"))
    post(server, OPENAI, chat(), authorization="Bearer sk-secret-1")
    post(server, OLLAMA, chat(stream=False))
    first, second = server.requests
    assert (first.protocol, first.path, first.json) == ("openai", OPENAI, chat())
    assert first.headers["authorization"] == "***"
    assert first.headers["content-type"] == "application/json"
    assert second.protocol == "ollama"
    assert first.time <= second.time
    assert server.saw_api_key("sk-secret-1")
    assert not server.saw_api_key("sk-secret-2")
    assert "sk-secret-1" not in repr(server.requests) + repr(vars(server))
    server.requests.clear()
    assert len(server.requests) == 2  # a copy


def test_other_paths_get_404_are_recorded_and_take_no_turn(server: ScriptedLLMServer) -> None:
    server.script(Reply("first"))
    conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=SAFETY)
    conn.request("GET", "/v1/models")
    assert conn.getresponse().status == 404
    conn.close()
    assert post(server, OPENAI, chat()).json()["choices"][0]["message"]["content"] == "first"
    assert [r.protocol for r in server.requests] == ["unknown", "openai"]


def test_a_body_that_is_not_json_gets_400_and_takes_no_turn(server: ScriptedLLMServer) -> None:
    server.script(Reply("first"))
    assert post(server, OPENAI, b"not json").status == 400
    assert post(server, OPENAI, chat()).json()["choices"][0]["message"]["content"] == "first"
    assert server.requests[0].json is None


# -- HTTP --


def test_keep_alive_serves_several_requests_on_one_connection(server: ScriptedLLMServer) -> None:
    server.script(Reply("one"), Reply("two", chunks=["t", "wo"]))
    conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=SAFETY)
    try:
        conn.request("POST", OPENAI, body=json.dumps(chat()))
        assert conn.getresponse().read()
        sock = conn.sock
        conn.request("POST", OPENAI, body=json.dumps(chat(stream=True)))
        streamed = conn.getresponse()
        assert streamed.getheader("transfer-encoding") == "chunked"
        assert b'"wo"' in streamed.read()
        assert conn.sock is sock
    finally:
        conn.close()


def test_a_chunked_request_body_is_read(server: ScriptedLLMServer) -> None:
    server.script(Reply("ok"))
    data = json.dumps(chat()).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=SAFETY)
    try:
        conn.request("POST", OPENAI, body=iter([data[:10], data[10:]]), encode_chunked=True)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert server.requests[0].json == chat()


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: ScriptedLLMServer) -> None:
    server.script(Reply("ok"))
    body = json.dumps(chat()).encode()
    head = (
        f"POST {OPENAI} HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port(server)), timeout=SAFETY) as client:
        client.sendall(head.encode())
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += client.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(body)
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")


# -- lifetime --


def test_a_server_starts_once_knows_its_url_before_and_stops_idempotently() -> None:
    uut = ScriptedLLMServer()
    assert uut.url.startswith("http://127.0.0.1:") and port(uut) > 0
    assert uut.openai_base_url == uut.url + "/v1"
    assert uut.anthropic_base_url == uut.url
    with uut, pytest.raises(RuntimeError, match="once"):
        uut.start()
    uut.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port(uut)), timeout=SAFETY)


def test_a_server_never_started_can_be_stopped() -> None:
    uut = ScriptedLLMServer()
    uut.stop()
    with pytest.raises(RuntimeError, match="once"):
        uut.start()


# In a subprocess: asyncio reports a connection task that ended cancelled through its logger,
# which pytest's log capture would swallow; a user's script would print it to stderr.
STOP_WITH_OPEN_CONNECTIONS = textwrap.dedent(
    """
    import http.client, json, socket, threading
    from serendip.testing import Fault, Reply, ScriptedLLMServer

    server = ScriptedLLMServer()
    server.start()
    stalled = threading.Event()
    server.script(Reply("hi"), lambda request: stalled.set() or Fault.stall())
    port = int(server.url.rsplit(":", 1)[1])
    body = json.dumps({"model": "m", "messages": []})
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    idle.request("POST", "/v1/chat/completions", body=body)
    print(idle.getresponse().read().decode().count("hi"))
    waiting = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = f"POST /v1/chat/completions HTTP/1.1\\r\\ncontent-length: {len(body)}\\r\\n\\r\\n"
    waiting.sendall((head + body).encode())
    assert stalled.wait(5)
    server.stop()
    print(repr(waiting.recv(1)))
    waiting.close()
    idle.close()
    """
)


def test_stop_with_an_idle_keep_alive_and_a_stalled_connection_writes_no_stderr() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", STOP_WITH_OPEN_CONNECTIONS],
        capture_output=True,
        text=True,
        timeout=10 * SAFETY,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == ["1", "b''"]


# -- concurrency --


async def request_over_asyncio(server: ScriptedLLMServer, payload: dict[str, Any]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port(server))
    body = json.dumps(payload).encode()
    head = f"POST {OPENAI} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response


@pytest.mark.asyncio
async def test_a_thousand_delayed_requests_are_answered_concurrently(
    server: ScriptedLLMServer,
) -> None:
    count = 1000
    server.default = lambda request: Reply(f"echo {user_text(request)}", delay=0.5)
    requests = [
        request_over_asyncio(server, chat(messages=[{"role": "user", "content": str(i)}]))
        for i in range(count)
    ]
    responses = await asyncio.wait_for(asyncio.gather(*requests), 10 * SAFETY)
    for i, response in enumerate(responses):
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert f'"content": "echo {i}"'.encode() in response
    assert server.max_in_flight >= 100
    assert server.in_flight == 0


@pytest.mark.asyncio
async def test_every_stalled_request_is_counted_in_flight_at_once() -> None:
    count = 300
    everyone_in = threading.Event()
    arrived = 0

    def stall(request: RecordedRequest) -> Fault:
        nonlocal arrived  # turns run on the server loop only: no lock needed
        arrived += 1
        if arrived == count:
            everyone_in.set()
        return Fault.stall()

    uut = ScriptedLLMServer()
    uut.default = stall
    uut.start()
    clients = [asyncio.ensure_future(request_over_asyncio(uut, chat())) for _ in range(count)]
    assert await asyncio.to_thread(everyone_in.wait, SAFETY)
    assert (uut.in_flight, uut.max_in_flight) == (count, count)
    await asyncio.to_thread(uut.stop)
    assert await asyncio.wait_for(asyncio.gather(*clients), SAFETY) == [b""] * count
    assert uut.in_flight == 0
