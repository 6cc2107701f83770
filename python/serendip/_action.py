"""Actions: an agent's functions that tools (LLMs, other agents) call by name with JSON inputs.

``@serendip.action`` marks methods in a class body; ``agent.action`` registers plain functions
on one instance, ``agent.native_action`` compiled functions of the C ABI in
``serendip/native_action.h``. An action's spec and schema are built when it is declared (class-body
actions: once per class), never per call. A call looks the action up, validates the inputs
against its schema, converts them and passes them by keyword, with the Context injected into
the parameter that asks for it. Async actions run on the agent's home loop.
"""

from __future__ import annotations

import asyncio
import copy
import ctypes
import dataclasses
import inspect
import json
import re
import threading
import types
import weakref
from _ctypes import CFuncPtr
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _core
from ._bridge import running_loop
from ._context import Context
from ._errors import ActionNotFound
from ._schema import Schema, Signature, convert, signature_for, validate

if TYPE_CHECKING:
    from ._agent import Agent
    from ._mesh import LocalMesh

__all__ = [
    "ActionSpec",
    "Invocation",
    "act",
    "act_sync",
    "action",
    "actions_of",
    "has_async_actions",
    "invoke",
    "register",
    "register_native",
    "tool_schemas",
]

F = TypeVar("F", bound=Callable[..., Any])

# The tool-name rule of the LLM providers (OpenAI's and Anthropic's agree).
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MARK = "__serendip_action__"


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """An action as tools see it: its name, description and the JSON Schema of its inputs.

    ``function`` is what runs (for a class-body action, the method bound to its agent);
    ``is_async`` says whether it is a coroutine function. Immutable; any thread.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    is_async: bool
    function: Callable[..., Any] = dataclasses.field(repr=False, compare=False)

    def openai(self) -> dict[str, Any]:
        """The OpenAI tool entry ``{"type": "function", "function": {...}}`` (a fresh copy)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),
            },
        }

    def anthropic(self) -> dict[str, Any]:
        """The Anthropic tool entry ``{"name", "description", "input_schema"}`` (a fresh copy)."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": copy.deepcopy(self.parameters),
        }


class Invocation:
    """The payload of an invoke request: the action to run on the target and its inputs."""

    __slots__ = ("action", "inputs")

    def __init__(self, action: str, inputs: Mapping[str, Any] | None = None) -> None:
        self.action = action
        self.inputs = inputs

    def __repr__(self) -> str:
        return f"Invocation({self.action!r}, {self.inputs!r})"


# -- declaring ---------------------------------------------------------------------------------


@overload
def action(fn: F, /) -> F: ...


@overload
def action(
    fn: None = None, /, *, name: str | None = None, description: str = ""
) -> Callable[[F], F]: ...


def action(
    fn: F | None = None, /, *, name: str | None = None, description: str = ""
) -> F | Callable[[F], F]:
    """Marks a method in an Agent subclass's body as an action; returns it unchanged.

    Use bare (``@serendip.action``) or called (``@serendip.action(name="x",
    description="...")``). The name defaults to the method's, the description to its
    docstring's summary; parameter descriptions come from the docstring (Google or NumPy
    style). Subclasses inherit actions; a subclass's action of the same name replaces the
    base's, and overriding the method without the decorator removes the action.
    Raises ValueError for a name that is not 1-64 of ``[a-zA-Z0-9_-]``, TypeError for a
    parameter an action cannot take.
    """

    def mark(f: F) -> F:
        setattr(f, _MARK, _Declared(f, name, description))
        return f

    return mark if fn is None else mark(fn)


def register(
    agent: Agent, fn: F | None, name: str | None, description: str
) -> F | Callable[[F], F]:
    """``agent.action``: registers a plain function as an action of ``agent`` only."""

    def add(f: F) -> F:
        _add(agent, *_resolve(f, _checked_name(f, name), description))
        return f

    return add if fn is None else add(fn)


def register_native(
    agent: Agent, fn: Any, name: str | None, description: str, parameters: Schema | None
) -> None:
    """``agent.native_action``: registers a C function of the native-action ABI."""
    if isinstance(fn, CFuncPtr):
        native = _core.NativeAction(ctypes.cast(fn, ctypes.c_void_p).value or 0, fn)
    else:
        native = _core.NativeAction.from_capsule(fn)  # TypeError for anything else
        if name is None:
            raise ValueError("a native action in a PyCapsule needs name=...")
    name = _checked_name(fn, name)
    schema: Schema = {"type": "object", "properties": {}} if parameters is None else parameters
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ValueError(
            f"native action {name!r}: parameters must be a JSON Schema of type 'object'"
        )
    schema = copy.deepcopy(schema)

    def call(**inputs: Any) -> Any:
        return json.loads(native.call(json.dumps(inputs)))

    call.__name__ = call.__qualname__ = name
    spec = ActionSpec(name, description, schema, False, call)
    _add(agent, spec, Signature(schema, description, None, {}))


def _add(agent: Agent, spec: ActionSpec, signature: Signature) -> None:
    """Adds an action to ``agent`` only; ValueError if it has one of that name."""
    registry = _registry(agent)
    with _lock:
        if spec.name in registry.specs:
            raise ValueError(f"{agent!r} already has an action named {spec.name!r}")
        registry.add(spec, signature)


class _Declared:
    """What ``@action`` leaves on a method: its spec and signature, built at once unless a
    hint names a class defined later in the module (then at the class's first use)."""

    __slots__ = ("fn", "name", "description", "built")

    def __init__(self, fn: Callable[..., Any], name: str | None, description: str) -> None:
        self.fn = fn
        self.name = _checked_name(fn, name)
        self.description = description
        self.built: tuple[ActionSpec, Signature] | None = None
        try:
            self.built = _build(fn, self.name, description)
        except NameError:
            pass

    def resolve(self) -> tuple[ActionSpec, Signature]:
        if self.built is None:
            self.built = _resolve(self.fn, self.name, self.description)
        return self.built


def _checked_name(fn: Callable[..., Any], name: str | None) -> str:
    name = getattr(fn, "__name__", None) if name is None else name
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(
            f"action name {name!r} must be 1 to 64 letters, digits, '_' or '-' "
            "(the providers' tool-name rule); pass name=..."
        )
    return name


def _build(fn: Callable[..., Any], name: str, description: str) -> tuple[ActionSpec, Signature]:
    signature = signature_for(fn)
    # Either layer: a functools.wraps decorator may be async around a plain function or
    # plain around a coroutine function.
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))
    spec = ActionSpec(name, description or signature.summary, signature.schema, is_async, fn)
    return spec, signature


