"""ReAct: parsing replies, the system prompt, and the loop with scripted replies and real tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import serendip
from serendip import Agent
from serendip._react import (
    ParsedStep,
    ReActConfig,
    ReActResult,
    ReActStep,
    parse_reply,
    react_system_prompt,
    run_react,
)


class Desk(Agent):
    """Tools for the model: sync, async, failing and verbose actions; counts the calls."""

    def __init__(self) -> None:
        super().__init__("desk")
        self.calls: list[str] = []

    @serendip.action
    def add(self, a: int, b: int) -> int:
        """Adds two integers.

        Args:
            a: the first.
            b: the second.
        """
        self.calls.append("add")
        return a + b

    @serendip.action
    async def lookup(self, city: str) -> dict[str, Any]:
        """Looks up the weather of a city."""
        await asyncio.sleep(0)
        self.calls.append("lookup")
        return {"city": city, "temp": 21}

    @serendip.action
    def explode(self) -> None:
        """Always fails."""
        self.calls.append("explode")
        raise RuntimeError("the fuse blew")

    @serendip.action
    def dump(self, size: int) -> str:
        """Returns a long text."""
        return "x" * size


class Script:
    """A fake model: answers each call with the next scripted reply, records what it was sent."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[list[tuple[str, str]]] = []

    async def __call__(self, messages: list[tuple[str, str]]) -> str:
        self.calls.append(messages)
        assert self.replies, "the loop asked the model more often than scripted"
        return self.replies.pop(0)


async def react(
    desk: Desk, script: Script, config: ReActConfig | None = None, system: str | None = None
) -> ReActResult:
    return await run_react(
        "What is 2 + 3?",
        complete=script,
        tools=desk.actions,
        call_tool=desk.act,
        config=ReActConfig() if config is None else config,
        system_prompt=system,
    )


def call(name: str, inputs: str, thought: str = "I need a tool.") -> str:
    return f"Thought: {thought}\nAction: {name}\nAction Input: {inputs}"


ANSWER = "Thought: The sum is 5.\nFinal Answer: 5"


# -- the loop ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_direct_final_answer_ends_the_run_after_one_call() -> None:
    desk, script = Desk(), Script("Thought: I know this.\nFinal Answer: 5")
    result = await react(desk, script, system="You are terse.")
    assert result == ReActResult("5", (ReActStep("I know this.", None, None, None),), 1, "answer")
    [messages] = script.calls
    assert [role for role, _ in messages] == ["system", "user"]
    assert messages[0][1].startswith("You are terse.\n\n")
    assert messages[1] == ("user", "What is 2 + 3?")
    assert desk.calls == []


@pytest.mark.asyncio
async def test_a_tool_round_runs_the_real_action_and_sends_its_result_back() -> None:
    first = call("add", '{"a": 2, "b": 3}', "I need the sum.")
    desk, script = Desk(), Script(first, ANSWER)
    result = await react(desk, script)
    assert result.answer == "5" and result.finish_reason == "answer"
    assert result.iterations == 2
    assert result.steps == (
        ReActStep("I need the sum.", "add", {"a": 2, "b": 3}, "5"),
        ReActStep("The sum is 5.", None, None, None),
    )
    assert desk.calls == ["add"]
    second = script.calls[1]
    assert second[:2] == script.calls[0][:2], "the conversation grows, it is not rewritten"
    assert second[2:] == [("assistant", first), ("user", "Observation: 5")]


@pytest.mark.asyncio
async def test_an_async_tools_result_comes_back_json_encoded() -> None:
    desk, script = Desk(), Script(call("lookup", '{"city": "Oslo"}'), ANSWER)
    result = await react(desk, script)
    assert result.steps[0].observation == '{"city": "Oslo", "temp": 21}'
    assert desk.calls == ["lookup"]


@pytest.mark.asyncio
async def test_an_unknown_tool_becomes_an_error_observation_and_the_model_recovers() -> None:
    desk = Desk()
    script = Script(call("teleport", "{}"), call("add", '{"a": 2, "b": 3}'), ANSWER)
    result = await react(desk, script)
    assert result.finish_reason == "answer" and result.iterations == 3
    assert result.steps[0].action == "teleport"
    assert result.steps[0].observation == (
        "error: there is no tool named 'teleport'; the tools: add, lookup, explode, dump"
    )
    assert script.calls[1][-1] == ("user", f"Observation: {result.steps[0].observation}")
    assert result.steps[1].observation == "5"
    assert desk.calls == ["add"]


