"""Native actions: compiled functions of the C ABI in serendip/native_action.h as actions and
LLM tools. The tests compile tests/python/native_tools.cpp and load it with ctypes."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

import serendip
from serendip import LlmAgent
from serendip.testing import Reply, ScriptedLLMServer, ToolCall

from _support import sent_messages

ROOT = Path(__file__).resolve().parents[2]
ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The compiled test library."""
    compiler = shutil.which("g++")
    assert compiler is not None, "tools/setup.sh installs g++"
    library = tmp_path_factory.mktemp("native") / "libnative_tools.so"
    subprocess.run(
        [compiler, "-std=c++20", "-shared", "-fPIC", "-O1", f"-I{ROOT / 'include'}",
         str(ROOT / "tests/python/native_tools.cpp"), "-o", str(library)],
        check=True,
    )
    return ctypes.CDLL(str(library))


def capsule(function: Any, state: int | None, name: bytes = b"serendip.native_action") -> object:
    """A PyCapsule holding ``function``, its context ``state``: what a C or C++ extension
    would hand out."""
    api = ctypes.pythonapi
    api.PyCapsule_New.restype = ctypes.py_object
    api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    api.PyCapsule_SetContext.argtypes = [ctypes.py_object, ctypes.c_void_p]
    made = api.PyCapsule_New(ctypes.cast(function, ctypes.c_void_p), name, None)
    if state is not None:
        assert api.PyCapsule_SetContext(made, state) == 0
    return made


def calculator(tools: ctypes.CDLL) -> serendip.Agent:
    agent = serendip.Agent("calc")
    agent.native_action(tools.add, description="Adds two numbers.", parameters=ADD_SCHEMA)
    return agent


def test_a_ctypes_function_is_an_action_with_its_schema(tools: ctypes.CDLL) -> None:
    agent = calculator(tools)
    spec = agent.actions["add"]
    assert (spec.name, spec.description, spec.parameters, spec.is_async) == (
        "add", "Adds two numbers.", ADD_SCHEMA, False)
    assert agent.tool_schemas()[0]["function"]["parameters"] == ADD_SCHEMA
    assert agent.act_sync("add", {"a": 2, "b": 3.5}) == 5.5


@pytest.mark.asyncio
async def test_act_awaits_a_native_action_too(tools: ctypes.CDLL) -> None:
    assert await calculator(tools).act("add", {"a": -1, "b": 1}) == 0


def test_a_mesh_invoke_runs_a_native_action_in_turn_with_the_agents_messages(
    tools: ctypes.CDLL, mesh: serendip.LocalMesh
) -> None:
    mesh.add_agent(calculator(tools))
    assert mesh.invoke_sync("calc", "add", {"a": 40, "b": 2}) == 42
    with pytest.raises(serendip.ActionInputError):
        mesh.invoke_sync("calc", "add", {"a": 40})


def test_inputs_are_checked_against_the_schema_before_the_call(tools: ctypes.CDLL) -> None:
    agent = calculator(tools)
    with pytest.raises(serendip.ActionInputError) as caught:
        agent.act_sync("add", {"a": 1, "b": "two"})
    assert caught.value.field == "b"
    with pytest.raises(serendip.ActionInputError, match="'b'.*required"):
        agent.act_sync("add", {"a": 1})


def test_an_error_status_raises_the_actions_message(tools: ctypes.CDLL) -> None:
    agent = serendip.Agent("weather")
    agent.native_action(tools.forecast, parameters={"type": "object", "properties": {
        "city": {"type": "string"}}})
    with pytest.raises(serendip.NativeActionError, match="^no forecast for Oslo$"):
        agent.act_sync("forecast", {"city": "Oslo"})


def test_a_result_that_is_not_json_is_an_error(tools: ctypes.CDLL) -> None:
    agent = serendip.Agent("weather")
    agent.native_action(tools.chatter, name="guess")
    assert agent.actions["guess"].parameters == {"type": "object", "properties": {}}
    with pytest.raises(serendip.NativeActionError, match="not JSON: sunny, I think"):
        agent.act_sync("guess")


