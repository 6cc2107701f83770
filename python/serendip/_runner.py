"""AgentRunner: runs one agent's handlers on its home loop (threading rules 2 and 4).

The per-message work is native (``_core.Dispatcher``): it pops the mailbox, calls the handler
in a fresh copy of the agent's registration context (so context variables set while handling
one message are not seen by the next) and answers requests. Plain handlers run a batch per
drain pass. Coroutine handlers run inside real asyncio Tasks, but not one Task per message: up
to ``max_concurrency`` runner tasks each ask the dispatcher for work, which steps handler after
handler inside the calling task and hands back only those that suspend, as a native
``HandlerStep`` the task awaits. A query from a Task on the home loop while the one runner is
parked takes that runner's place instead (``query_here``): the handler runs in the asking Task.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from . import _action, _core

if TYPE_CHECKING:
    from ._agent import Agent
    from ._bridge import LoopBridge
    from ._mesh import LocalMesh

__all__ = ["AgentRunner"]

logger = logging.getLogger("serendip")

# Messages a plain handler takes per drain pass, and an async runner between yields to the
# loop: bounds how long one busy agent can keep the loop from other callbacks and I/O.
BATCH = 256

class _InContext:
    """Awaits a coroutine (a hook's) stepping it inside ``context``, on the awaiting Task.

    The Task stays the runner's (so current_task(), timeouts, TaskGroup and cancellation are
    the real asyncio ones) while context variables stay the hook's own. Handlers are stepped
    the same way by the native ``HandlerStep``.
    """

    __slots__ = ("_coro", "_context")

    def __init__(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context) -> None:
        self._coro = coro
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        run = self._context.run
        send, throw = self._coro.send, self._coro.throw
        try:
            step = run(send, None)
            while True:
                try:
                    value = yield step
                except BaseException as exc:  # forwarded into the hook, as Task would
                    step = run(throw, exc)
                else:
                    step = run(send, value)
        except StopIteration as stop:
            return stop.value


class AgentRunner:
    """Drives one agent on its home loop. Home loop thread only, except ``agent``/``cell``."""

    def __init__(
        self,
        mesh: LocalMesh,
        agent: Agent,
        cell: _core.AgentRef,
        bridge: LoopBridge,
        context: contextvars.Context,
    ) -> None:
        self.agent = agent
        self.cell = cell
        self.bridge = bridge
        self.loop = bridge.loop
        self._mesh = mesh
        self._name = agent.name
        self._context = context
        # Unwrapped, so a decorator built with functools.wraps keeps an async handler async.
        self._is_async = inspect.iscoroutinefunction(inspect.unwrap(agent.on_message))
        self._max_concurrency = agent.max_concurrency if self._is_async else 1
        self._dispatcher = _core.Dispatcher(
            mesh._core,
            cell,
            agent.on_message,
            functools.partial(_action.invoke, agent),
            _action.Invocation,
            context,
            mesh,
            self._on_failure,
            self._spawn_if_free,
            self._defer,
            self._max_concurrency,
        )
        self._started = False
        self._stopped = False
        self._ready_while_starting = False
        self._sync_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        # One idle runner task waits here for the next ready instead of ending: waking it is
        # cheaper than creating a Task per burst of work.
        self._parked: asyncio.Future[None] | None = None
        self._parked_task: asyncio.Task[None] | None = None
        # The request whose handler runs in an asking Task in the parked runner's place
        # (query_here; its Task is in _running), or 0: meanwhile the parked runner sleeps on.
        # What stop() waits on for that handler's end, made only when stop() needs it.
        self._lent = 0
        self._loan_ended: asyncio.Future[None] | None = None
        self._running: dict[int, asyncio.Task[Any]] = {}  # request id -> task handling it
        self._abandoned: set[int] = set()
        self._drained: asyncio.Future[None] | None = None  # what drain() awaits
        self._hooks: set[asyncio.Task[None]] = set()  # async on_error hooks still running

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Runs ``on_start`` (sync or async) then lets messages in. Home loop only."""
        try:
            await self._hook("on_start")
        finally:
            self._started = True
            if self._ready_while_starting:
                self.on_ready()

    async def drain(self) -> None:
        """Returns once the mailbox is empty and no handler runs. Home loop only.

        For a detached agent (no new messages reach it): what is queued is handled first.
        """
        while not self._stopped and not self._is_drained():
            self._drained = self.loop.create_future()
            await self._drained

    def _is_drained(self) -> bool:
        busy = len(self._tasks) - (1 if self._parked is not None else 0)
        return busy == 0 and not self._sync_scheduled and self.cell.size() == 0

    def _notify_drained(self) -> None:
        waiter = self._drained
        if waiter is not None and not waiter.done() and (self._stopped or self._is_drained()):
            self._drained = None
            waiter.set_result(None)

    async def stop(self, caller: asyncio.Task[Any] | None = None) -> None:
        """Cancels running handlers, waits for them, then runs ``on_stop``. Home loop only.

        ``caller`` is the task asking for the stop; it is never cancelled or awaited, so a
        handler may close its own mesh.
        """
        if self._stopped:
            return  # a removal and the mesh's close may both ask
        self._stopped = True
        self._notify_drained()
        self._dispatcher.stop()
        # A parked runner is idle: cancelled, but not waited for (its loop may be stopping).
        idle = self._parked_task if self._parked is not None else None
        self._parked = None
        busy: list[asyncio.Future[Any]] = [
            task for task in self._tasks if task is not caller and task is not idle
        ]
        # A handler running in an asking Task (query_here) is abandoned and waited for like a
        # runner's, unless it is the one stopping its own agent: nothing may wait for it then.
        if self._lent and self._running[self._lent] is not caller:
            self.abandon(self._lent)
            self._loan_ended = self.loop.create_future()
            busy.append(self._loan_ended)
        for task in self._tasks:
            if task is not caller:
                task.cancel()
        if busy:
            await asyncio.gather(*busy, return_exceptions=True)
        await self._hook("on_stop")

    async def _hook(self, name: str) -> None:
        hook = getattr(self.agent, name, None)
        if hook is None:
            return
        try:
            result = self._context.copy().run(hook, _core.Context(self._mesh, self._name))
            if inspect.isawaitable(result):
                await _InContext(_as_coroutine(result), self._context.copy())
        except Exception:
            logger.exception("agent %r: %s failed", self._name, name, extra={"agent": self._name})

    # -- dispatch ----------------------------------------------------------------------------

    def on_ready(self) -> None:
        """The mailbox went idle -> armed. Called by the bridge's drain."""
        if self._stopped:
            return
        if not self._started:
            self._ready_while_starting = True
            return
        if self._is_async:
            parked, self._parked = self._parked, None
            if parked is not None and not parked.done():
                parked.set_result(None)
            else:
                self._spawn_if_free()
        elif not self._sync_scheduled:
            self._run_sync()

    def abandon(self, request_id: int) -> None:
        """Nobody waits for ``request_id`` any more: cancel the handler working on it, if any.

        The runner task is suspended inside that handler (this runs on the same loop), so the
        CancelledError lands in the handler, not between two messages.
        """
        task = self._running.get(request_id)
        if task is not None and request_id not in self._abandoned:
            self._abandoned.add(request_id)
            task.cancel()

    async def query_here(
        self, payload: Any, sender: str | None, timeout: float | None
    ) -> tuple[int, Any, Any] | None:
        """Asks this agent from a Task on its home loop while its runner is parked: the handler
        runs in the asking Task, in the parked runner's place. Returns what ``_core.Mesh.query``
        returns, or None, asking nothing, when the loop must turn first (a Task asking in a
        loop handlers that never suspend would otherwise starve it) or the stack is half as
        deep as Python allows. Home loop only, and only while ``_parked`` is set.

        The handler is stepped as the runner steps it (the same context copy, statistics and
        answer) with no Task switch on the way in or out, so a query to an idle async agent
        costs about what a plain call through a coroutine does. Cancelling the asker cancels
        the handler, and the asker gets its CancelledError even if the handler swallowed it;
        the request's end (deadline, close, removal) cancels the handler through ``abandon``,
        as it would cancel a runner's Task, and the asker gets that outcome once the handler
        has ended.
        """
        wake = self._parked
        assert wake is not None
        self._parked = None  # lent: the runner sleeps on until _give_back
        try:
            asked = self._dispatcher.ask(self.bridge, payload, sender, timeout)
        except BaseException:
            self._give_back(wake)
            raise
        if asked is None or type(asked[1]) is not _core.HandlerStep:
            self._give_back(wake)  # it ended inside the call, or others were queued first
            return asked
        request_id, step, waiter = asked
        task = asyncio.current_task()
        assert task is not None
        self._lent = request_id
        self._running[request_id] = task
        # Two rules tell the asker's cancellation. A CancelledError out of the handler while
        # any is asked for is the asker's, one asked for before the query too (_unsettled
        # counts none as earlier than the step). Once the handler has ended otherwise, only
        # a count above this one is (what an abandonment adds, _done_with takes back), as
        # asyncio.timeout compares: Python 3.11's TaskGroup can leave one behind.
        cancelling = task.cancelling()
        abandoned = False
        try:
            await step
        except BaseException as exc:
            abandoned = request_id in self._abandoned
            if self._unsettled(step, exc, task):
                if isinstance(exc, asyncio.CancelledError):
                    self._mesh._core.cancel(request_id)  # the asker's, unlike a runner's, ends it
                raise
        finally:
            self._lent = 0
            self._done_with(request_id, task)
            self._give_back(wake)
        answered = self.bridge.answer_or_listen(waiter, request_id)
        # Cancelled while the handler ran, and kept from the asker by the abandonment or by a
        # handler that swallowed it and answered. A failure stays the outcome: a 3.11
        # TaskGroup whose child failed leaves its count behind.
        if task.cancelling() > cancelling and (
            abandoned or (not answered[2] and answered[1][0] == _core.STATUS_OK)
        ):
            raise asyncio.CancelledError
        return answered

    def _give_back(self, wake: asyncio.Future[None]) -> None:
        """Ends a loan of the parked runner's place (query_here)."""
        if self._loan_ended is not None:
            self._loan_ended.set_result(None)  # stop() waits on it
            self._loan_ended = None
        if wake.done():  # the parked runner was cancelled meanwhile (its loop is ending)
            self._tasks.discard(self._parked_task)  # it held the asker's place until now
            if not self._stopped and not self._dispatcher.try_idle():
                self._spawn_if_free()  # the claimed mailbox readies no one: start a runner
        elif self._stopped or len(self._tasks) > 1 or not self._dispatcher.try_idle():
            wake.set_result(None)  # the runner goes on with what is left, or to its end
        else:
            self._parked = wake
        if self._drained is not None:
            self._notify_drained()

    def _spawn_if_free(self) -> None:
        if len(self._tasks) < self._max_concurrency:
            task = self.loop.create_task(self._run_async(), name=f"serendip:{self._name}")
            self._tasks.add(task)

    def _defer(self, step: _core.HandlerStep) -> None:
        """Runs an async action invoked on an agent with a plain handler, as a task of its own."""
        request_id = step.request_id

        async def run() -> None:
            try:
                await step
            except BaseException as exc:
                if self._unsettled(step, exc, task):
                    raise

        def ended(_: asyncio.Task[None]) -> None:
            if task.cancelled():
                # Cancelled before its first step, the task never ran run()'s body: the
                # action's coroutine is closed unstarted, and the step settled here (a step
                # settles once), or its message would stay counted and wait_idle would wait
                # for it forever.
                step.close()
                self._unsettled(step, asyncio.CancelledError(), task)
            if request_id:
                self._done_with(request_id, task)
            self._tasks.discard(task)
            if self._drained is not None:
                self._notify_drained()

        task = self.loop.create_task(run(), name=f"serendip:{self._name}:action")
        # Known before the task starts, so that an abandon meanwhile cancels it.
        if request_id:
            self._running[request_id] = task
        self._tasks.add(task)
        task.add_done_callback(ended)

    def _run_sync(self) -> None:
        # The hot path for plain handlers: one native call handles the batch.
        self._sync_scheduled = False
        taken = BATCH
        try:
            taken = self._dispatcher.run_sync(BATCH)
        finally:
            if taken == BATCH and not self._stopped:
                # The mailbox stays armed; yield to the loop before the next batch.
                self._sync_scheduled = True
                self.loop.call_soon(self._run_sync)
            elif self._drained is not None:
                self._notify_drained()

    async def _run_async(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        dispatcher = self._dispatcher
        try:
            while not self._stopped:
                step = dispatcher.run_async(BATCH)
                if step is None:
                    # The mailbox is idle: its next push arms it and calls on_ready.
                    if self._parked is not None or len(self._tasks) > 1:
                        break
                    self._parked = wake = self.loop.create_future()
                    self._parked_task = task
                    if self._drained is not None:
                        self._notify_drained()
                    await wake
                elif isinstance(step, int):
                    await asyncio.sleep(0)  # a batch completed without suspending: yield
                else:
                    # Awaited here, not in a helper coroutine: between this Task and the
                    # handler there is only this frame and the native step.
                    request_id = step.request_id
                    if request_id:
                        self._running[request_id] = task
                    before = task.cancelling()
                    try:
                        await step
                    except BaseException as exc:
                        if self._unsettled(step, exc, task, before):
                            raise
                    finally:
                        if request_id:
                            self._done_with(request_id, task)
        finally:
            # A runner lent to an asking Task (query_here) holds its place until _give_back.
            if not self._lent or task is not self._parked_task:
                self._tasks.discard(task)
            if self._drained is not None:
                self._notify_drained()

    def _unsettled(
        self,
        step: _core.HandlerStep,
        exc: BaseException,
        task: asyncio.Task[Any],
        before: int = 0,
    ) -> bool:
        """Settles ``step`` after ``exc`` ended the await (a step settles its handler's return
        and Exceptions itself); returns whether ``exc`` must go on. ``before``: the
        cancellations of ``task`` asked for before the step, which are not its own (a runner
        Task keeps one that a Python 3.11 TaskGroup left behind in an earlier handler)."""
        if isinstance(exc, asyncio.CancelledError):
            if step.request_id in self._abandoned:
                step.settle(None, None, True)  # the asker gave up; its handler saw the cancellation
                return False
            if self._stopped or task.cancelling() > before:
                step.settle(None, None, False)  # shutdown: the close ends the request
                return True
            step.settle(None, exc, True)  # the handler's own CancelledError: its failure
            return False
        step.settle(None, exc, True)
        return not isinstance(exc, Exception)  # KeyboardInterrupt, SystemExit: the loop's too

    def _done_with(self, request_id: int, task: asyncio.Task[Any]) -> None:
        """The handler of ``request_id`` is done: forget its task, and its abandonment."""
        if request_id in self._abandoned:
            self._abandoned.discard(request_id)
            task.uncancel()
        self._running.pop(request_id, None)

    def _on_failure(self, exc: BaseException, message: Any, ctx: _core.Context) -> None:
        """A one-way message's handler raised: the agent's ``on_error`` hook, else a log record.

        Called by the dispatcher, on the home loop. An async hook runs as a task of its own.
        """
        hook = getattr(self.agent, "on_error", None)
        if hook is None:
            logger.error(
                "agent %r failed on a one-way message: %s: %s",
                self._name,
                type(exc).__qualname__,
                exc,
                exc_info=exc,
                extra={"agent": self._name, "message_id": ctx.message_id},
            )
            return
        try:
            result = self._context.copy().run(hook, exc, message, ctx)
            if inspect.isawaitable(result):
                task = self.loop.create_task(
                    self._await_hook(result, ctx), name=f"serendip:{self._name}:on_error"
                )
                self._hooks.add(task)
                task.add_done_callback(self._hooks.discard)
        except Exception:
            self._log_hook_failure(ctx)

    async def _await_hook(self, result: Awaitable[Any], ctx: _core.Context) -> None:
        try:
            await _InContext(_as_coroutine(result), self._context.copy())
        except Exception:
            self._log_hook_failure(ctx)

    def _log_hook_failure(self, ctx: _core.Context) -> None:
        logger.exception(
            "agent %r: on_error failed",
            self._name,
            extra={"agent": self._name, "message_id": ctx.message_id},
        )


async def _awaitable_to_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _as_coroutine(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    if inspect.iscoroutine(awaitable):
        return awaitable
    return _awaitable_to_coroutine(awaitable)