@pytest.mark.asyncio
async def test_a_tool_name_in_another_case_runs_the_one_tool_it_means() -> None:
    desk, script = Desk(), Script(call("ADD", '{"a": 1, "b": 1}'), ANSWER)
    result = await react(desk, script)
    assert result.steps[0].action == "add"
    assert result.steps[0].observation == "2"


@pytest.mark.asyncio
async def test_a_tools_exception_becomes_an_error_observation() -> None:
    desk, script = Desk(), Script(call("explode", "{}"), ANSWER)
    result = await react(desk, script)
    assert result.steps[0].observation == "error: RuntimeError: the fuse blew"
    assert result.finish_reason == "answer"
    assert desk.calls == ["explode"]


@pytest.mark.asyncio
async def test_inputs_that_break_the_tools_schema_become_an_error_observation() -> None:
    desk, script = Desk(), Script(call("add", '{"a": "two", "b": 3}'), ANSWER)
    result = await react(desk, script)
    observation = result.steps[0].observation
    assert observation is not None and observation.startswith("error: ActionInputError: ")
    assert desk.calls == []


@pytest.mark.asyncio
async def test_input_that_is_not_json_is_kept_and_the_model_is_told_without_running_the_tool() -> (
    None
):
    desk, script = Desk(), Script(call("add", "a=2, b=3"), ANSWER)
    result = await react(desk, script)
    step = result.steps[0]
    assert step.action == "add" and step.action_input == "a=2, b=3"
    assert step.observation is not None
    assert step.observation.startswith("error: the Action Input is not valid JSON: 'a=2, b=3'.")
    assert desk.calls == []


@pytest.mark.asyncio
async def test_the_budget_ends_a_run_that_never_answers_with_its_last_thought() -> None:
    desk = Desk()
    script = Script(call("add", '{"a": 1, "b": 1}', "One more."), call("add", '{"a": 2, "b": 2}'))
    result = await react(desk, script, ReActConfig(max_iterations=2))
    assert result.finish_reason == "max_iterations"
    assert result.iterations == 2 and len(script.calls) == 2
    assert result.answer == "I need a tool."
    assert [step.observation for step in result.steps] == ["2", "4"]


@pytest.mark.asyncio
async def test_a_huge_observation_is_cut_with_a_marker() -> None:
    desk, script = Desk(), Script(call("dump", '{"size": 50}'), ANSWER)
    result = await react(desk, script, ReActConfig(max_observation_chars=10))
    assert result.steps[0].observation == "xxxxxxxxxx\n[... 40 more characters cut]"
    assert script.calls[1][-1] == ("user", f"Observation: {result.steps[0].observation}")


@pytest.mark.asyncio
async def test_a_reply_without_any_label_is_taken_as_the_answer() -> None:
    desk, script = Desk(), Script("  The answer is 5.\n")
    result = await react(desk, script)
    assert result == ReActResult(
        "The answer is 5.", (ReActStep("", None, None, None),), 1, "unformatted"
    )


@pytest.mark.asyncio
async def test_a_thought_without_action_or_answer_gets_a_format_reminder() -> None:
    desk, script = Desk(), Script("Thought: I should add them.", ANSWER)
    result = await react(desk, script)
    assert result.finish_reason == "answer" and result.iterations == 2
    reminder = result.steps[0]
    assert reminder.thought == "I should add them." and reminder.action is None
    assert reminder.observation is not None
    assert reminder.observation.startswith("error: your reply had neither an Action nor")
    assert script.calls[1][-1] == ("user", f"Observation: {reminder.observation}")


@pytest.mark.asyncio
async def test_a_made_up_observation_is_dropped_from_the_conversation() -> None:
    first = call("add", '{"a": 2, "b": 3}')
    desk, script = (
        Desk(),
        Script(first + "\nObservation: 7\nThought: done\nFinal Answer: 7", ANSWER),
    )
    result = await react(desk, script)
    assert result.answer == "5" and result.steps[0].observation == "5"
    assert script.calls[1][2:] == [("assistant", first), ("user", "Observation: 5")]


@pytest.mark.asyncio
async def test_the_models_exception_propagates() -> None:
    async def broken(messages: list[tuple[str, str]]) -> str:
        raise ConnectionError("model down")

    desk = Desk()
    with pytest.raises(ConnectionError, match="model down"):
        await run_react(
            "q", complete=broken, tools=desk.actions, call_tool=desk.act, config=ReActConfig()
        )


