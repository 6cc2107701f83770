"""AgentRunner: runs one agent's handlers on its home loop (threading rules 2 and 4).

Plain handlers are called inline by the bridge's drain, a batch at a time. Coroutine handlers
run inside real asyncio Tasks, but not one Task per message: up to ``max_concurrency`` runner
tasks each await handler after handler while the mailbox has work, as a hand-written consumer
loop would. Each handler runs in a fresh copy of the agent's registration context, so context
variables set while handling one message are not seen by the next.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ._context import Context

if TYPE_CHECKING:
    from . import _core
    from ._agent import Agent
    from ._bridge import LoopBridge
    from ._mesh import LocalMesh

__all__ = ["AgentRunner"]

logger = logging.getLogger("serendip")

# Messages a plain handler takes per drain pass, and an async runner between yields to the
# loop: bounds how long one busy agent can keep the loop from other callbacks and I/O.
BATCH = 256


class _InContext:
    """Awaits a coroutine stepping it inside ``context``, on the awaiting Task.

    The Task stays the runner's (so current_task(), timeouts, TaskGroup and cancellation are
    the real asyncio ones) while context variables stay per message.
    """

    __slots__ = ("_coro", "_context")

    def __init__(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context) -> None:
        self._coro = coro
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        run = self._context.run
        coro = self._coro
        send, throw = coro.send, coro.throw
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = run(send, value) if error is None else run(throw, error)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = yield step
            except BaseException as exc:  # forwarded into the handler, as Task would
                error = exc


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
        self.handled = 0
        self.failed = 0
        self._mesh = mesh
        self._core = mesh._core
        self._name = agent.name
        self._context = context
        self._on_message = agent.on_message
        # Unwrapped, so a decorator built with functools.wraps keeps an async handler async.
        self._is_async = inspect.iscoroutinefunction(inspect.unwrap(agent.on_message))
        self._max_concurrency = agent.max_concurrency if self._is_async else 1
        self._started = False
        self._stopped = False
        self._ready_while_starting = False
        self._sync_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[int, asyncio.Task[None]] = {}  # request id -> task handling it
        self._abandoned: set[int] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Runs ``on_start`` (sync or async) then lets messages in. Home loop only."""
        try:
            await self._hook("on_start")
        finally:
            self._started = True
            if self._ready_while_starting:
                self.on_ready()

    async def stop(self, caller: asyncio.Task[Any] | None = None) -> None:
        """Cancels running handlers, waits for them, then runs ``on_stop``. Home loop only.

        ``caller`` is the task asking for the stop; it is never cancelled or awaited, so a
        handler may close its own mesh.
        """
        self._stopped = True
        tasks = [task for task in self._tasks if task is not caller]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._hook("on_stop")

    async def _hook(self, name: str) -> None:
        hook = getattr(self.agent, name, None)
        if hook is None:
            return
        try:
            result = self._context.copy().run(hook, Context(self._mesh, self._name, None))
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
            if len(self._tasks) < self._max_concurrency:
                self._spawn()
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

    def _spawn(self) -> None:
        task = self.loop.create_task(self._run_async(), name=f"serendip:{self._name}")
        self._tasks.add(task)

    def _run_sync(self) -> None:
        # The hot path for plain handlers: one native call pops the batch.
        self._sync_scheduled = False
        envelopes = self.cell.pop_batch(BATCH)
        core = self._core
        try:
            for envelope in envelopes:
                request_id = envelope.request_id
                if request_id and not core.pending(request_id):
                    continue  # already timed out or cancelled: nobody reads the answer
                ctx = Context(self._mesh, self._name, envelope)
                try:
                    result = self._context.copy().run(self._on_message, envelope.payload, ctx)
                    if inspect.iscoroutine(result):
                        result.close()
                        raise TypeError(
                            f"{self._name!r}: on_message is a plain function that returned a "
                            "coroutine; declare it `async def` (or wrap it with functools.wraps)"
                        )
                except BaseException as exc:
                    self._fail(envelope, exc)
                    if not isinstance(exc, (Exception, asyncio.CancelledError)):
                        raise  # KeyboardInterrupt, SystemExit: not the handler's failure
                else:
                    if request_id:
                        core.reply(request_id, result)
        finally:
            self.handled += len(envelopes)
            core.finish(len(envelopes))
        if len(envelopes) == BATCH and not self._stopped:
            # The mailbox stays armed; yield to the loop before the next batch.
            self._sync_scheduled = True
            self.loop.call_soon(self._run_sync)

    async def _run_async(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        cell = self.cell
        try:
            handled = 0
            while not self._stopped:
                envelope = cell.pop()
                if envelope is None:
                    break
                # A free slot must hear of new work while this handler runs: spawn for work
                # already queued, else let the next push arm the mailbox again.
                if len(self._tasks) < self._max_concurrency and not cell.try_idle():
                    self._spawn()
                await self._handle(envelope, task)
                handled += 1
                if handled % BATCH == 0:
                    await asyncio.sleep(0)
        finally:
            self._tasks.discard(task)

    async def _handle(self, envelope: _core.Envelope, task: asyncio.Task[None]) -> None:
        core = self._core
        request_id = envelope.request_id
        try:
            if request_id:
                if not core.pending(request_id):
                    return
                self._running[request_id] = task
            ctx = Context(self._mesh, self._name, envelope)
            try:
                result = await _InContext(
                    self._on_message(envelope.payload, ctx), self._context.copy()
                )
            except asyncio.CancelledError as exc:
                if request_id in self._abandoned:
                    pass  # the asker gave up; its handler saw the cancellation
                elif self._stopped or task.cancelling():
                    raise  # the runner itself is being cancelled (shutdown)
                else:
                    self._fail(envelope, exc)  # the handler's own CancelledError: its failure
            except BaseException as exc:
                self._fail(envelope, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                if request_id:
                    core.reply(request_id, result)
        finally:
            if request_id:
                self._running.pop(request_id, None)
                if request_id in self._abandoned:
                    self._abandoned.discard(request_id)
                    task.uncancel()
            self.handled += 1
            core.finish(1)

    def _fail(self, envelope: _core.Envelope, exc: BaseException) -> None:
        self.failed += 1
        request_id = envelope.request_id
        if request_id:
            self._core.reply_error(request_id, exc, type(exc).__qualname__, str(exc))
            return
        logger.error(
            "agent %r failed on a one-way message: %s: %s",
            self._name,
            type(exc).__qualname__,
            exc,
            exc_info=exc,
            extra={"agent": self._name, "message_id": envelope.message_id},
        )


async def _awaitable_to_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _as_coroutine(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    if inspect.iscoroutine(awaitable):
        return awaitable
    return _awaitable_to_coroutine(awaitable)
