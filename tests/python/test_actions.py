"""Actions: declaring them, their specs and tool schemas, and running them with act/act_sync."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import serendip
from serendip import ActionInputError, ActionNotFound, ActionSpec, Agent, Context, LocalMesh
from serendip._action import Invocation, has_async_actions, invoke

from _support import SAFETY, Gate


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Line:
    sku: str
    qty: int = 1


class Shop(Agent):
    """An agent with sync and async actions that report where they ran."""

    def __init__(self, name: str = "shop") -> None:
        super().__init__(name)
        self.error = ValueError("out of stock")
        self.started = threading.Event()
        self.cancelled = threading.Event()

    def on_message(self, message: Any, ctx: Context) -> Any:
        return threading.get_ident()  # where the home loop runs

    @serendip.action
    def add(self, a: int, b: int = 2) -> int:
        """Adds two numbers.

        Args:
            a: the first.
            b: the second.
        """
        return a + b

    @serendip.action
    def where_sync(self, ctx: Context | None) -> tuple[int, Context | None]:
        return threading.get_ident(), ctx

    @serendip.action(name="where-async", description="Reports its thread, loop and context.")
    async def where_async(self, ctx: Context | None) -> tuple[int, Any, Context | None]:
        await asyncio.sleep(0)
        return threading.get_ident(), asyncio.get_running_loop(), ctx

    @serendip.action
    def order(self, lines: list[Line], color: Color = Color.RED) -> tuple[list[Line], Color]:
        return lines, color

    @serendip.action
    async def fail(self) -> None:
        await asyncio.sleep(0)
        raise self.error

    @serendip.action
    def fail_sync(self) -> None:
        raise self.error

    @serendip.action
    async def wait(self, gate: Any) -> None:
        self.started.set()
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture(params=["act", "act_sync"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Calls an action through one twin from this (loop-less) thread: ``act`` in a fresh
    ``asyncio.run`` loop, or ``act_sync`` directly."""

    def run(agent: Agent, name: str, inputs: Any = None, **kw: Any) -> Any:
        if request.param == "act":
            return asyncio.run(agent.act(name, inputs, **kw))
        return agent.act_sync(name, inputs, **kw)

    return run


@pytest.fixture
def background() -> Iterator[tuple[LocalMesh, Shop, int]]:
    """A Shop on a mesh whose home is the background loop thread, and that thread's id."""
    with LocalMesh() as mesh:
        shop = mesh.add_agent(Shop())
        yield mesh, shop, mesh.query_sync("shop", "where?")


# -- declaring ----------------------------------------------------------------------------------


def test_class_body_actions_become_specs_with_schemas_and_summaries() -> None:
    spec = Shop().actions["add"]
    assert spec.name == "add"
    assert spec.description == "Adds two numbers."
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "the first."},
            "b": {"type": "integer", "description": "the second.", "default": 2},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert spec.is_async is False
    assert Shop().actions["where-async"].is_async is True


def test_an_explicit_name_and_description_win_and_ctx_is_not_an_input() -> None:
    spec = Shop().actions["where-async"]
    assert spec.description == "Reports its thread, loop and context."
    assert spec.parameters["properties"] == {}
    assert "where_async" not in Shop().actions


def test_the_decorator_returns_the_method_itself_so_it_stays_callable() -> None:
    shop = Shop()
    assert shop.add(1, 2) == 3
    assert shop.actions["add"].function(a=1) == 3, "the spec's function is bound to the agent"
    assert shop.actions["add"].function.__self__ is shop


def test_class_specs_are_built_once_per_class_not_per_instance() -> None:
    one, two = Shop("one"), Shop("two")
    assert one.actions["add"].parameters is two.actions["add"].parameters
    assert one.actions["add"].function.__self__ is one
    assert two.actions["add"].function.__self__ is two


def test_subclasses_inherit_actions_and_override_them_by_name() -> None:
    class Base(Agent):
        @serendip.action
        def greet(self) -> str:
            return "base"

        @serendip.action
        def keep(self) -> str:
            return "kept"

        @serendip.action
        def drop(self) -> str:
            return "dropped"

    class Derived(Base):
        @serendip.action(name="greet")
        def greet_loudly(self) -> str:
            return "DERIVED"

        def drop(self) -> str:  # overridden without the decorator: no longer an action
            return "plain"

    derived = Derived("d")
    assert list(derived.actions) == ["greet", "keep"]
    assert derived.act_sync("greet") == "DERIVED"
    assert derived.act_sync("keep") == "kept"
    assert Base("b").act_sync("greet") == "base"
    assert list(Base("b").actions) == ["greet", "keep", "drop"]


