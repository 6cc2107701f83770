"""LlmAgent in each protocol family, end to end: OpenAI-compatible, Anthropic and Ollama.

The same exchange (a question, a tool round, an answer) goes through each wire; the tests read
the request bodies the server recorded: where the system prompt sits, how tools, tool calls and
tool results are written, and which header carries the key. Streams are checked per family,
and ReAct (tools through plain text) end to end.
"""

from __future__ import annotations

from typing import Any

import pytest

import serendip
from _support import sent_messages as messages
from serendip import LlmAgent, ReActConfig, Usage
from serendip.testing import Reply, ScriptedLLMServer, ToolCall

KEY = "sk-protocols-key"
PRICE_SCHEMA = {
    "type": "object",
    "properties": {"sku": {"type": "string"}},
    "required": ["sku"],
    "additionalProperties": False,
}


class Shop(LlmAgent):
    """One working tool and one that fails."""

    @serendip.action
    def price(self, sku: str) -> float:
        """The price of an article."""
        return {"A1": 9.5}[sku]

    @serendip.action
    def refund(self, order: str) -> str:
        """Refunds an order."""
        raise ValueError(f"order {order} is not refundable")


def base_url(server: ScriptedLLMServer, provider: str) -> str:
    return {
        "openai": server.openai_base_url,
        "anthropic": server.anthropic_base_url,
        "ollama": server.url,
        "azure": server.url,
    }[provider]


def shop(server: ScriptedLLMServer, provider: str, **options: Any) -> Shop:
    return Shop(
        "shop", f"{provider}::test-model", base_url=base_url(server, provider),
        system_prompt="Be brief.", **options,
    )


def script_tool_round(server: ScriptedLLMServer) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("price", {"sku": "A1"}), ToolCall("refund", {"order": "7"})],
              usage=(11, 2)),
        Reply("A1 costs 9.5; order 7 cannot be refunded.", usage=(23, 8)),
    )


REFUSED = "error: ValueError: order 7 is not refundable"


# -- one exchange per family --


def test_openai_system_message_function_tools_and_tool_messages(server: ScriptedLLMServer) -> None:
    script_tool_round(server)
    reply = shop(server, "openai", api_key=KEY).send_message_sync("A1? Refund 7.")
    assert reply == "A1 costs 9.5; order 7 cannot be refunded."
    assert reply.usage == Usage(34, 10)
    first, second = server.requests
    assert (first.protocol, first.path) == ("openai", "/v1/chat/completions")
    assert first.headers["authorization"] == "***" and "x-api-key" not in first.headers
    assert server.saw_api_key(KEY)
    assert messages(first) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "A1? Refund 7."},
    ]
    assert first.json["tools"][0] == {
        "type": "function",
        "function": {"name": "price", "description": "The price of an article.",
                     "parameters": PRICE_SCHEMA},
    }
    assert messages(second)[2:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "price", "arguments": '{"sku":"A1"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "refund", "arguments": '{"order":"7"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "9.5"},
        {"role": "tool", "tool_call_id": "call_2", "content": REFUSED},
    ]


def test_anthropic_top_level_system_input_schema_tools_and_tool_result_blocks(
    server: ScriptedLLMServer,
) -> None:
    script_tool_round(server)
    agent = shop(server, "anthropic", api_key=KEY)
    reply = agent.send_message_sync("A1? Refund 7.")
    assert reply == "A1 costs 9.5; order 7 cannot be refunded."
    assert reply.usage == Usage(34, 10)
    first, second = server.requests
    assert (first.protocol, first.path) == ("anthropic", "/v1/messages")
    assert first.headers["x-api-key"] == "***" and "authorization" not in first.headers
    assert first.headers["anthropic-version"]
    assert server.saw_api_key(KEY)
    assert first.json["system"] == "Be brief."
    assert messages(first) == [{"role": "user", "content": "A1? Refund 7."}]
    assert first.json["max_tokens"] > 0  # Anthropic requires it
    assert first.json["tools"][0] == {
        "name": "price", "description": "The price of an article.", "input_schema": PRICE_SCHEMA,
    }
    assert messages(second)[1:] == [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "price", "input": {"sku": "A1"}},
            {"type": "tool_use", "id": "toolu_2", "name": "refund", "input": {"order": "7"}},
        ]},
        {"role": "user", "content": [  # both results in the one user turn that follows
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "9.5"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": REFUSED,
             "is_error": True},
        ]},
    ]
    assert [m.tool_call_id for m in agent.history() if m.role == "tool"] == ["toolu_1", "toolu_2"]