def _resolve(fn: Callable[..., Any], name: str, description: str) -> tuple[ActionSpec, Signature]:
    try:
        return _build(fn, name, description)
    except NameError as exc:
        raise TypeError(f"action {name!r}: cannot resolve its type hints: {exc}") from None


# -- collecting --------------------------------------------------------------------------------

# Class-body actions per class, with unbound functions: built once per class, under _lock.
_by_class: weakref.WeakKeyDictionary[type, dict[str, tuple[ActionSpec, Signature]]] = (
    weakref.WeakKeyDictionary()
)
# Guards _by_class, each agent's registry creation and its instance-action additions.
_lock = threading.Lock()


def _class_actions(cls: type) -> dict[str, tuple[ActionSpec, Signature]]:
    found = _by_class.get(cls)
    if found is None:
        found = _by_class[cls] = _collect(cls)
    return found


def _collect(cls: type) -> dict[str, tuple[ActionSpec, Signature]]:
    """The actions of ``cls``'s body and its bases', base first, by Python's attribute rules:
    only the most derived definition of each attribute counts."""
    owner: dict[str, type] = {}
    for klass in cls.__mro__:
        for attr in vars(klass):
            owner.setdefault(attr, klass)
    found: dict[str, tuple[ActionSpec, Signature]] = {}
    declared_by: dict[str, type] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            declared = getattr(value, _MARK, None) if owner[attr] is klass else None
            if not isinstance(declared, _Declared):
                continue
            if declared_by.get(declared.name) is klass:
                raise ValueError(f"{klass.__qualname__} declares action {declared.name!r} twice")
            declared_by[declared.name] = klass
            found[declared.name] = declared.resolve()
    return found


class _Registry:
    """One agent's actions: its class's, bound to it, then those registered on it.

    Written under ``_lock``; read without it: ``add`` stores the signature before the spec,
    so a reader that finds a spec finds its signature.
    """

    __slots__ = ("specs", "signatures", "view")

    def __init__(self) -> None:
        self.specs: dict[str, ActionSpec] = {}
        self.signatures: dict[str, Signature] = {}
        self.view: Mapping[str, ActionSpec] = types.MappingProxyType(self.specs)

    def add(self, spec: ActionSpec, signature: Signature) -> None:
        self.signatures[spec.name] = signature
        self.specs[spec.name] = spec


def _registry(agent: Agent) -> _Registry:
    registry: _Registry | None = vars(agent).get("_serendip_actions")
    if registry is not None:
        return registry
    with _lock:
        registry = vars(agent).get("_serendip_actions")
        if registry is None:
            registry = _Registry()
            for spec, signature in _class_actions(type(agent)).values():
                bound = types.MethodType(spec.function, agent)
                registry.add(dataclasses.replace(spec, function=bound), signature)
            vars(agent)["_serendip_actions"] = registry
    return registry


