"""LlmAgent when things go wrong: HTTP faults, retries, timeouts, bad answers, secrets, load.

The scripted server plays each failure for real over loopback; the tests check the error the
agent raises, what the server saw (attempts, keys) and the agent's ``llm_metrics()``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import serendip
from serendip import LlmAgent
from serendip.testing import Fault, Reply, ScriptedLLMServer

from _support import SAFETY, until

KEY = "sk-failures-SECRET-4242"
DEFAULT_LIMIT = 8 << 20  # LlmAgent's default max_response_bytes
ESTABLISHED = "01"  # a TCP state in /proc/net/tcp
# A closed connection's leftover, which may be one to an earlier test's server that had the
# same port: not a connection of the client under test.
TIME_WAIT = "06"


def agent(server: ScriptedLLMServer, **options: Any) -> LlmAgent:
    return LlmAgent(
        "bot", "openai::test-model", base_url=server.openai_base_url, api_key=KEY, **options
    )


def failed(a: LlmAgent) -> dict[str, int]:
    """The non-zero failure counters of ``a``."""
    counts: dict[str, int] = a.llm_metrics()["failed"]
    return {error: n for error, n in counts.items() if n}


def client_connections(server: ScriptedLLMServer) -> list[str]:
    """The TCP states (hex, as /proc/net/tcp has them) of the client sockets to the server,
    but for those left in TIME_WAIT."""
    port = int(server.url.rsplit(":", 1)[1])
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] != TIME_WAIT:
            states.append(fields[3])
    return states



# -- retries --


def test_a_429_is_retried_after_its_retry_after(server: ScriptedLLMServer) -> None:
    server.script(Fault(429, retry_after=1), Reply("Finally.", usage=(4, 1)))
    a = agent(server)
    reply = a.send_message_sync("hi")
    assert reply == "Finally."
    first, second = server.requests
    # A lower bound the client enforces (its own backoff before a first retry is at most 0.5 s).
    assert second.time - first.time >= 1.0
    metrics = a.llm_metrics()
    assert (metrics["calls"], metrics["succeeded"], metrics["retries"]) == (1, 1, 1)


def test_a_500_then_success_is_one_successful_call(server: ScriptedLLMServer) -> None:
    server.script(Fault(500), Reply("Recovered."))
    a = agent(server)
    assert a.send_message_sync("hi") == "Recovered."
    assert len(server.requests) == 2
    assert a.llm_metrics()["retries"] == 1 and failed(a) == {}


def test_a_5xx_on_every_attempt_is_an_http_error_with_the_attempts(
    server: ScriptedLLMServer,
) -> None:
    server.default = Fault(503)
    a = agent(server, max_attempts=2)
    with pytest.raises(serendip.LlmHttpError) as caught:
        a.send_message_sync("hi")
    assert (caught.value.status, caught.value.attempts) == (503, 2)
    assert "after 2 attempts" in str(caught.value)
    assert len(server.requests) == 2 and a.history() == []


def test_a_400_with_an_openai_error_body_is_not_retried(server: ScriptedLLMServer) -> None:
    body = {"error": {"message": "max_tokens is too large", "type": "invalid_request_error",
                      "param": "max_tokens", "code": None}}
    server.script(Fault(400, body))
    a = agent(server)
    with pytest.raises(serendip.LlmHttpError) as caught:
        a.send_message_sync("hi")
    error = caught.value
    assert (error.status, error.attempts, error.provider_type) == (400, 1, "invalid_request_error")
    assert (error.provider, error.model) == ("openai", "test-model")
    assert str(error) == "openai::test-model: HTTP 400: max_tokens is too large"
    assert len(server.requests) == 1


# -- answers that are not answers --


def test_a_stalled_server_times_out(server: ScriptedLLMServer) -> None:
    server.script(Fault.stall())
    a = agent(server, timeout=0.2)
    with pytest.raises(serendip.LlmTimeout) as caught:
        a.send_message_sync("hi")
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.status, caught.value.attempts) == (0, 1)  # the server may be working
    assert failed(a) == {"LlmTimeout": 1} and a.history() == []


def test_an_answer_over_the_size_limit_is_refused(server: ScriptedLLMServer) -> None:
    server.script(Fault.oversized(DEFAULT_LIMIT))  # the text alone fills the limit
    a = agent(server)
    with pytest.raises(serendip.LlmResponseTooLarge, match=str(DEFAULT_LIMIT)):
        a.send_message_sync("hi")
    assert failed(a) == {"LlmResponseTooLarge": 1}


def test_the_size_limit_is_the_agents_to_set(server: ScriptedLLMServer) -> None:
    server.script(Reply("x" * 5000), Fault.oversized(20_000), Fault.oversized(20_000))
    small = agent(server, max_response_bytes=20_000)
    assert small.send_message_sync("hi") == "x" * 5000
    with pytest.raises(serendip.LlmResponseTooLarge, match="20000"):
        small.send_message_sync("again")
    large = agent(server, max_response_bytes=30_000_000)
    assert large.send_message_sync("once more") == "x" * 20_000
    with pytest.raises(ValueError, match="max_response_bytes"):
        agent(server, max_response_bytes=0)


@pytest.mark.asyncio
async def test_a_streamed_answer_over_the_size_limit_is_refused(server: ScriptedLLMServer) -> None:
    server.script(Fault.oversized(20_000))
    a = agent(server, max_response_bytes=20_000)
    with pytest.raises(serendip.LlmResponseTooLarge):
        async for _ in a.stream("hi"):
            pass
    assert server.requests[0].json["stream"] is True


def test_malformed_json_is_a_protocol_error(server: ScriptedLLMServer) -> None:
    server.script(Fault.malformed())
    a = agent(server)
    with pytest.raises(serendip.LlmProtocolError, match="not JSON") as caught:
        a.send_message_sync("hi")
    assert (caught.value.status, caught.value.attempts) == (200, 1)
    assert failed(a) == {"LlmProtocolError": 1}


@pytest.mark.asyncio
async def test_a_malformed_stream_is_a_protocol_error(server: ScriptedLLMServer) -> None:
    server.script(Fault.malformed())
    a = agent(server)
    pieces = []
    with pytest.raises(serendip.LlmProtocolError):
        async for piece in a.stream("hi"):
            pieces.append(piece)
    assert pieces == [] and a.history() == []


def test_an_error_object_inside_a_200_is_a_provider_error(server: ScriptedLLMServer) -> None:
    server.script(Fault(200, {"error": {"message": "the model is overloaded",
                                        "type": "overloaded_error"}}))
    a = agent(server)
    with pytest.raises(serendip.LlmProviderError, match="the model is overloaded") as caught:
        a.send_message_sync("hi")
    assert (caught.value.status, caught.value.provider_type) == (200, "overloaded_error")
    assert failed(a) == {"LlmProviderError": 1}


def test_answer_parts_whose_type_is_not_a_string_are_skipped(server: ScriptedLLMServer) -> None:
    # Reading such a part's type as text threw a JSON type error on the client's I/O thread,
    # which ended the process.
    parts = [{"type": 1}, {"type": None}, {"type": "text", "text": "Hello."}]
    server.script(Fault(200, {"choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": parts}}]}))
    assert agent(server).send_message_sync("hi") == "Hello."


def test_an_answer_nested_too_deeply_is_a_protocol_error(server: ScriptedLLMServer) -> None:
    # The parser reads any depth; printing the value for the error recursed once per level
    # and overflowed the I/O thread's stack.
    depth = 100_000
    server.script(Fault(200, '{"error": ' + "[" * depth + "]" * depth + "}"))
    a = agent(server)
    with pytest.raises(serendip.LlmProtocolError, match="nested more than 256 levels deep"):
        a.send_message_sync("hi")
    assert failed(a) == {"LlmProtocolError": 1}


@pytest.mark.asyncio
async def test_an_error_body_that_is_not_utf8_is_an_http_error() -> None:
    # A proxy's Latin-1 error page: quoted in the error, its bytes failed the conversion to
    # str where the call's outcome was delivered, and the caller waited for good.
    async def bad_gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html; charset=latin-1\r\n"
                     b"Content-Length: 10\r\nConnection: close\r\n\r\nproxy \xe9\xe9\xff!")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(bad_gateway, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        a = LlmAgent("bot", "openai::test-model", base_url=f"http://127.0.0.1:{port}/v1",
                     api_key=KEY, max_attempts=1)
        with pytest.raises(serendip.LlmHttpError) as caught:
            await asyncio.wait_for(a.send_message("hi"), SAFETY)
    assert caught.value.status == 502
    assert "proxy \ufffd\ufffd\ufffd!" in str(caught.value)


def test_a_timeout_below_a_millisecond_still_times_out(server: ScriptedLLMServer) -> None:
    # Cut to whole milliseconds it was zero, which means no timeout at all.
    server.script(Fault.stall())
    with pytest.raises(serendip.LlmTimeout):
        agent(server, timeout=0.0005).send_message_sync("hi")


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_a_timeout_must_be_a_positive_finite_number(
    server: ScriptedLLMServer, timeout: float
) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        agent(server, timeout=timeout)


# -- secrets and configuration --


def test_the_key_never_shows_in_a_repr_an_error_or_the_metrics(server: ScriptedLLMServer) -> None:
    quoted = {"error": {"message": f"Incorrect API key provided: {KEY}.",
                        "type": "invalid_request_error", "code": "invalid_api_key"}}
    server.script(Fault(401, quoted))
    a = agent(server)
    with pytest.raises(serendip.LlmHttpError) as caught:
        a.send_message_sync("hi")
    assert server.saw_api_key(KEY)  # it was sent, and the server quoted it back
    error = caught.value
    assert error.status == 401 and error.provider_type == "invalid_request_error"
    assert "Incorrect API key provided: ***." in str(error)
    for shown in (str(error), repr(error), repr(error.args), repr(a), str(a.llm_metrics())):
        assert KEY not in shown


def test_a_key_quoted_where_the_error_excerpt_is_cut_is_not_shown_in_part(
    server: ScriptedLLMServer,
) -> None:
    # The error quotes the first 200 bytes of the body: the key must be hidden before that
    # cut, or its first part would show.
    server.script(Fault(401, "x" * 195 + KEY))
    with pytest.raises(serendip.LlmHttpError) as caught:
        agent(server).send_message_sync("hi")
    assert KEY[:5] not in str(caught.value)


def test_build_refuses_an_unknown_provider_and_a_missing_key(
    server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(serendip.LlmConfigError, match="unknown LLM provider 'nope'"):
        LlmAgent("x", "nope::m", base_url=server.openai_base_url).build()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(serendip.LlmConfigError, match="ANTHROPIC_API_KEY"):
        LlmAgent("x", "anthropic::m", base_url=server.anthropic_base_url).build()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    a = LlmAgent("x", "openai::m", base_url=server.openai_base_url)
    with pytest.raises(serendip.LlmConfigError, match="OPENAI_API_KEY"):
        a.build()
    with pytest.raises(serendip.LlmConfigError):
        a.send_message_sync("hi")
    assert server.requests == []
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")  # read again by the next call
    server.script(Reply("ok"))
    assert a.send_message_sync("hi") == "ok"
    assert server.saw_api_key("sk-from-the-environment") and len(server.requests) == 1


# -- metrics --


def test_llm_metrics_count_usage_retries_and_failures_by_type(server: ScriptedLLMServer) -> None:
    server.script(
        Reply("one", usage=(10, 1)),
        Fault(429, retry_after=0), Reply("two", usage=(20, 2)),
        Fault(400),
        Fault.malformed(),
        Fault(200, {"error": {"message": "no", "type": "server_error"}}),
    )
    a = agent(server)
    a.send_message_sync("1")
    a.send_message_sync("2")
    for error in (serendip.LlmHttpError, serendip.LlmProtocolError, serendip.LlmProviderError):
        with pytest.raises(error):
            a.send_message_sync("fails")
    metrics = a.llm_metrics()
    assert (metrics["provider"], metrics["model"]) == ("openai", "test-model")
    assert (metrics["calls"], metrics["succeeded"], metrics["cancelled"]) == (5, 2, 0)
    assert metrics["retries"] == 1
    assert (metrics["prompt_tokens"], metrics["completion_tokens"]) == (30, 3)
    assert metrics["estimated_calls"] == 0
    assert failed(a) == {"LlmHttpError": 1, "LlmProtocolError": 1, "LlmProviderError": 1}
    assert metrics["latency"]["count"] == 5


# -- cancellation --


@pytest.mark.asyncio
async def test_cancelling_send_message_drops_the_connection_and_keeps_the_history(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("kept"), Fault.stall())
    a = agent(server)
    await a.send_message("first")
    task = asyncio.create_task(a.send_message("never answered"))
    assert await until(lambda: server.in_flight == 1 and len(server.requests) == 2)
    assert client_connections(server) == [ESTABLISHED]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server cannot notice during a stall; the client's socket shows the close.
    assert await until(lambda: ESTABLISHED not in client_connections(server))
    assert await until(lambda: a.llm_metrics()["cancelled"] == 1)
    assert [m.content for m in a.history()] == ["first", "kept"]


@pytest.mark.asyncio
async def test_leaving_a_stream_early_cancels_it_and_keeps_the_history(
    server: ScriptedLLMServer,
) -> None:
    # Long enough that the server is still sending when the loop is left.
    server.script(Reply(" ".join(["word"] * 50_000)), Reply("fresh"))
    a = agent(server)
    stream = a.stream("count")
    async for piece in stream:
        assert piece == "word"
        break
    await stream.aclose()
    assert await until(lambda: a.llm_metrics()["cancelled"] == 1)
    assert a.llm_metrics()["succeeded"] == 0 and a.history() == []
    assert await a.send_message("again") == "fresh"
    assert [m["content"] for m in server.requests[-1].json["messages"]] == ["again"]


# -- load --


@pytest.mark.asyncio
async def test_a_thousand_concurrent_calls_are_in_flight_together(
    server: ScriptedLLMServer,
) -> None:
    calls = 1000
    server.default = lambda request: Reply(
        f"re: {request.json['messages'][-1]['content']}", delay=0.5
    )
    a = agent(server, max_concurrency=calls)
    replies = await asyncio.gather(
        *(a.send_message(f"q{i}", conversation=f"c{i}") for i in range(calls))
    )
    assert replies == [f"re: q{i}" for i in range(calls)]
    assert server.max_in_flight >= 200, server.max_in_flight  # hundreds, not a handful
    assert a.llm_metrics()["succeeded"] == calls
    assert len(a.conversations()) == calls
