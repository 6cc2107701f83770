"""The tools an LlmAgent offers its model, and running the calls the model makes.

The tools are the agent's actions (Python, sync or async, and native) and the mesh agents
added with ``with_agent_tool``, whose calls are mesh queries. A tool's failure is never the
call's: it goes back to the model as an ``error: ...`` result.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from . import _core
from ._action import ActionSpec, act_sync
from ._conversation import ROLE_TOOL, MessageTuple
from ._llm_client import LlmToolCall

if TYPE_CHECKING:
    from ._agent import Agent

__all__ = ["LlmToolbox", "arguments_text", "tool_error"]

logger = logging.getLogger("serendip.llm")

_TOOL_NAME: Final = re.compile(r"[^a-zA-Z0-9_-]")


class LlmToolbox:
    """One LlmAgent's tools: what the model is offered and how its calls are run.

    Tools may be added while calls run; each model call is offered the tools of its time.
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._agent_tools: dict[str, tuple[str, ActionSpec]] = {}  # tool name -> (agent, spec)
        self._native: tuple[tuple[str, ...], _core.LlmTools | None] = ((), None)

    def add_agent_tool(self, target: str, description: str, name: str | None) -> None:
        """See ``LlmAgent.with_agent_tool``."""
        tool = name if name is not None else _TOOL_NAME.sub("_", target)[:64]
        if not tool or _TOOL_NAME.search(tool) or len(tool) > 64:
            raise ValueError(f"tool name {tool!r}: use 1 to 64 of a-z, A-Z, 0-9, _ and -")
        schema = {
            "type": "object",
            "properties": {"message": {"type": "string", "description": f"what to ask {target}"}},
            "required": ["message"],
        }

        async def ask(message: str) -> Any:
            return await self._mesh_for(tool).query(target, message)

        self._agent_tools[tool] = (target, ActionSpec(tool, description, schema, True, ask))

    def specs(self) -> dict[str, ActionSpec]:
        """Every tool the model may call: the actions, then the agent tools."""
        agent_tools = {tool: spec for tool, (_, spec) in self._agent_tools.items()}
        return {**self._agent.actions, **agent_tools}

    def native(self) -> _core.LlmTools | None:
        """The tools as native tool specs, rebuilt only when they change."""
        specs = self.specs()
        names = tuple(specs)
        cached_names, cached = self._native
        if names == cached_names:
            return cached
        wire = [(s.name, s.description, json.dumps(s.parameters)) for s in specs.values()]
        tools = _core.LlmTools(wire) if wire else None
        self._native = (names, tools)
        return tools

    async def call(self, name: str, inputs: Mapping[str, Any]) -> Any:
        """Runs one tool: an agent tool as a mesh query, else the action on its home loop."""
        target = self._agent_tools.get(name)
        if target is not None:
            return await target[1].function(_message_of(name, inputs))
        return await self._agent.act(name, inputs)

    async def run(self, call: LlmToolCall) -> MessageTuple:
        """The model's call ``call`` answered: its result, or its error."""
        if call.arguments_error:
            return tool_error(call, f"the arguments are not a JSON object ({call.arguments_error})")
        try:
            return _tool_result(call, await self.call(call.name, call.arguments))
        except Exception as exc:  # the model hears of it, the call goes on
            return self._failed(call, exc)

    def run_sync(self, call: LlmToolCall) -> MessageTuple:
        """``run`` for plain code: blocks this thread."""
        if call.arguments_error:
            return tool_error(call, f"the arguments are not a JSON object ({call.arguments_error})")
        try:
            target = self._agent_tools.get(call.name)
            if target is not None:
                mesh = self._mesh_for(call.name)
                result = mesh.query_sync(target[0], _message_of(call.name, call.arguments))
            else:
                result = act_sync(self._agent, call.name, call.arguments, None)
            return _tool_result(call, result)
        except Exception as exc:
            return self._failed(call, exc)

    def _failed(self, call: LlmToolCall, exc: Exception) -> MessageTuple:
        logger.debug("tool %r of agent %r failed", call.name, self._agent.name, exc_info=True)
        return tool_error(call, f"{type(exc).__name__}: {exc}")

    def _mesh_for(self, tool: str) -> Any:
        mesh = getattr(self._agent, "_serendip_mesh", None)
        if mesh is None:
            raise RuntimeError(
                f"agent tool {tool!r} needs agent {self._agent.name!r} to be on a mesh"
            )
        return mesh


def arguments_text(call: LlmToolCall) -> str:
    """A call's arguments as the history keeps them: as the model sent them when not JSON."""
    return call.raw_arguments if call.arguments_error else json.dumps(call.arguments)


def tool_error(call: LlmToolCall, problem: str) -> MessageTuple:
    """The tool result telling the model that ``call`` failed."""
    return (ROLE_TOOL, f"error: {problem}", None, call.id, call.name, True)


def _tool_result(call: LlmToolCall, value: Any) -> MessageTuple:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return (ROLE_TOOL, text, None, call.id, call.name, False)


def _message_of(tool: str, inputs: Mapping[str, Any]) -> str:
    message = inputs.get("message")
    if not isinstance(message, str):
        raise ValueError(f"tool {tool!r} takes a 'message' string")
    return message