def test_config_rejects_budgets_below_one() -> None:
    with pytest.raises(ValueError, match="max_iterations must be at least 1, got 0"):
        ReActConfig(max_iterations=0)
    with pytest.raises(ValueError, match="max_observation_chars must be at least 1"):
        ReActConfig(max_observation_chars=0)


# -- parsing ----------------------------------------------------------------------------------


def test_parse_an_action_with_fenced_input_in_any_case_and_spacing() -> None:
    text = ' thought :  need it \n ACTION:   add  \naction input:\n```json\n{"a": 1}\n```\n'
    assert parse_reply(text) == ParsedStep(text.strip(), "need it", "add", {"a": 1})


def test_parse_markdown_emphasis_and_numbered_labels() -> None:
    text = '**Thought 1:** hmm\n**Action**: `lookup`\n**Action Input:** {"city": "Rome"}'
    assert parse_reply(text) == ParsedStep(text, "hmm", "lookup", {"city": "Rome"})


def test_parse_cuts_a_made_up_observation_and_what_follows() -> None:
    kept = 'Thought: t\nAction: add\nAction Input: {"a": 1, "b": 2}'
    parsed = parse_reply(kept + "\nObservation: 3\nFinal Answer: 3")
    assert parsed == ParsedStep(kept, "t", "add", {"a": 1, "b": 2})


def test_parse_takes_the_first_of_two_actions() -> None:
    kept = 'Action: add\nAction Input: {"a": 1, "b": 2}'
    parsed = parse_reply(kept + "\nAction: dump\nAction Input: {}")
    assert parsed == ParsedStep(kept, "", "add", {"a": 1, "b": 2})


def test_parse_a_one_line_fence_and_a_fenced_non_object() -> None:
    text = 'Action: add\nAction Input: ```json {"a": 1}```'
    assert parse_reply(text) == ParsedStep(text, "", "add", {"a": 1})
    text = "Action: lookup\nAction Input:\n```\nOslo\n```"
    assert parse_reply(text) == ParsedStep(text, "", "lookup", "Oslo", "is not valid JSON")


def test_parse_a_missing_input_is_an_empty_object() -> None:
    text = "Thought: boom\nAction: explode"
    assert parse_reply(text) == ParsedStep(text, "boom", "explode", {})


def test_parse_input_on_the_line_after_the_action_and_prose_after_the_object() -> None:
    text = 'Action: add\n{"a": 1, "b": 2} -- these are the numbers'
    assert parse_reply(text) == ParsedStep(text, "", "add", {"a": 1, "b": 2})


def test_parse_input_that_is_not_an_object_keeps_the_raw_value() -> None:
    text = "Action: lookup\nAction Input: `Oslo`"
    assert parse_reply(text) == ParsedStep(text, "", "lookup", "Oslo", "is not valid JSON")
    text = "Action: lookup\nAction Input: [1, 2]"
    assert parse_reply(text) == ParsedStep(
        text, "", "lookup", [1, 2], "is a JSON array, not an object"
    )


def test_parse_a_final_answer_keeps_all_its_lines() -> None:
    text = "Thought: easy\nfinal answer:  Two lines:\nfirst\nsecond  "
    assert parse_reply(text) == ParsedStep(
        text.strip(), "easy", answer="Two lines:\nfirst\nsecond"
    )


def test_parse_only_labels_at_line_starts_count() -> None:
    text = "The action: none needed. Final answer: 5"
    assert parse_reply(text) == ParsedStep(text, text)


# -- the system prompt ------------------------------------------------------------------------


def test_the_system_prompt_lists_every_tool_with_its_schema_after_the_base() -> None:
    specs = list(Desk().actions.values())
    prompt = react_system_prompt(specs, "You are a clerk.")
    assert prompt.startswith("You are a clerk.\n\n")
    for spec in specs:
        assert f"- {spec.name}: {spec.description}\n" in prompt
        assert f"  input schema: {json.dumps(spec.parameters)}\n" in prompt
    assert '"description": "the first."' in prompt, "parameter docs reach the model"
    for label in ("Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:"):
        assert label in prompt


def test_the_system_prompt_without_tools_asks_only_for_an_answer() -> None:
    prompt = react_system_prompt([], None)
    assert "Final Answer:" in prompt and "Action" not in prompt
