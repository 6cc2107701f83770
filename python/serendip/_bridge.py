"""The Python side of a loop bridge: one per event loop, drained when its eventfd is readable.

Threading rule 3 lives here: the core writes the bridge's eventfd only on the idle->armed
transition, and ``_drain`` takes the whole batch at once with the GIL held, on the loop's own
thread. Nothing else ever calls into a loop from another thread; work posted from the loop's
own thread schedules ``_drain`` with ``call_soon`` instead of writing the fd, or, for a query
from that thread, drains at once (``_wake_locally``).
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from . import _core

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["LoopBridge", "bridge_for", "running_bridge", "running_loop"]

# status, payload, error type, error message: as the core reports the end of a wait.
OutcomeTuple = tuple[int, Any, str, str]


# Inline drains (see LoopBridge._wake_locally) allowed between two turns of the loop.
INLINE_BUDGET = 16


class Runnable(Protocol):
    """What the bridge drives: an agent homed on this loop."""

    def on_ready(self) -> None: ...
    def abandon(self, request_id: int) -> None: ...


class LoopBridge:
    """Delivers native work (ready agents, completed waits, abandoned requests) to one loop.

    Loop thread only, except ``core`` (thread-safe) and construction (see ``bridge_for``).
    """

    __slots__ = (
        "core",
        "closed",
        "inline_ok",
        "_inline_budget",
        "_draining",
        "_loop",
        "runners",
        "_waits",
        "_tokens",
        "__weakref__",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core = _core.LoopBridge()
        self.closed = False  # only close() closes the core
        # Weak: the registry below maps loop -> bridge weakly, which a strong back-reference
        # would defeat (the loop, and with it the bridge, would never be freed).
        self._loop = weakref.ref(loop)
        self.runners: dict[int, Runnable] = {}
        self._waits: dict[int, asyncio.Future[OutcomeTuple]] = {}
        self._tokens: Iterator[int] = itertools.count(1)
        # Set by a query from this loop's thread while it posts (see _wake_locally).
        self.inline_ok = False
        self._inline_budget = INLINE_BUDGET
        self._draining = False
        loop.add_reader(self.core.fd, self.drain_turn)
        # Work posted by this loop's own thread skips the fd (see _wake_locally).
        self.core.set_local_wake(self._wake_locally)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The bridge's loop (alive while anything can still use the bridge)."""
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the loop of this bridge no longer exists")
        return loop

    def new_wait(self) -> tuple[asyncio.Future[OutcomeTuple], _core.Waiter, int]:
        """A future on this loop and the native waiter that resolves it."""
        token = next(self._tokens)
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the loop of this bridge no longer exists")
        future: asyncio.Future[OutcomeTuple] = loop.create_future()
        self._waits[token] = future
        return future, self.core.waiter(token), token

    def forget(self, token: int) -> None:
        """Drops a wait whose future is no longer awaited (a late completion is ignored)."""
        self._waits.pop(token, None)

    def _wake_locally(self) -> None:
        """Work was posted from this loop's own thread: drain it on the next turn, or now.

        Now, inside the posting call, when a query from this thread posts (``inline_ok``) and
        no drain is under way: the target's plain handler runs at once and the answer is
        there before the caller awaits, so the round trip takes no turn of the loop. At most
        INLINE_BUDGET such drains between two turns: a caller querying in a loop still yields.
        Never raises: the core calls it, and an escaping exception is re-raised on the loop.
        """
        if self.inline_ok and not self._draining and self._inline_budget > 0:
            self._inline_budget -= 1
            try:
                self._drain()
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: the loop's to raise
                self.loop.call_soon(_reraise, exc)
            return
        self.loop.call_soon(self.drain_turn)

    def drain_turn(self) -> None:
        """A drain in a turn of its own (the fd's reader, or scheduled)."""
        self._inline_budget = INLINE_BUDGET
        self._drain()

    def _drain(self) -> None:
        # Two passes: the second takes what the first produced, such as the answer to a query
        # from this loop, which would otherwise wait for the next turn. Between the two, posts
        # wake no one; the second pass re-arms whatever happens.
        self._draining = True
        try:
            try:
                self._dispatch(self.core.drain(False))
            finally:
                self._dispatch(self.core.drain(True))
        finally:
            self._draining = False

    def _dispatch(self, items: list[tuple[Any, ...]]) -> None:
        # The hot loop of the bridge: one call per batch, so keep lookups local.
        runners = self.runners
        waits = self._waits
        for item in items:
            kind = item[0]
            try:
                if kind == 0:
                    runner = runners.get(item[1])
                    if runner is not None:
                        runner.on_ready()
                elif kind == 1:
                    future = waits.pop(item[1], None)
                    if future is not None and not future.done():
                        future.set_result(item[2])
                else:
                    runner = runners.get(item[1])
                    if runner is not None:
                        runner.abandon(item[2])
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # a bug must not lose the rest of the batch
                self.loop.call_exception_handler(
                    {"message": "serendip: error while dispatching native work", "exception": exc}
                )

    def close(self) -> None:
        """Stops watching the fd and drops queued work. Loop thread only."""
        self.closed = True
        self.core.close()
        if not self.loop.is_closed():
            self.loop.remove_reader(self.core.fd)
        for future in self._waits.values():
            future.cancel()
        self._waits.clear()


def _reraise(exc: BaseException) -> None:
    raise exc


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBridge] = (
    weakref.WeakKeyDictionary()
)


# The bridge asked for last, held weakly: nearly every call comes from the loop of the call
# before, and checking it costs a fraction of the registry's weak-keyed lookup.
_recent: Callable[[], LoopBridge | None] = lambda: None


def bridge_for(loop: asyncio.AbstractEventLoop) -> LoopBridge:
    """The loop's bridge, created on first use. Call on the loop's thread (or before it runs)."""
    global _recent
    bridge = _recent()
    if bridge is not None and bridge._loop() is loop and not bridge.closed:
        return bridge
    bridge = _bridges.get(loop)
    if bridge is None or bridge.closed:
        bridge = _bridges[loop] = LoopBridge(loop)
    _recent = weakref.ref(bridge)
    return bridge


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None (no exception: callers branch on it)."""
    return asyncio._get_running_loop()


def running_bridge() -> LoopBridge:
    """The bridge of the loop running in this thread. Raises RuntimeError outside a loop."""
    return bridge_for(asyncio.get_running_loop())
