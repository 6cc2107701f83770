"""LlmAgent: an agent whose answers come from a language model, with tools and conversations.

One exchange (a question, the model's tool rounds, its answer) is written once, as a generator
that says what it needs next (a model call, or a batch of tool calls) and is told the result.
``send_message`` drives it with awaits, ``send_message_sync`` with blocking calls and
``stream`` with a streamed model call: one logic, three waiters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import threading
from collections.abc import AsyncGenerator, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from . import _core, _llm_client
from ._agent import Agent, Overflow
from ._bridge import running_loop
from ._conversation import (
    ROLE_ASSISTANT,
    ROLE_USER,
    ChatMessage,
    Conversations,
    MessageTuple,
)
from ._llm_client import CallOptions, Completion, LlmToolCall, Usage
from ._llm_tools import LlmToolbox, arguments_text, tool_error
from ._react import ReActConfig, ReActResult, run_react

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["LlmAgent", "LlmReply", "set_provider_limits"]


ReplyFinish = Literal["stop", "length", "other", "max_tool_rounds"]

DEFAULT_CONVERSATION: Final = "default"
_agent_keys = itertools.count(1)


class LlmReply(str):
    """The model's answer: a ``str``, with how it was reached.

    ``finish_reason``: ``"stop"`` (a natural end), ``"length"`` (the token limit cut it),
    ``"max_tool_rounds"`` (the model still wanted tools after ``max_tool_rounds`` rounds; the
    text is whatever it said last), or ``"other"`` (a content filter, a refusal, unreported).
    ``usage`` sums the tokens of every model call of the exchange, ``rounds`` counts those
    calls, ``conversation`` is the history it was added to.
    """

    finish_reason: ReplyFinish
    usage: Usage
    rounds: int
    conversation: str

    def __new__(
        cls, text: str, finish_reason: ReplyFinish, usage: Usage, rounds: int, conversation: str
    ) -> LlmReply:
        reply = super().__new__(cls, text)
        reply.finish_reason = finish_reason
        reply.usage = usage
        reply.rounds = rounds
        reply.conversation = conversation
        return reply


def set_provider_limits(
    provider: str,
    *,
    max_concurrency: int = 0,
    requests_per_minute: int = 0,
    tokens_per_minute: int = 0,
) -> None:
    """Limits shared by every LlmAgent of ``provider`` (an alias: "openai", "anthropic", ...)
    in this process; 0 = unlimited. Calls over a limit wait their turn (FIFO), never fail.
    Tokens are the prompt's estimate plus ``max_tokens``."""
    _llm_client.set_limits(
        f"provider:{provider.lower()}",
        max_concurrency=max_concurrency,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )


# What an exchange asks its driver for, and what it is given back.
_Chat = tuple[Literal["chat"], list[MessageTuple]]
_Tools = tuple[Literal["tools"], tuple[LlmToolCall, ...]]
_Exchange = Generator[_Chat | _Tools, Any, LlmReply]