def test_a_capsule_passes_its_context_as_the_state(tools: ctypes.CDLL) -> None:
    factor = ctypes.c_double(2.5)
    agent = serendip.Agent("scaler")
    agent.native_action(
        capsule(tools.scale, ctypes.addressof(factor)), name="scale",
        parameters={"type": "object", "properties": {"x": {"type": "number"}}},
    )
    assert agent.act_sync("scale", {"x": 4}) == 10.0
    factor.value = -1.0
    assert agent.act_sync("scale", {"x": 4}) == -4.0


def test_what_is_not_a_native_function_is_refused_clearly(tools: ctypes.CDLL) -> None:
    agent = serendip.Agent("x")
    with pytest.raises(TypeError, match="ctypes function or a PyCapsule named"):
        agent.native_action(len, name="length")
    with pytest.raises(TypeError, match="serendip.native_action"):
        agent.native_action(capsule(tools.add, None, b"other.name"), name="y")
    with pytest.raises(ValueError, match="needs name="):
        agent.native_action(capsule(tools.add, None))
    with pytest.raises(ValueError, match="type 'object'"):
        agent.native_action(tools.add, parameters={"type": "array"})
    with pytest.raises(ValueError, match="1 to 64"):
        agent.native_action(tools.add, name="two words")
    agent.native_action(tools.add)
    with pytest.raises(ValueError, match="already has an action named 'add'"):
        agent.native_action(tools.add)
    assert list(agent.actions) == ["add"]


def test_the_call_lets_go_of_the_gil(tools: ctypes.CDLL) -> None:
    agent = serendip.Agent("waiter")
    agent.native_action(tools.wait_for_release)
    answers: list[Any] = []
    caller = threading.Thread(target=lambda: answers.append(agent.act_sync("wait_for_release")))
    caller.start()
    # Python code in this thread runs while the action waits, only if the caller let go of
    # the GIL; otherwise the action gives up after 30 s and says so.
    release = tools.release_waiter
    release()
    caller.join()
    assert answers == ["released"]


class Calculator(LlmAgent):
    def __init__(self, server: ScriptedLLMServer, tools: ctypes.CDLL) -> None:
        super().__init__("calc", "openai::test-model", base_url=server.openai_base_url,
                         api_key="sk-native-test")
        self.native_action(tools.add, description="Adds two numbers.", parameters=ADD_SCHEMA)
        self.native_action(tools.forecast, parameters={"type": "object", "properties": {
            "city": {"type": "string"}}})

    @serendip.action
    def double(self, x: float) -> float:
        """Doubles a number."""
        return 2 * x


@pytest.mark.asyncio
async def test_an_llm_agent_offers_native_actions_as_tools_beside_python_ones(
    server: ScriptedLLMServer, tools: ctypes.CDLL
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("add", {"a": 2, "b": 3}), ToolCall("double", {"x": 4}),
                          ToolCall("forecast", {"city": "Oslo"})]),
        Reply("5, 8 and no forecast."),
    )
    agent = Calculator(server, tools)
    assert await agent.send_message("Sums?") == "5, 8 and no forecast."
    first, second = server.requests
    offered = {t["function"]["name"]: t["function"] for t in first.json["tools"]}
    assert offered["add"] == {"name": "add", "description": "Adds two numbers.",
                              "parameters": ADD_SCHEMA}
    assert set(offered) == {"add", "double", "forecast"}
    results = {m["tool_call_id"]: m["content"] for m in sent_messages(second)
               if m["role"] == "tool"}
    assert results == {
        "call_1": "5.0", "call_2": "8", "call_3": "error: NativeActionError: no forecast for Oslo"
    }


def test_send_message_sync_runs_native_tools_too(
    server: ScriptedLLMServer, tools: ctypes.CDLL
) -> None:
    server.script(Reply(tool_calls=[ToolCall("add", {"a": 1, "b": 1})]), Reply("Two."))
    assert Calculator(server, tools).send_message_sync("1+1?") == "Two."
    results = [m["content"] for m in sent_messages(server.requests[1]) if m["role"] == "tool"]
    assert results == ["2.0"]