def test_two_methods_of_one_class_cannot_declare_the_same_action() -> None:
    class Twice(Agent):
        @serendip.action(name="same")
        def one(self) -> None:
            pass

        @serendip.action(name="same")
        def two(self) -> None:
            pass

    with pytest.raises(ValueError, match="declares action 'same' twice"):
        Twice("t").actions


def test_instance_actions_register_plain_functions_on_one_agent_only() -> None:
    shop, other = Shop(), Shop("other")

    @shop.action
    def discount(percent: float) -> float:
        """Applies a discount."""
        return percent / 100

    def raw(x: int) -> int:
        return x

    assert shop.action(name="echo", description="Echoes.")(raw) is raw
    assert discount(50) == 0.5, "the function is returned unchanged"
    assert shop.actions["discount"].description == "Applies a discount."
    assert shop.actions["echo"].description == "Echoes."
    assert shop.act_sync("echo", {"x": 7}) == 7
    assert "discount" not in other.actions
    assert list(shop.actions)[-2:] == ["discount", "echo"]


def test_an_instance_action_of_a_taken_name_is_a_value_error() -> None:
    shop = Shop()

    def add(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="already has an action named 'add'"):
        shop.action(add)
    shop.action(name="plus")(add)
    with pytest.raises(ValueError, match="'plus'"):
        shop.action(name="plus")(add)


def test_a_wrapped_function_is_an_async_action_when_either_layer_is_async() -> None:
    agent = Agent("wrapped")

    def plain(x: int) -> int:
        return x

    async def coroutine(x: int) -> int:
        return x

    @agent.action(name="async_outside")
    @functools.wraps(plain)
    async def outside(**kw: Any) -> Any:
        return plain(**kw)

    @agent.action(name="async_inside")
    @functools.wraps(coroutine)
    def inside(**kw: Any) -> Any:
        return coroutine(**kw)

    assert agent.actions["async_outside"].is_async
    assert agent.actions["async_inside"].is_async
    assert agent.actions["async_inside"].parameters["required"] == ["x"]
    assert agent.act_sync("async_outside", {"x": 1}) == 1
    assert agent.act_sync("async_inside", {"x": 2}) == 2


@pytest.mark.parametrize("name", ["has space", "x" * 65, "", "dot.ted", "<lambda>"])
def test_a_name_outside_the_providers_rule_is_a_value_error(name: str) -> None:
    def fn() -> None:
        pass

    fn.__name__ = name
    with pytest.raises(ValueError, match="1 to 64 letters"):
        serendip.action(fn)
    with pytest.raises(ValueError, match="1 to 64 letters"):
        serendip.action(name=name)(lambda: None)
    with pytest.raises(ValueError, match="1 to 64 letters"):
        Shop().action(fn)


def test_an_unsupported_parameter_fails_when_the_class_body_runs() -> None:
    with pytest.raises(TypeError, match="parameter 'tags': unsupported annotation set"):

        class Bad(Agent):
            @serendip.action
            def tag(self, tags: set[str]) -> None:
                pass


def test_a_hint_naming_a_class_defined_later_in_the_module_resolves_at_first_use() -> None:
    assert Early("e").act_sync("ship", {"parcel": {"weight": 2.5}}) == Parcel(2.5)


class Early(Agent):
    @serendip.action
    def ship(self, parcel: Parcel) -> Parcel:
        return parcel


@dataclasses.dataclass
class Parcel:
    weight: float


def test_the_actions_view_is_read_only_and_live() -> None:
    shop = Shop()
    view = shop.actions
    with pytest.raises(TypeError):
        view["x"] = view["add"]  # type: ignore[index]
    shop.action(name="later")(lambda: None)
    assert "later" in view


# -- tool schemas -------------------------------------------------------------------------------