class LlmAgent(Agent):
    """An agent answered by a language model.

    ``model`` is ``"provider::model"``: providers ``openai``, ``groq``, ``deepseek``, ``xai``,
    ``mistral``, ``openrouter``, ``together``, ``gemini``, ``azure`` (the model is the
    deployment), ``vllm``, ``llamacpp``, ``lmstudio`` (OpenAI's protocol), ``ollama``
    (``OLLAMA_HOST``) and ``anthropic``. The key comes from ``api_key`` or the provider's
    environment variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...); it never appears in
    a repr, an error, a log or a metric.

    On a mesh, a query's payload (a ``str``, or ``{"text": ..., "conversation": ...}``) is a
    question; the conversation is the asker's name unless given. Calls run concurrently, up to
    ``max_concurrency`` at once for the agent (beyond that they wait), each with its own
    history; the agent's actions are offered to the model as tools (see ``with_agent_tool``
    for other agents). Settings are fixed by ``build()``, which the first call runs if needed;
    a builder called later applies from the next call on.

    Args:
        max_concurrency: model calls (and mesh queries) in flight at once for this agent.
        max_tool_rounds: tool rounds per question; beyond, the reply's ``finish_reason`` is
            ``"max_tool_rounds"``.
        history_limit, history_tokens: bounds of each conversation's history, in messages and
            estimated tokens (None: unbounded); the oldest exchanges go first.
        max_conversations: histories kept; the least recently used is forgotten first.
        timeout: seconds one HTTP attempt may take.
        max_attempts: HTTP attempts per model call (retries on 429 and 5xx, after the
            provider's ``Retry-After`` or a jittered backoff).
        max_response_bytes: the largest answer body accepted (streamed or not); a larger one
            fails the call with LlmResponseTooLarge.
    """

    def __init__(
        self,
        name: str,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_concurrency: int = 8,
        max_tool_rounds: int = 8,
        history_limit: int | None = 100,
        history_tokens: int | None = None,
        max_conversations: int = 1000,
        timeout: float = 600.0,
        max_attempts: int = 3,
        max_response_bytes: int = 8 << 20,
        mailbox_size: int = 1024,
        overflow: Overflow = "wait",
    ) -> None:
        super().__init__(
            name, max_concurrency=max_concurrency, mailbox_size=mailbox_size, overflow=overflow
        )
        for label, value in (
            ("max_tool_rounds", max_tool_rounds),
            ("max_conversations", max_conversations),
            ("max_attempts", max_attempts),
            ("max_response_bytes", max_response_bytes),
        ):
            if value < 1:
                raise ValueError(f"{label} must be at least 1")
        for label, bound in (("history_limit", history_limit), ("history_tokens", history_tokens)):
            if bound is not None and bound < 1:
                raise ValueError(f"{label} must be None or at least 1")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_tool_rounds = max_tool_rounds
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_response_bytes = max_response_bytes
        self.react: ReActConfig | None = None
        self._tools = LlmToolbox(self)
        self._conversations = Conversations(history_limit, history_tokens, max_conversations)
        self._stats = _core.LlmStats()
        self._limit_key = f"agent:{next(_agent_keys)}"
        self._endpoint: _core.LlmEndpoint | None = None
        self._build_lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------------

    def with_system_prompt(self, prompt: str) -> LlmAgent:
        """Sets the system prompt; returns the agent."""
        self.system_prompt = prompt
        return self

    def with_temperature(self, temperature: float) -> LlmAgent:
        """Sets the sampling temperature; returns the agent."""
        if temperature < 0:
            raise ValueError("temperature must not be negative")
        self.temperature = temperature
        return self

    def with_max_tokens(self, max_tokens: int) -> LlmAgent:
        """Sets the answer's token limit; returns the agent."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.max_tokens = max_tokens
        return self

    def with_api_key(self, api_key: str) -> LlmAgent:
        """Sets the API key (resolved again at the next build); returns the agent."""
        self._api_key = api_key
        self._endpoint = None
        return self

    def with_react(self, config: ReActConfig | None = None) -> LlmAgent:
        """Enables ``send_message_react`` with ``config`` (default ReActConfig()); returns the
        agent."""
        self.react = config if config is not None else ReActConfig()
        return self

    def with_agent_tool(
        self, agent: str, *, description: str, name: str | None = None
    ) -> LlmAgent:
        """Offers the mesh agent ``agent`` to the model as a tool taking one ``message``; a
        call is a mesh query, its reply the tool's result. ``name`` defaults to the agent's
        name with characters tools cannot have replaced by ``_``. Returns this agent."""
        self._tools.add_agent_tool(agent, description, name)
        return self

    def build(self) -> LlmAgent:
        """Resolves the model string and key now: raises LlmConfigError (unknown provider, no
        key, malformed base URL) before any request. Returns the agent."""
        with self._build_lock:
            if self._endpoint is None:
                endpoint = _core.LlmEndpoint(self.model, self.base_url or "", self._api_key or "")
                _llm_client.set_limits(self._limit_key, max_concurrency=self.max_concurrency)
                self._endpoint = endpoint
        return self

    @property
    def provider(self) -> str:
        """The provider alias of ``model`` (builds the agent)."""
        return self._built().provider

    # -- conversations ---------------------------------------------------------------------------

    def history(self, conversation: str | None = None) -> list[ChatMessage]:
        """The messages of a conversation, oldest first (the system prompt is not one)."""
        key = conversation if conversation is not None else DEFAULT_CONVERSATION
        return [ChatMessage.of(m) for m in self._conversations.snapshot(key, touch=False)]

    def conversations(self) -> list[str]:
        """The keys of the conversations kept, least recently used first."""
        return self._conversations.keys()

    def clear_history(self, conversation: str | None = None) -> None:
        """Forgets one conversation, or all of them when ``conversation`` is None."""
        self._conversations.clear(conversation)

    # -- asking ----------------------------------------------------------------------------------

    async def send_message(self, text: str, conversation: str | None = None) -> LlmReply:
        """Asks the model, running the tools it calls, and returns its answer.

        The question and answer join the history of ``conversation`` (default "default").
        Raises LlmConfigError, LlmHttpError, LlmTimeout, LlmTransportError, LlmProtocolError,
        LlmProviderError or LlmResponseTooLarge (all LlmError). Cancelling the await cancels
        the HTTP request; the history is left unchanged.
        """
        exchange = self._exchange(text, conversation)
        result: Any = None
        try:
            while True:
                need = exchange.send(result)
                if need[0] == "chat":
                    result = await _llm_client.chat(need[1], self._options())
                else:
                    result = await asyncio.gather(*(self._tools.run(c) for c in need[1]))
        except StopIteration as done:
            reply: LlmReply = done.value
            return reply

    send_message_async = send_message

    def send_message_sync(self, text: str, conversation: str | None = None) -> LlmReply:
        """Blocking twin of ``send_message`` for plain code: waits in this thread with the GIL
        released (Ctrl-C cancels the request); tools run one after the other. Raises
        RuntimeError on a thread running an event loop (use ``await send_message``)."""
        if running_loop() is not None:
            raise RuntimeError(
                "send_message_sync on a thread running an event loop would block it; "
                "use 'await agent.send_message(...)'"
            )
        exchange = self._exchange(text, conversation)
        result: Any = None
        try:
            while True:
                need = exchange.send(result)
                if need[0] == "chat":
                    result = _llm_client.chat_sync(need[1], self._options())
                else:
                    result = [self._tools.run_sync(c) for c in need[1]]
        except StopIteration as done:
            reply: LlmReply = done.value
            return reply

    async def stream(
        self, text: str, conversation: str | None = None
    ) -> AsyncGenerator[str, None]:
        """Like ``send_message``, yielding the answer's text as the model writes it (each tool
        round's text too). The history gets the exchange once it is complete; leaving the
        loop early cancels the request and leaves the history unchanged."""
        exchange = self._exchange(text, conversation)
        result: Any = None
        try:
            while True:
                need = exchange.send(result)
                if need[0] == "chat":
                    completions: list[Completion] = []
                    async for piece in _llm_client.chat_stream(need[1], self._options(), completions):
                        yield piece
                    result = completions[0]
                else:
                    result = await asyncio.gather(*(self._tools.run(c) for c in need[1]))
        except StopIteration:
            return

    async def send_message_react(self, text: str, conversation: str | None = None) -> ReActResult:
        """Answers by ReAct (Thought / Action / Observation, as text), running the agent's real
        tools: works with models without native tool calls. Needs ``with_react()``. The
        question and final answer join the history of ``conversation``."""
        if self.react is None:
            raise RuntimeError("send_message_react needs with_react(ReActConfig(...)) first")
        key = conversation if conversation is not None else DEFAULT_CONVERSATION
        history = self._conversations.snapshot(key)
        options = self._options(with_tools=False)
        roles = {"user": ROLE_USER, "assistant": ROLE_ASSISTANT}

        async def complete(messages: list[tuple[str, str]]) -> str:
            # The ReAct instructions replace the system prompt; tools are described in them.
            system = "\n\n".join(t for r, t in messages if r == "system")
            wire = history + [(roles[r], t, None, "", "", False) for r, t in messages if r != "system"]
            call = dataclasses.replace(options, system=system)
            return (await _llm_client.chat(wire, call)).text

        async def call_tool(name: str, inputs: dict[str, Any]) -> Any:
            return await self._tools.call(name, inputs)

        result = await run_react(
            text,
            complete=complete,
            tools=self._tools.specs(),
            call_tool=call_tool,
            config=self.react,
            system_prompt=self.system_prompt,  # run_react adds the ReAct instructions
        )
        self._conversations.append(
            key,
            [(ROLE_USER, text, None, "", "", False), (ROLE_ASSISTANT, result.answer, None, "", "", False)],
        )
        return result

    async def on_message(self, message: Any, ctx: Context) -> Any:
        """A mesh query: ``str`` or ``{"text": str, "conversation": str}``; answers the reply."""
        if isinstance(message, str):
            text, conversation = message, None
        elif isinstance(message, Mapping) and isinstance(message.get("text"), str):
            text, conversation = message["text"], message.get("conversation")
        else:
            raise TypeError(
                f"LlmAgent {self.name!r} takes a str or {{'text': str, 'conversation': str}}, "
                f"not {type(message).__name__}"
            )
        if conversation is None:
            conversation = ctx.sender or DEFAULT_CONVERSATION
        return await self.send_message(text, conversation)

    # -- metrics ---------------------------------------------------------------------------------

    def llm_metrics(self) -> dict[str, Any]:
        """This agent's model calls: provider, model, calls, succeeded, cancelled, failed (by
        error), retries, prompt_tokens, completion_tokens, estimated_calls (whose usage the
        provider did not report) and latency (seconds, submit to end)."""
        endpoint = self._built()
        return {"provider": endpoint.provider, "model": endpoint.model, **self._stats.snapshot()}

    def __repr__(self) -> str:
        return f"<LlmAgent {self.name!r} model={self.model!r}>"

    # -- the exchange ------------------------------------------------------------------------------

    def _exchange(self, text: str, conversation: str | None) -> _Exchange:
        """One question's rounds; see the module docstring."""
        if not isinstance(text, str):
            raise TypeError(f"the message must be a str, not {type(text).__name__}")
        self._built()
        key = conversation if conversation is not None else DEFAULT_CONVERSATION
        history = self._conversations.snapshot(key)
        exchange: list[MessageTuple] = [(ROLE_USER, text, None, "", "", False)]
        usage = Usage()
        rounds = 0
        while True:
            completion: Completion = yield ("chat", history + exchange)
            rounds += 1
            usage += completion.usage
            calls = [(c.id, c.name, arguments_text(c)) for c in completion.tool_calls]
            exchange.append((ROLE_ASSISTANT, completion.text, calls or None, "", "", False))
            if not completion.tool_calls:
                finish: ReplyFinish = "other" if completion.finish_reason == "tool_calls" else completion.finish_reason
                break
            if rounds > self.max_tool_rounds:
                # Not run, but answered: a history with unanswered calls is refused by providers.
                exchange.extend(
                    tool_error(c, "not run: the tool round limit was reached")
                    for c in completion.tool_calls
                )
                finish = "max_tool_rounds"
                break
            results: list[MessageTuple] = yield ("tools", completion.tool_calls)
            exchange.extend(results)
        self._conversations.append(key, exchange)
        return LlmReply(completion.text, finish, usage, rounds, key)

    def _options(self, *, with_tools: bool = True) -> CallOptions:
        return CallOptions(
            endpoint=self._built(),
            system=self.system_prompt or "",
            tools=self._tools.native() if with_tools else None,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            limit_keys=[self._limit_key, f"provider:{self._built().provider}"],
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            max_response_bytes=self.max_response_bytes,
            stats=self._stats,
        )

    def _built(self) -> _core.LlmEndpoint:
        endpoint = self._endpoint
        if endpoint is None:
            self.build()
            endpoint = self._endpoint
            assert endpoint is not None
        return endpoint
