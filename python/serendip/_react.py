"""ReAct: an LLM reasons and calls tools through plain text, for models without native tool calls.

The model writes ``Thought:`` / ``Action:`` / ``Action Input:`` and stops; the tool runs and its
result goes back as a user message ``Observation: ...``; this repeats until the model writes
``Final Answer:`` or the iteration budget is spent. Nothing here knows the agent class or a
provider: ``run_react`` takes the model (``complete``) and the tools (``call_tool``) as
callables, so one loop serves every model and is tested with scripted replies.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from ._action import ActionSpec

__all__ = [
    "FinishReason",
    "ParsedStep",
    "ReActConfig",
    "ReActResult",
    "ReActStep",
    "parse_reply",
    "react_system_prompt",
    "run_react",
]

FinishReason = Literal["answer", "unformatted", "max_iterations"]


@dataclasses.dataclass(frozen=True)
class ReActConfig:
    """How a ReAct run is bounded. Immutable; any thread.

    ``max_iterations`` caps the model calls of one run (each is one step: a tool call or the
    answer). ``max_observation_chars`` caps each observation sent back to the model, so one
    huge tool result cannot fill its context window; the cut is marked in the text.
    Raises ValueError when either is below 1.
    """

    max_iterations: int = 8
    max_observation_chars: int = 4000

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {self.max_iterations}")
        if self.max_observation_chars < 1:
            raise ValueError(
                f"max_observation_chars must be at least 1, got {self.max_observation_chars}"
            )


@dataclasses.dataclass(frozen=True)
class ReActStep:
    """One model reply of a run and what came of it.

    A tool step has ``action`` (the tool that ran, or the unknown name the model gave),
    ``action_input`` (the parsed JSON object, or the raw text when it was not one) and
    ``observation`` (what the model was told: the result or an ``error: ...`` text). The
    answering step has only ``thought``. A reply with neither an action nor a final answer
    has ``action`` None and, as ``observation``, the format reminder the model was sent.
    """

    thought: str
    action: str | None
    action_input: Any
    observation: str | None


@dataclasses.dataclass(frozen=True)
class ReActResult:
    """The outcome of ``run_react``.

    ``finish_reason`` says how the run ended:

    - ``"answer"``: the model wrote ``Final Answer:``; ``answer`` is what followed it.
    - ``"unformatted"``: the model's reply used none of the labels (a model that ignores the
      format and just answers); ``answer`` is that whole reply.
    - ``"max_iterations"``: the budget ran out first; ``answer`` is the last step's thought,
      or "" when it had none.

    ``steps`` holds every reply in order and ``iterations`` counts the model calls.
    """

    answer: str
    steps: tuple[ReActStep, ...]
    iterations: int
    finish_reason: FinishReason


@dataclasses.dataclass(frozen=True)
class ParsedStep:
    """A model reply taken apart by ``parse_reply``.

    ``text`` is the reply as it stays in the conversation: cut before an ``Observation:`` the
    model made up after its action, or after a second action it may not take. ``action`` is
    None unless the reply calls a tool; then ``action_input`` is its JSON object ({} when
    missing), or the raw text or non-object value with ``input_error`` saying what is wrong.
    ``answer`` is the final answer, None when the reply has none.
    """

    text: str
    thought: str
    action: str | None = None
    action_input: Any = None
    input_error: str | None = None
    answer: str | None = None


# A label at the start of a line: case-insensitive, markdown emphasis or heading marks around
# it ("**Action:**", "## Final Answer:") and a step number ("Thought 2:") allowed.
_LABEL = re.compile(
    r"^[ \t]*(?:[*_#>]+[ \t]*)?"
    r"(thought|action[ \t_-]*input|action|observation|final[ \t_-]*answer)"
    r"(?:[ \t]*\d+)?[ \t]*[*_]*[ \t]*:[ \t]*(?:[*_]+[ \t]*)?",
    re.IGNORECASE | re.MULTILINE,
)


def _kind(match: re.Match[str]) -> str:
    """``thought``, ``actioninput``, ``action``, ``observation`` or ``finalanswer``."""
    return re.sub(r"[ \t_-]", "", match.group(1).lower())


def parse_reply(text: str) -> ParsedStep:
    """Splits a model reply into thought, action and input, or final answer. Pure; any thread.

    Tolerant of what models write: labels in any case, with extra whitespace or markdown
    emphasis; the input in a code fence or followed by prose; the input on the line after
    ``Action:`` without its label. The first ``Action:`` or ``Final Answer:`` decides the
    kind of step; an ``Observation:`` after an action is made up by the model and cut off
    with everything after it.
    """
    labels = list(_LABEL.finditer(text))
    decisive = next((m for m in labels if _kind(m) in ("action", "finalanswer")), None)
    if decisive is None:
        return ParsedStep(text.strip(), _thought(text))
    thought = _thought(text[: decisive.start()])
    if _kind(decisive) == "finalanswer":
        return ParsedStep(text.strip(), thought, answer=text[decisive.end() :].strip())
    later = [m for m in labels if m.start() > decisive.start()]
    section_end = later[0].start() if later else len(text)
    name, _, rest = text[decisive.end() : section_end].strip().partition("\n")
    end = section_end
    if later and _kind(later[0]) == "actioninput":
        end = later[1].start() if len(later) > 1 else len(text)
        rest = text[later[0].end() : end]
    inputs, error = _inputs(rest)
    return ParsedStep(text[:end].strip(), thought, name.strip().strip("`*\"' \t"), inputs, error)


def _thought(text: str) -> str:
    """``text`` without its ``Thought:`` labels (models repeat them, or number them)."""
    return _LABEL.sub(lambda m: "" if _kind(m) == "thought" else m.group(0), text).strip()


# A code fence around the input, with its language tag: ```json ... ```.
_FENCE = re.compile(r"^`{3}(?:[\w-]+(?=\s))?|`{3}$")
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array"}


def _inputs(raw: str) -> tuple[Any, str | None]:
    """The action input as a JSON object, or the raw value and what is wrong with it."""
    body = _FENCE.sub("", raw.strip()).strip().strip("`").strip()
    if not body:
        return {}, None
    start = body.find("{")
    if start != -1:
        try:  # raw_decode: prose around the object is fine
            return json.JSONDecoder().raw_decode(body, start)[0], None
        except ValueError:
            pass
    try:
        value = json.loads(body)
    except ValueError:
        return body, "is not valid JSON"
    return value, f"is a JSON {_JSON_TYPES.get(type(value), 'null')}, not an object"


def react_system_prompt(tools: Sequence[ActionSpec], base: str | None = None) -> str:
    """The system prompt of a ReAct run: ``base`` (the agent's own instructions), then the
    tools with their input schemas and the reply format. Pure; any thread."""
    if tools:
        listing = "\n".join(
            f"- {spec.name}: {spec.description or '(no description)'}\n"
            f"  input schema: {json.dumps(spec.parameters, ensure_ascii=False)}"
            for spec in tools
        )
        intro = (
            "You solve the user's request step by step and may use these tools. Each takes "
            "a JSON object as its input, described by its JSON Schema.\n\n"
            f"Tools:\n{listing}\n\n"
            "Write each reply in exactly one of the two forms below.\n\n"
            "To use a tool:\n"
            "Thought: what you know so far and what you need next\n"
            "Action: the tool's name, exactly as listed\n"
            'Action Input: the input as a JSON object on one line, e.g. {"key": "value"}\n\n'
            "Then stop. The tool's result comes back in the next message as "
            '"Observation: ...". Never write an Observation yourself, and use one tool per '
            "reply. If an observation reports an error, fix the input or try another way.\n\n"
            "To answer, once the observations give you what you need:\n"
        )
    else:
        intro = "You have no tools. Reply in this form:\n"
    instructions = intro + "Thought: why you can answer now\nFinal Answer: your answer to the user"
    return f"{base.strip()}\n\n{instructions}" if base and base.strip() else instructions


async def run_react(
    question: str,
    *,
    complete: Callable[[list[tuple[str, str]]], Awaitable[str]],
    tools: Mapping[str, ActionSpec],
    call_tool: Callable[[str, dict[str, Any]], Awaitable[Any]],
    config: ReActConfig,
    system_prompt: str | None = None,
) -> ReActResult:
    """Answers ``question`` with a ReAct loop; from any coroutine.

    ``complete(messages)`` sends the conversation so far, (role, text) pairs with roles
    "system", "user" and "assistant", and returns the model's reply; it gets a fresh list
    each call. ``tools`` are the tools the model may use, by name; ``call_tool(name, inputs)``
    runs one, e.g. ``agent.act``. ``system_prompt`` is the agent's own instructions, put
    before the ReAct ones. An unknown tool, inputs that are not a JSON object and a tool's
    exception become an ``error: ...`` observation for the model to recover from; only
    ``complete``'s exceptions and cancellation propagate. Costs one model call per step, at
    most ``config.max_iterations``.
    """
    messages: list[tuple[str, str]] = [
        ("system", react_system_prompt(list(tools.values()), system_prompt)),
        ("user", question),
    ]
    steps: list[ReActStep] = []
    for iteration in range(1, config.max_iterations + 1):
        parsed = parse_reply(await complete(list(messages)))
        if parsed.answer is not None:
            steps.append(ReActStep(parsed.thought, None, None, None))
            return ReActResult(parsed.answer, tuple(steps), iteration, "answer")
        if parsed.action is None and not _LABEL.search(parsed.text):
            steps.append(ReActStep("", None, None, None))
            return ReActResult(parsed.text, tuple(steps), iteration, "unformatted")
        action, observation = await _observe(parsed, tools, call_tool)
        observation = _clip(observation, config.max_observation_chars)
        steps.append(ReActStep(parsed.thought, action, parsed.action_input, observation))
        messages += [("assistant", parsed.text), ("user", f"Observation: {observation}")]
    answer = steps[-1].thought
    return ReActResult(answer, tuple(steps), config.max_iterations, "max_iterations")


async def _observe(
    parsed: ParsedStep,
    tools: Mapping[str, ActionSpec],
    call_tool: Callable[[str, dict[str, Any]], Awaitable[Any]],
) -> tuple[str | None, str]:
    """Runs the step's tool; returns the tool's name and the observation (never raises but
    for cancellation)."""
    if parsed.action is None:
        return None, (
            "error: your reply had neither an Action nor a Final Answer. Reply with Thought, "
            "Action and Action Input to use a tool, or with Thought and Final Answer."
        )
    name = _resolve(parsed.action, tools)
    if name is None:
        known = ", ".join(tools) or "none, so give a Final Answer"
        return (
            parsed.action,
            f"error: there is no tool named {parsed.action!r}; the tools: {known}",
        )
    if parsed.input_error is not None:
        return name, (
            f"error: the Action Input {parsed.input_error}: {parsed.action_input!r}. Write it "
            "as one JSON object matching the tool's input schema, {} for no inputs."
        )
    try:
        result = await call_tool(name, parsed.action_input)
    except Exception as exc:  # the model sees the failure and may recover
        return name, f"error: {type(exc).__name__}: {exc}"
    if isinstance(result, str):
        return name, result
    return name, json.dumps(result, ensure_ascii=False, default=str)


def _resolve(name: str, tools: Mapping[str, ActionSpec]) -> str | None:
    """The tool ``name`` means: exact, else the one tool equal to it ignoring case."""
    if name in tools:
        return name
    folded = [tool for tool in tools if tool.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _clip(observation: str, limit: int) -> str:
    """``observation`` cut to ``limit`` characters, with a marker that says so."""
    if len(observation) <= limit:
        return observation
    cut = len(observation) - limit
    return f"{observation[:limit]}\n[... {cut} more characters cut]"