def test_tool_schemas_in_the_openai_and_anthropic_formats() -> None:
    shop = Shop()
    spec = shop.actions["add"]
    openai = shop.tool_schemas()
    anthropic = shop.tool_schemas("anthropic")
    assert len(openai) == len(anthropic) == len(shop.actions)
    assert openai[0] == {
        "type": "function",
        "function": {"name": "add", "description": spec.description, "parameters": spec.parameters},
    }
    assert anthropic[0] == {
        "name": "add",
        "description": spec.description,
        "input_schema": spec.parameters,
    }
    assert shop.tool_schemas("openai") == openai


def test_tool_schemas_are_copies_that_callers_may_change() -> None:
    shop = Shop()
    shop.tool_schemas()[0]["function"]["parameters"]["properties"].clear()
    assert "a" in shop.actions["add"].parameters["properties"]


def test_an_unknown_tool_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown tool format 'gemini'"):
        Shop().tool_schemas("gemini")  # type: ignore[arg-type]


def test_action_spec_is_a_frozen_dataclass_comparing_without_its_function() -> None:
    spec = ActionSpec("n", "d", {"type": "object"}, False, print)
    assert spec == ActionSpec("n", "d", {"type": "object"}, False, len)
    assert "function" not in repr(spec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "m"  # type: ignore[misc]


# -- act and act_sync: lookup, validation, conversion, errors -----------------------------------


def test_act_validates_converts_and_returns_the_result(call: Callable[..., Any]) -> None:
    shop = Shop()
    assert call(shop, "add", {"a": 1}) == 3
    lines, color = call(shop, "order", {"lines": [{"sku": "x", "qty": 2}], "color": "blue"})
    assert lines == [Line("x", 2)]
    assert color is Color.BLUE


def test_invalid_inputs_raise_action_input_error_naming_the_field(call: Callable[..., Any]) -> None:
    shop = Shop()
    with pytest.raises(ActionInputError) as caught:
        call(shop, "order", {"lines": [{"sku": "x"}, {"sku": "y", "qty": "2"}]})
    assert caught.value.field == "lines.1.qty"
    with pytest.raises(ActionInputError, match="input 'a': is required"):
        call(shop, "add", None)
    with pytest.raises(ActionInputError, match="input 'c': unknown"):
        call(shop, "add", {"a": 1, "c": 2})


def test_an_unknown_action_raises_action_not_found_listing_the_actions(
    call: Callable[..., Any],
) -> None:
    with pytest.raises(ActionNotFound, match="agent 'shop' has no action 'nope'") as caught:
        call(Shop(), "nope", {})
    assert "add, fail, fail_sync, order, wait, where-async, where_sync" in str(caught.value)
    assert isinstance(caught.value, LookupError)


def test_an_agent_without_actions_says_so(call: Callable[..., Any]) -> None:
    with pytest.raises(ActionNotFound, match=r"\(its actions: none\)"):
        call(Agent("plain"), "x")


@pytest.mark.parametrize("action", ["fail", "fail_sync"])
def test_the_actions_own_exception_propagates_unchanged(
    call: Callable[..., Any], action: str
) -> None:
    shop = Shop()
    with pytest.raises(ValueError) as caught:
        call(shop, action)
    assert caught.value is shop.error


# -- where actions run --------------------------------------------------------------------------


def test_a_sync_action_runs_in_the_callers_thread(
    call: Callable[..., Any], background: tuple[LocalMesh, Shop, int]
) -> None:
    _, shop, _ = background
    thread, _ = call(shop, "where_sync")
    assert thread == threading.get_ident()


def test_an_async_action_of_an_agent_on_a_mesh_runs_on_its_home_loop_thread(
    call: Callable[..., Any], background: tuple[LocalMesh, Shop, int]
) -> None:
    mesh, shop, home_thread = background
    thread, loop, ctx = call(shop, "where-async")
    assert thread == home_thread != threading.get_ident()
    assert loop is mesh._runners["shop"].loop


def test_an_async_action_of_an_agent_on_a_mesh_raises_its_own_error_through_the_loop(
    call: Callable[..., Any], background: tuple[LocalMesh, Shop, int]
) -> None:
    _, shop, _ = background
    with pytest.raises(ValueError) as caught:
        call(shop, "fail")
    assert caught.value is shop.error


def test_an_agent_on_a_mesh_gets_a_context_of_its_own_unless_one_is_given(
    call: Callable[..., Any], background: tuple[LocalMesh, Shop, int]
) -> None:
    mesh, shop, _ = background
    for action in ("where_sync", "where-async"):
        ctx = call(shop, action)[-1]
        assert isinstance(ctx, Context)
        assert ctx.agent == "shop"
        assert ctx.mesh is mesh
        given = Context(mesh, "someone")
        assert call(shop, action, ctx=given)[-1] is given


def test_an_agent_on_no_mesh_gets_no_context_unless_one_is_given(
    call: Callable[..., Any],
) -> None:
    shop = Shop()
    assert call(shop, "where_sync")[-1] is None
    assert call(shop, "where-async")[-1] is None
    with LocalMesh() as mesh:
        given = Context(mesh, "someone")
        assert call(shop, "where-async", ctx=given)[-1] is given


def test_act_sync_of_an_async_action_on_no_mesh_runs_it_in_a_fresh_loop_here() -> None:
    thread, loop, _ = Shop().act_sync("where-async")
    assert thread == threading.get_ident()
    assert loop.is_closed(), "asyncio.run's loop, closed once the action finished"


@pytest.mark.asyncio
async def test_await_act_on_no_mesh_runs_an_async_action_on_the_callers_loop() -> None:
    thread, loop, _ = await Shop().act("where-async")
    assert loop is asyncio.get_running_loop()
    assert thread == threading.get_ident()


@pytest.mark.asyncio
async def test_await_act_on_the_home_loop_runs_the_action_right_there() -> None:
    async with LocalMesh() as mesh:
        shop = mesh.add_agent(Shop())
        _, loop, ctx = await shop.act("where-async")
        assert loop is asyncio.get_running_loop()
        assert ctx.mesh is mesh


@pytest.mark.asyncio
async def test_act_sync_on_the_home_loop_thread_refuses_to_deadlock() -> None:
    async with LocalMesh() as mesh:
        shop = mesh.add_agent(Shop())
        with pytest.raises(RuntimeError, match="would deadlock; use 'await agent.act"):
            shop.act_sync("where-async")
        assert shop.act_sync("add", {"a": 1}) == 3, "a sync action is fine anywhere"


@pytest.mark.asyncio
async def test_act_sync_on_no_mesh_with_a_running_loop_refuses_an_async_action() -> None:
    shop = Shop()
    with pytest.raises(RuntimeError, match="on no mesh"):
        shop.act_sync("where-async")
    assert shop.act_sync("where_sync")[0] == threading.get_ident()


def test_cancelling_await_act_cancels_the_action_on_its_home_loop(
    background: tuple[LocalMesh, Shop, int], gate: Gate
) -> None:
    _, shop, _ = background

    async def scenario() -> None:
        task = asyncio.ensure_future(shop.act("wait", {"gate": gate}))
        assert await asyncio.to_thread(shop.started.wait, SAFETY)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert shop.cancelled.wait(SAFETY)
    assert not gate.is_open


# -- the mesh's side: invoke --------------------------------------------------------------------


def test_invoke_calls_sync_actions_and_returns_async_ones_as_coroutines() -> None:
    shop = Shop()
    with LocalMesh() as mesh:
        ctx = Context(mesh, "shop")
        assert invoke(shop, Invocation("add", {"a": 5}), ctx) == 7
        assert invoke(shop, Invocation("where_sync"), ctx)[1] is ctx
        coroutine = invoke(shop, Invocation("where-async", None), ctx)
        assert asyncio.iscoroutine(coroutine)
        assert asyncio.run(coroutine)[2] is ctx
        with pytest.raises(ActionInputError):
            invoke(shop, Invocation("add", {"a": "x"}), ctx)
        with pytest.raises(ActionNotFound):
            invoke(shop, Invocation("nope"), ctx)
    assert repr(Invocation("add", {"a": 5})) == "Invocation('add', {'a': 5})"


def test_has_async_actions_tells_whether_any_action_is_a_coroutine_function() -> None:
    assert has_async_actions(Shop())
    plain = Agent("plain")
    assert not has_async_actions(plain)

    @plain.action
    async def later() -> None:
        pass

    assert has_async_actions(plain)
