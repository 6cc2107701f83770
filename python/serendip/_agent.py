"""Agent: the base class users subclass to receive messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, get_args, overload

from . import _action, _core

if TYPE_CHECKING:
    from ._action import ActionSpec
    from ._context import Context

__all__ = ["Agent", "Overflow"]

#: A mailbox's overflow policy (see ``Agent``).
Overflow = Literal["wait", "reject", "drop_oldest", "drop_newest"]
_OVERFLOW: tuple[str, ...] = get_args(Overflow)

_F = TypeVar("_F", bound=Callable[..., Any])


class Agent:
    """A named participant of a mesh with a bounded mailbox.

    Override ``on_message(self, message, ctx)`` as a plain ``def`` or an ``async def``; its
    return value is the reply to a ``query``. Handlers run on the agent's *home loop*: the
    asyncio loop running when the agent was added to the mesh, or else the mesh's own
    background loop. So a handler may share asyncio objects with the code on that loop.

    Optional hooks ``on_start(self, ctx)`` and ``on_stop(self, ctx)`` (sync or async) run on
    the home loop when the agent joins and leaves the mesh.

    Optional hook ``on_reminder(self, request, ctx)`` (sync or async): for a request
    submitted with ``LocalMesh.submit(..., reminder_interval=...)``, it runs on the home loop
    every interval while that request is pending, with a ``MeshRequest`` snapshot (its
    ``reminder_count`` counts this reminder). It is never delivered as a message; its
    exceptions are logged, not raised. Agents without it get no reminders.

    Args:
        name: unique within a mesh.
        max_concurrency: how many ``async`` handler invocations may run at once. 1 (the
            default) handles messages strictly one at a time, in mailbox order, even while
            a handler awaits. Plain ``def`` handlers always run one at a time.
        mailbox_size: messages that may wait in the mailbox; beyond that ``overflow`` decides.
        overflow: what a full mailbox does with one more message. ``"wait"`` (the default):
            senders wait (``send_to``, ``query``), block (``*_sync``) or get ``MailboxFull``
            (``send_to_nowait``). ``"reject"``: every sender gets ``MailboxFull`` at once.
            ``"drop_oldest"``: the new message is queued and the oldest queued one dropped;
            ``"drop_newest"``: the new message is dropped. Dropped messages are counted in
            ``metrics()`` and recorded in ``dead_letters``; a dropped query raises
            ``MessageDropped`` in its asker.
    """

    #: Topic patterns every instance subscribes to when it joins a mesh (see ``subscribe``).
    subscriptions: ClassVar[Sequence[str]] = ()

    def __init__(
        self,
        name: str,
        *,
        max_concurrency: int = 1,
        mailbox_size: int = 1024,
        overflow: Overflow = "wait",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("an agent's name must be a non-empty str")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if mailbox_size < 1:
            raise ValueError("mailbox_size must be at least 1")
        if overflow not in _OVERFLOW:
            raise ValueError(f"overflow must be one of {', '.join(map(repr, _OVERFLOW))}")
        self._name = name
        self.max_concurrency = max_concurrency
        self.mailbox_size = mailbox_size
        self.overflow: Overflow = overflow
        # Subscriptions made before joining a mesh, applied (after the class's) when it joins.
        self._topics: list[str] = []

    @property
    def name(self) -> str:
        """The agent's name, unique within its mesh."""
        return self._name

    def subscribe(self, pattern: str) -> bool:
        """Subscribes this agent to a topic pattern; False if it already was.

        Patterns are dot-separated tokens where ``*`` matches one token and a final ``>`` one
        or more (``orders.*``, ``orders.>``). Before the agent joins a mesh the subscription is
        kept and made when it joins (as are the class's ``subscriptions``). Raises ValueError
        for a malformed pattern.
        """
        mesh = getattr(self, "_serendip_mesh", None)
        if mesh is not None:
            return mesh.subscribe(self._name, pattern)  # type: ignore[no-any-return]
        _core.check_pattern(pattern)
        if pattern in self._topics:
            return False
        self._topics.append(pattern)
        return True

    def unsubscribe(self, pattern: str) -> bool:
        """Ends a subscription made by ``subscribe``; False if there was none."""
        mesh = getattr(self, "_serendip_mesh", None)
        if mesh is not None:
            return mesh.unsubscribe(self._name, pattern)  # type: ignore[no-any-return]
        if pattern not in self._topics:
            return False
        self._topics.remove(pattern)
        return True

    def on_message(self, message: Any, ctx: Context) -> Any:
        """Handles one message; the return value answers a query. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must override on_message")

    # -- actions (see serendip.action) -------------------------------------------------------

    @overload
    def action(self, fn: _F, /) -> _F: ...

    @overload
    def action(
        self, fn: None = None, /, *, name: str | None = None, description: str = ""
    ) -> Callable[[_F], _F]: ...

    def action(
        self, fn: _F | None = None, /, *, name: str | None = None, description: str = ""
    ) -> _F | Callable[[_F], _F]:
        """Registers a plain function (no ``self``) as an action of this agent only.

        Use bare (``@agent.action``) or called (``@agent.action(name="x",
        description="...")``); returns the function unchanged. The name defaults to the
        function's, the description to its docstring's summary. Any thread. Raises
        ValueError for a name that is not 1-64 of ``[a-zA-Z0-9_-]`` or that the agent already
        has, TypeError for a parameter an action cannot take.
        """
        return _action.register(self, fn, name, description)

    def native_action(
        self,
        fn: Any,
        /,
        *,
        name: str | None = None,
        description: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Registers compiled code as an action of this agent only (a tool, for an LlmAgent).

        ``fn`` is a C function of the ABI in ``include/serendip/native_action.h``: a ctypes
        function (``ctypes.CDLL(path).my_tool``; its state is NULL) or a PyCapsule named
        ``"serendip.native_action"`` holding the function, its context being the state (what
        a C or C++ extension hands out). ``parameters`` is the JSON Schema of its inputs, an
        object (default: no inputs); inputs are checked against it before the call. A call
        passes the inputs as JSON and runs the function in the calling thread without the
        GIL; its JSON result comes back as Python values, and its error as
        NativeActionError. The name defaults to a ctypes function's. Raises ValueError for a
        bad or taken name or a schema that is not an object's, TypeError for another ``fn``.
        """
        _action.register_native(
            self, fn, name, description, None if parameters is None else dict(parameters)
        )

    @property
    def actions(self) -> Mapping[str, ActionSpec]:
        """The agent's actions by name: its class body's, then its own. A live read-only view."""
        return _action.actions_of(self)

    def tool_schemas(
        self, format: Literal["openai", "anthropic"] = "openai"
    ) -> list[dict[str, Any]]:
        """Every action as a tool definition in ``format``'s shape (fresh copies).

        ``"openai"``: ``{"type": "function", "function": {...}}``; ``"anthropic"``:
        ``{"name", "description", "input_schema"}``. Raises ValueError for another format.
        """
        return _action.tool_schemas(self, format)

    async def act(
        self, name: str, inputs: Mapping[str, Any] | None = None, *, ctx: Context | None = None
    ) -> Any:
        """Runs action ``name`` with ``inputs`` and returns its result.

        The inputs are validated against the action's schema and converted (dataclasses,
        enums, tuples). A parameter named ``ctx`` or annotated ``Context`` gets ``ctx``, else
        a Context of this agent on its mesh, else None. A sync action runs in the caller's
        thread; an async one on the agent's home loop (off a mesh: the caller's loop), and
        cancelling this await cancels it. Raises ActionNotFound, ActionInputError, or what
        the action raised.
        """
        return await _action.act(self, name, inputs, ctx)

    def act_sync(
        self, name: str, inputs: Mapping[str, Any] | None = None, *, ctx: Context | None = None
    ) -> Any:
        """Blocking twin of ``act``; an async action blocks this thread until it is done.

        Raises RuntimeError instead of deadlocking for an async action when called on the
        agent's home loop thread, or on a thread running a loop while the agent is on no mesh.
        """
        return _action.act_sync(self, name, inputs, ctx)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"