def actions_of(agent: Agent) -> Mapping[str, ActionSpec]:
    """``agent.actions``: a live read-only view, name to spec."""
    return _registry(agent).view


def has_async_actions(agent: Agent) -> bool:
    """Whether any of ``agent``'s actions is a coroutine function."""
    return any(spec.is_async for spec in list(_registry(agent).specs.values()))


def tool_schemas(agent: Agent, format: str) -> list[dict[str, Any]]:
    """``agent.tool_schemas``: every action in the provider's tool format."""
    specs = list(_registry(agent).specs.values())
    if format == "openai":
        return [spec.openai() for spec in specs]
    if format == "anthropic":
        return [spec.anthropic() for spec in specs]
    raise ValueError(f"unknown tool format {format!r}; expected 'openai' or 'anthropic'")


# -- calling -----------------------------------------------------------------------------------


async def act(
    agent: Agent, name: str, inputs: Mapping[str, Any] | None, ctx: Context | None
) -> Any:
    """``agent.act``: a sync action runs here; an async one on the agent's home loop."""
    mesh, home = _home(agent)
    spec, kwargs = _prepare(agent, name, inputs, ctx, mesh)
    if not spec.is_async:
        return spec.function(**kwargs)
    if home is None or home is asyncio.get_running_loop():
        return await spec.function(**kwargs)
    # Cancelling this await cancels the action's task on its home loop (the futures chain).
    future = asyncio.run_coroutine_threadsafe(spec.function(**kwargs), home)
    return await asyncio.wrap_future(future)


def act_sync(
    agent: Agent, name: str, inputs: Mapping[str, Any] | None, ctx: Context | None
) -> Any:
    """``agent.act_sync``: ``act`` for plain code, blocking on an async action."""
    mesh, home = _home(agent)
    spec, kwargs = _prepare(agent, name, inputs, ctx, mesh)
    if not spec.is_async:
        return spec.function(**kwargs)
    running = running_loop()
    if home is not None:
        if home is running:
            raise RuntimeError(
                f"act_sync({name!r}) on the loop thread that runs agent {agent.name!r} would "
                "deadlock; use 'await agent.act(...)'"
            )
        future = asyncio.run_coroutine_threadsafe(spec.function(**kwargs), home)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C: stop the action too (a no-op once it has finished)
            raise
    if running is not None:
        raise RuntimeError(
            f"act_sync({name!r}) with a loop running in this thread: agent {agent.name!r} is "
            "on no mesh, so its async action would need this very loop; use 'await agent.act(...)'"
        )
    return asyncio.run(spec.function(**kwargs))


def invoke(agent: Agent, invocation: Invocation, ctx: Context) -> Any:
    """Runs an invoke request's action; home loop only, inside the handler slot.

    Returns the function's result as is: for an async action the coroutine, which the caller
    awaits. ActionNotFound, ActionInputError and a sync action's exceptions raise here.
    """
    spec, kwargs = _prepare(agent, invocation.action, invocation.inputs, ctx, None)
    return spec.function(**kwargs)


def _prepare(
    agent: Agent,
    name: str,
    inputs: Mapping[str, Any] | None,
    ctx: Context | None,
    mesh: LocalMesh | None,
) -> tuple[ActionSpec, dict[str, Any]]:
    """Looks the action up, validates and converts ``inputs``; returns the spec and kwargs.

    The context parameter gets ``ctx``, else a Context for the agent on ``mesh``, else None.
    """
    registry = _registry(agent)
    spec = registry.specs.get(name)
    if spec is None:
        known = ", ".join(sorted(registry.specs)) or "none"
        raise ActionNotFound(
            f"agent {agent.name!r} has no action {name!r} (its actions: {known})"
        )
    signature = registry.signatures[name]
    values = {} if inputs is None else inputs
    validate(spec.parameters, values, name)
    kwargs = convert(signature, values)
    if signature.context is not None:
        if ctx is None and mesh is not None:
            ctx = Context(mesh, agent.name)
        kwargs[signature.context] = ctx
    return spec, kwargs


def _home(agent: Agent) -> tuple[LocalMesh | None, asyncio.AbstractEventLoop | None]:
    """The mesh ``agent`` belongs to and its home loop; (None, None) when on no mesh."""
    from ._mesh import LocalMesh  # here, not at the top: _mesh imports _agent, which imports us

    mesh = getattr(agent, "_serendip_mesh", None)
    if not isinstance(mesh, LocalMesh):
        return None, None
    runner = mesh._runners.get(agent.name)
    return mesh, None if runner is None else runner.loop