def test_ollama_system_message_object_arguments_and_named_tool_results(
    server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    script_tool_round(server)
    reply = shop(server, "ollama").send_message_sync("A1? Refund 7.")
    assert reply == "A1 costs 9.5; order 7 cannot be refunded."
    assert reply.usage == Usage(34, 10)  # from prompt_eval_count and eval_count
    first, second = server.requests
    assert (first.protocol, first.path) == ("ollama", "/api/chat")
    assert "authorization" not in first.headers  # a local Ollama takes no key
    assert first.json["stream"] is False  # Ollama would stream otherwise
    assert messages(first)[0] == {"role": "system", "content": "Be brief."}
    assert first.json["tools"][0]["function"]["parameters"] == PRICE_SCHEMA
    assistant, price, refund = messages(second)[2:]
    assert assistant["tool_calls"] == [  # no ids on this wire: the arguments are objects
        {"function": {"name": "price", "arguments": {"sku": "A1"}}},
        {"function": {"name": "refund", "arguments": {"order": "7"}}},
    ]
    assert price == {"role": "tool", "tool_name": "price", "content": "9.5"}
    assert refund == {"role": "tool", "tool_name": "refund", "content": REFUSED}


@pytest.mark.parametrize(
    ("provider", "header", "value", "path"),
    [
        ("openai", "authorization", "***", "/v1/chat/completions"),
        ("anthropic", "x-api-key", "***", "/v1/messages"),
        ("azure", "api-key", "***", "/openai/deployments/test-model/chat/completions"),
        ("ollama", "authorization", "***", "/api/chat"),  # a hosted Ollama's key
    ],
)
def test_each_family_sends_the_key_in_its_own_header(
    server: ScriptedLLMServer, provider: str, header: str, value: str, path: str
) -> None:
    server.script(Reply("ok"))
    assert shop(server, provider, api_key=KEY).send_message_sync("hi") == "ok"
    [request] = server.requests
    assert request.path.partition("?")[0] == path
    secret_headers = {"authorization", "x-api-key", "api-key"} & set(request.headers)
    assert secret_headers == {header} and request.headers[header] == value
    assert server.saw_api_key(KEY)


# -- settings --


@pytest.mark.parametrize(
    ("provider", "where"),
    [("openai", ("temperature", "max_tokens")), ("anthropic", ("temperature", "max_tokens")),
     ("ollama", ("options.temperature", "options.num_predict"))],
)
def test_builders_return_the_agent_and_each_family_places_the_settings(
    server: ScriptedLLMServer, provider: str, where: tuple[str, str]
) -> None:
    agent = shop(server, provider, api_key="sk-first-key")
    assert agent.build() is agent  # built with the first key...
    assert agent.with_system_prompt("Terse.") is agent
    assert agent.with_temperature(0.25) is agent
    assert agent.with_max_tokens(64) is agent
    assert agent.with_api_key(KEY) is agent  # ...which a later builder replaces
    assert agent.provider == provider
    server.script(Reply("ok"))
    assert agent.send_message_sync("hi") == "ok"
    body = server.requests[0].json

    def read(path: str) -> Any:
        value = body
        for key in path.split("."):
            value = value[key]
        return value

    assert (read(where[0]), read(where[1])) == (0.25, 64)
    if provider == "anthropic":
        assert body["system"] == "Terse."
    else:
        assert messages(server.requests[0])[0] == {"role": "system", "content": "Terse."}
    assert server.saw_api_key(KEY) and not server.saw_api_key("sk-first-key")


# -- streams --


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
@pytest.mark.asyncio
async def test_a_stream_yields_every_chunk_in_order_across_a_tool_round(
    server: ScriptedLLMServer, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.url)  # ollama:: finds the server through it
    server.script(
        Reply("Let me check.", tool_calls=[ToolCall("price", {"sku": "A1"})], usage=(9, 4),
              chunks=["Let", " me ch", "eck."]),
        Reply("A1 costs 9.5 today.", usage=(15, 5), chunks=["A1 c", "osts", " 9.5", " today."]),
    )
    agent = Shop("shop", f"{provider}::test-model", api_key=KEY,
                 base_url=None if provider == "ollama" else base_url(server, provider))
    pieces = [piece async for piece in agent.stream("A1?")]
    assert pieces == ["Let", " me ch", "eck.", "A1 c", "osts", " 9.5", " today."]
    assert all(request.json["stream"] is True for request in server.requests)
    assert [(m.role, m.content) for m in agent.history()] == [
        ("user", "A1?"), ("assistant", "Let me check."), ("tool", "9.5"),
        ("assistant", "A1 costs 9.5 today."),
    ]
    assert agent.history()[1].tool_calls[0].arguments == {"sku": "A1"}
    metrics = agent.llm_metrics()  # the usage the stream reported, not an estimate
    assert (metrics["prompt_tokens"], metrics["completion_tokens"]) == (24, 9)
    assert (metrics["succeeded"], metrics["estimated_calls"]) == (2, 0)


@pytest.mark.asyncio
async def test_an_openai_stream_asks_for_usage(server: ScriptedLLMServer) -> None:
    server.script(Reply("ok"))
    assert [p async for p in shop(server, "openai", api_key=KEY).stream("hi")] == ["ok"]
    assert server.requests[0].json["stream_options"] == {"include_usage": True}


# -- ReAct: tools through text, for models without tool calls --


@pytest.mark.asyncio
async def test_send_message_react_runs_the_real_tool_between_text_replies(
    server: ScriptedLLMServer,
) -> None:
    server.script(
        Reply('Thought: I need the price.\nAction: price\nAction Input: {"sku": "A1"}'),
        Reply("Thought: I know it now.\nFinal Answer: A1 costs 9.5."),
    )
    agent = shop(server, "openai", api_key=KEY).with_system_prompt("You run a shop.")
    assert agent.with_react(ReActConfig(max_iterations=3)) is agent
    result = await agent.send_message_react("How much is A1?")
    assert (result.answer, result.finish_reason) == ("A1 costs 9.5.", "answer")
    assert result.iterations == 2
    step, final = result.steps
    assert (step.thought, step.action, step.action_input, step.observation) == (
        "I need the price.", "price", {"sku": "A1"}, "9.5",
    )
    assert (final.thought, final.action) == ("I know it now.", None)
    first, second = server.requests
    assert "tools" not in first.json  # the tools are described in the prompt instead
    system = messages(first)[0]
    assert system["role"] == "system" and system["content"].startswith("You run a shop.")
    assert system["content"].count("Final Answer:") == 1  # the instructions come once
    assert messages(second)[-1] == {"role": "user", "content": "Observation: 9.5"}
    assert [(m.role, m.content) for m in agent.history()] == [
        ("user", "How much is A1?"), ("assistant", "A1 costs 9.5."),
    ]


@pytest.mark.asyncio
async def test_send_message_react_can_ask_another_agent_of_the_mesh(
    server: ScriptedLLMServer,
) -> None:
    class Clerk(serendip.Agent):
        def on_message(self, message: str, ctx: serendip.Context) -> str:
            return f"the clerk says: {message} is in aisle 3"

    server.script(
        Reply('Thought: ask the clerk.\nAction: clerk\nAction Input: {"message": "A1"}'),
        Reply("Final Answer: aisle 3."),
    )
    agent = shop(server, "openai", api_key=KEY).with_react()
    agent.with_agent_tool("clerk", description="Knows where things are.")
    async with serendip.LocalMesh() as mesh:
        mesh.add_agent(Clerk("clerk"))
        mesh.add_agent(agent)
        result = await agent.send_message_react("Where is A1?")
    assert result.answer == "aisle 3."
    assert result.steps[0].observation == "the clerk says: A1 is in aisle 3"
    assert "clerk: Knows where things are." in messages(server.requests[0])[0]["content"]


@pytest.mark.asyncio
async def test_send_message_react_needs_with_react(server: ScriptedLLMServer) -> None:
    with pytest.raises(RuntimeError, match="with_react"):
        await shop(server, "openai", api_key=KEY).send_message_react("hi")
    assert server.requests == []
