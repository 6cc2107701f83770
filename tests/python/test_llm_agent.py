"""LlmAgent against the real scripted server: answers, tools, conversations, the mesh.

Every test talks HTTP to a ``ScriptedLLMServer`` on loopback through the native client and
checks both sides: what the agent returned and what the server recorded.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import serendip
from serendip.metrics import prometheus_text
from serendip import ChatMessage, Context, LlmAgent, Usage
from serendip.testing import Fault, RecordedRequest, Reply, ScriptedLLMServer, ToolCall

from _support import SAFETY, sent_messages as messages

KEY = "sk-agent-test-key"


class Shop(LlmAgent):
    """An LLM agent whose tools are a sync action, an async one and one that fails."""

    def __init__(self, name: str, server: ScriptedLLMServer, **options: Any) -> None:
        super().__init__(
            name, "openai::test-model", base_url=server.openai_base_url, api_key=KEY, **options
        )
        self.priced: list[str] = []

    @serendip.action
    def price(self, sku: str) -> float:
        """The price of an article."""
        self.priced.append(sku)
        return {"A1": 9.5, "B2": 20.0}[sku]

    @serendip.action
    async def stock(self, sku: str) -> int:
        """Articles in stock."""
        await asyncio.sleep(0)
        return {"A1": 3, "B2": 0}[sku]

    @serendip.action
    def refund(self, order: str) -> str:
        """Refunds an order."""
        raise ValueError(f"order {order} is not refundable")


def tool_results(request: RecordedRequest) -> dict[str, str]:
    """The tool results a request carries, by tool call id."""
    return {m["tool_call_id"]: m["content"] for m in messages(request) if m["role"] == "tool"}


def assert_every_call_answered(request: RecordedRequest) -> None:
    """Each assistant tool call of the request is followed by its result (providers insist)."""
    calls = [c["id"] for m in messages(request) for c in m.get("tool_calls") or ()]
    assert calls and sorted(calls) == sorted(tool_results(request))


# -- answers and tools --


@pytest.mark.asyncio
async def test_a_plain_answer_carries_the_servers_usage_and_joins_the_history(
    server: ScriptedLLMServer,
) -> None:
    server.script(Reply("Hello there.", usage=(12, 3)))
    agent = Shop("shop", server, system_prompt="Be brief.")
    reply = await agent.send_message("Hi!")
    assert reply == "Hello there." and isinstance(reply, serendip.LlmReply)
    assert (reply.finish_reason, reply.rounds, reply.conversation) == ("stop", 1, "default")
    assert reply.usage == Usage(12, 3, estimated=False)
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json["model"] == "test-model" and request.json["stream"] is False
    assert messages(request) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi!"},
    ]
    assert [t["function"]["name"] for t in request.json["tools"]] == ["price", "stock", "refund"]
    assert [(m.role, m.content) for m in agent.history()] == [
        ("user", "Hi!"),
        ("assistant", "Hello there."),
    ]


@pytest.mark.asyncio
async def test_parallel_tool_calls_over_several_rounds_reach_the_model_as_results(
    server: ScriptedLLMServer,
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("price", {"sku": "A1"}), ToolCall("stock", {"sku": "A1"})],
              usage=(10, 2)),
        Reply("Checking B2 too.", tool_calls=[ToolCall("stock", {"sku": "B2"})], usage=(20, 4)),
        Reply("A1 costs 9.5 and 3 are left; B2 is sold out.", usage=(30, 11)),
    )
    agent = Shop("shop", server)
    reply = await agent.send_message("A1 and B2?")
    assert reply == "A1 costs 9.5 and 3 are left; B2 is sold out."
    assert (reply.finish_reason, reply.rounds) == ("stop", 3)
    assert reply.usage == Usage(60, 17)
    first, second, third = server.requests
    assert tool_results(first) == {}
    assert tool_results(second) == {"call_1": "9.5", "call_2": "3"}
    assert tool_results(third) == {"call_1": "9.5", "call_2": "3", "call_3": "0"}
    assert messages(third)[-2] == {"role": "assistant", "content": "Checking B2 too.",
                                   "tool_calls": [{"id": "call_3", "type": "function",
                                                   "function": {"name": "stock",
                                                                "arguments": '{"sku":"B2"}'}}]}
    roles = [m.role for m in agent.history()]
    assert roles == ["user", "assistant", "tool", "tool", "assistant", "tool", "assistant"]
    call = agent.history()[1].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_1", "price", {"sku": "A1"})


@pytest.mark.asyncio
async def test_async_tools_of_one_round_run_at_the_same_time(server: ScriptedLLMServer) -> None:
    agent = LlmAgent("pair", "vllm::m", base_url=server.openai_base_url)
    arrived = {"left": asyncio.Event(), "right": asyncio.Event()}

    async def meet(side: str, other: str) -> str:
        arrived[side].set()
        # Finishes only if the other call of the round runs meanwhile.
        await asyncio.wait_for(arrived[other].wait(), SAFETY)
        return f"{side} met {other}"

    @agent.action
    async def left() -> str:
        return await meet("left", "right")

    @agent.action
    async def right() -> str:
        return await meet("right", "left")

    server.script(Reply(tool_calls=[ToolCall("left", {}), ToolCall("right", {})]), Reply("Both."))
    assert await agent.send_message("go") == "Both."
    assert tool_results(server.requests[1]) == {
        "call_1": "left met right", "call_2": "right met left",
    }


@pytest.mark.asyncio
async def test_tool_failures_reach_the_model_as_error_results_and_the_call_goes_on(
    server: ScriptedLLMServer,
) -> None:
    not_json = {  # an OpenAI completion whose tool arguments were cut off
        "id": "chatcmpl-cut", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [{
                "id": "call_cut", "type": "function",
                "function": {"name": "price", "arguments": '{"sku": "A'}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    server.script(
        Reply(tool_calls=[ToolCall("refund", {"order": "7"}), ToolCall("teleport", {})]),
        Fault(200, not_json),
        Reply("I could not do any of it."),
    )
    agent = Shop("shop", server)
    assert await agent.send_message("refund, teleport, price") == "I could not do any of it."
    second, third = server.requests[1:]
    results = tool_results(second)
    assert results["call_1"] == "error: ValueError: order 7 is not refundable"
    assert results["call_2"].startswith("error: ActionNotFound: ")
    assert "no action 'teleport'" in results["call_2"]
    # The malformed arguments go back as the model wrote them, with an error and no tool run.
    assert messages(third)[-2]["tool_calls"][0]["function"]["arguments"] == '{"sku": "A'
    assert tool_results(third)["call_cut"].startswith("error: the arguments are not a JSON object")
    assert agent.priced == []
    errors = [m.is_error for m in agent.history() if m.role == "tool"]
    assert errors == [True, True, True]


@pytest.mark.asyncio
async def test_max_tool_rounds_ends_the_exchange_with_every_call_answered(
    server: ScriptedLLMServer,
) -> None:
    server.default = Reply("Let me look again.", tool_calls=[ToolCall("price", {"sku": "A1"})])
    agent = Shop("shop", server, max_tool_rounds=2)
    reply = await agent.send_message("price?")
    assert reply == "Let me look again."
    assert (reply.finish_reason, reply.rounds) == ("max_tool_rounds", 3)
    assert agent.priced == ["A1", "A1"]  # the third round's call was not run
    last = agent.history()[-1]
    assert (last.role, last.is_error) == ("tool", True)
    assert last.content == "error: not run: the tool round limit was reached"
    server.default = None
    server.script(Reply("Sorry about that."))
    assert await agent.send_message("and now?") == "Sorry about that."
    assert_every_call_answered(server.requests[-1])


def test_send_message_sync_runs_sync_and_async_tools_from_a_plain_thread(
    server: ScriptedLLMServer,
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("price", {"sku": "B2"}), ToolCall("stock", {"sku": "B2"})]),
        Reply("B2: 20.0, none left."),
    )
    agent = Shop("shop", server)
    reply = agent.send_message_sync("B2?", conversation="sync")
    assert (reply, reply.rounds, reply.conversation) == ("B2: 20.0, none left.", 2, "sync")
    assert tool_results(server.requests[1]) == {"call_1": "20.0", "call_2": "0"}


@pytest.mark.asyncio
async def test_send_message_sync_refuses_a_thread_running_a_loop(server: ScriptedLLMServer) -> None:
    agent = Shop("shop", server)
    with pytest.raises(RuntimeError, match="await agent.send_message"):
        agent.send_message_sync("hi")
    assert server.requests == [] and agent.history() == []


def test_sync_calls_from_many_threads_share_one_agent(server: ScriptedLLMServer) -> None:
    server.default = lambda request: Reply(messages(request)[-1]["content"].upper())
    agent = Shop("shop", server)
    replies: dict[str, str] = {}

    def ask(word: str) -> None:
        replies[word] = agent.send_message_sync(word, conversation=word)

    threads = [threading.Thread(target=ask, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SAFETY)
    assert replies == {f"w{i}": f"W{i}" for i in range(8)}
    assert sorted(agent.conversations()) == sorted(replies)


# -- conversations --


@pytest.mark.asyncio
async def test_each_conversation_key_has_its_own_history(server: ScriptedLLMServer) -> None:
    server.default = lambda request: Reply(f"re: {messages(request)[-1]['content']}")
    agent = Shop("shop", server)
    await agent.send_message("I am Ann.", conversation="ann")
    await agent.send_message("I am Bob.", conversation="bob")
    await agent.send_message("Who am I?", conversation="ann")
    assert [m["content"] for m in messages(server.requests[-1])] == [
        "I am Ann.", "re: I am Ann.", "Who am I?",
    ]
    assert agent.conversations() == ["bob", "ann"]  # least recently used first
    assert agent.history("bob") == [
        ChatMessage("user", "I am Bob."), ChatMessage("assistant", "re: I am Bob."),
    ]
    agent.clear_history("ann")
    assert agent.conversations() == ["bob"] and agent.history("ann") == []


@pytest.mark.asyncio
async def test_the_least_recently_used_conversation_is_forgotten_first(
    server: ScriptedLLMServer,
) -> None:
    server.default = Reply("ok")
    agent = Shop("shop", server, max_conversations=2)
    for key in ("a", "b", "a", "c"):
        await agent.send_message("hi", conversation=key)
    assert agent.conversations() == ["a", "c"]
    await agent.send_message("again", conversation="b")  # a new conversation: no history
    assert messages(server.requests[-1]) == [{"role": "user", "content": "again"}]
    assert agent.conversations() == ["c", "b"]
    agent.history("c")  # reading a history does not count as using it
    assert agent.conversations() == ["c", "b"]


@pytest.mark.asyncio
async def test_history_limit_trims_whole_exchanges_never_starting_at_a_tool_result(
    server: ScriptedLLMServer,
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("price", {"sku": "A1"})]), Reply("9.5"),  # 4 messages
        Reply("Hello."),  # 2 more: a cut at 4 of 6 would start at the tool result
        Reply("Bye."),
    )
    agent = Shop("shop", server, history_limit=4)
    await agent.send_message("price of A1?")
    await agent.send_message("hello")
    assert [(m.role, m.content) for m in agent.history()] == [
        ("user", "hello"), ("assistant", "Hello."),
    ]
    await agent.send_message("bye")
    assert [m["role"] for m in messages(server.requests[-1])] == ["user", "assistant", "user"]


@pytest.mark.asyncio
async def test_concurrent_calls_on_one_conversation_append_whole_exchanges(
    server: ScriptedLLMServer,
) -> None:
    callers = 6
    inside = 0
    all_inside = asyncio.Event()
    agent = LlmAgent("echo", "vllm::m", base_url=server.openai_base_url)

    @agent.action
    async def echo(text: str) -> str:
        nonlocal inside
        inside += 1
        if inside == callers:
            all_inside.set()
        await asyncio.wait_for(all_inside.wait(), SAFETY)  # every exchange is half done
        return text

    def turn(request: RecordedRequest) -> Reply:
        last = messages(request)[-1]
        if last["role"] == "user":
            return Reply(tool_calls=[ToolCall("echo", {"text": last["content"]})])
        return Reply(f"answer to {last['content']}")

    server.default = turn
    questions = [f"q{i}" for i in range(callers)]
    await asyncio.gather(*(agent.send_message(q, conversation="shared") for q in questions))
    history = agent.history("shared")
    assert len(history) == 4 * callers
    exchanges = [history[i : i + 4] for i in range(0, len(history), 4)]
    for user, calls, result, answer in exchanges:
        assert user.role == "user" and calls.tool_calls[0].arguments == {"text": user.content}
        assert (result.tool_call_id, result.content) == (calls.tool_calls[0].id, user.content)
        assert answer.content == f"answer to {user.content}"
    assert sorted(e[0].content for e in exchanges) == questions


# -- on a mesh --


class Asker(serendip.Agent):
    """Asks the assistant whatever it is sent, as itself."""

    async def on_message(self, message: Any, ctx: Context) -> Any:
        return await ctx.query("assistant", message)


@pytest.mark.asyncio
async def test_a_mesh_query_is_a_question_in_the_askers_conversation(
    server: ScriptedLLMServer, amesh: serendip.LocalMesh
) -> None:
    server.default = lambda request: Reply(f"{len(messages(request))} messages seen")
    llm = amesh.add_agent(Shop("assistant", server))
    amesh.add_agent(Asker("alice"))
    assert await amesh.query("assistant", "question") == "1 messages seen"
    assert await amesh.query("alice", "first") == "1 messages seen"
    assert await amesh.query("alice", "second") == "3 messages seen"
    assert await amesh.query("assistant", {"text": "third", "conversation": "alice"}) == (
        "5 messages seen"
    )
    assert llm.conversations() == ["default", "alice"]
    assert [m.content for m in llm.history("alice") if m.role == "user"] == [
        "first", "second", "third",
    ]
    llm_rows = amesh.metrics()["llm"]
    assert list(llm_rows) == ["assistant"]  # Python agents have no row
    row = llm_rows["assistant"]
    assert (row["provider"], row["model"], row["calls"], row["succeeded"]) == (
        "openai", "test-model", 4, 4,
    )
    assert row["latency"]["count"] == 4
    assert 'serendip_llm_calls_total{mesh="async-test",agent="assistant",provider="openai",' \
        'model="test-model"} 4' in prometheus_text(amesh)


@pytest.mark.asyncio
async def test_an_agent_tool_asks_another_agent_and_the_model_gets_its_answer(
    server: ScriptedLLMServer, amesh: serendip.LocalMesh
) -> None:
    class Weather(serendip.Agent):
        def on_message(self, message: Any, ctx: Context) -> Any:
            return f"sunny in {message}"

    amesh.add_agent(Weather("weather-bot"))
    planner = LlmAgent("planner", "vllm::m", base_url=server.openai_base_url)
    assert planner.with_agent_tool("weather-bot", description="Knows the weather.") is planner
    amesh.add_agent(planner)
    server.script(
        Reply(tool_calls=[ToolCall("weather-bot", {"message": "Paris"})]),
        Reply("Take sunglasses."),
    )
    assert await amesh.query("planner", "Trip to Paris?") == "Take sunglasses."
    first, second = server.requests
    [tool] = first.json["tools"]
    assert tool["function"]["name"] == "weather-bot"
    assert tool["function"]["description"] == "Knows the weather."
    assert tool["function"]["parameters"]["required"] == ["message"]
    assert tool_results(second) == {"call_1": "sunny in Paris"}


def test_on_a_sync_mesh_a_query_answers_and_a_bad_payload_is_refused(
    server: ScriptedLLMServer, mesh: serendip.LocalMesh
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("stock", {"sku": "A1"})]),  # async: runs on the home loop
        Reply("3 left."),
    )
    llm = mesh.add_agent(Shop("assistant", server))
    assert mesh.query_sync("assistant", "A1 in stock?") == "3 left."
    assert tool_results(server.requests[1]) == {"call_1": "3"}
    with pytest.raises(serendip.HandlerError, match="takes a str"):
        mesh.query_sync("assistant", 42)
    assert llm.conversations() == ["default"] and len(server.requests) == 2

