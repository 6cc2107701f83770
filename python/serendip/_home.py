"""The mesh-owned event loop: home of agents added where no loop is running."""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from . import _core
from ._bridge import bridge_for

__all__ = ["BackgroundLoop"]

T = TypeVar("T")


# How long tasks left on a stopping background loop may take to finish by themselves.
_SHUTDOWN_GRACE = 5.0


class _PollingSelector(selectors.DefaultSelector):
    """The background loop's selector: polls its loop bridge for a moment before sleeping.

    A plain script's ``query_sync`` and this loop hand each other work within microseconds;
    sleeping in the selector between the two would make every hand-over wake a sleeping
    thread (several microseconds, most of such a round trip). The poll lasts at most a few
    dozen microseconds with the GIL released (the policy is the core's, spin_wait.hpp), so an
    idle mesh still sleeps, and a timer or socket falls due at most that much late.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bridge: _core.LoopBridge | None = None  # set once the loop's bridge exists
        self._kernel_skipped = 0  # selects in a row answered by the poll alone

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        bridge = self.bridge
        if bridge is None or (timeout is not None and timeout <= 0):
            return self._from_kernel(timeout)
        if not bridge.wait_for_items(_POLL_CAP if timeout is None else timeout):
            return self._from_kernel(timeout)
        # Work came while polling. What was posted meanwhile did not write the fd, so the
        # bridge's reader is reported here whether or not the fd is readable. Asking the
        # kernel about the other fds costs a system call, half of a quick hand-over's loop
        # side: it is left to every _KERNEL_EVERY-th such select (and to every other select).
        key = self.get_map().get(bridge.fd)
        if key is not None and self._kernel_skipped < _KERNEL_EVERY - 1:
            self._kernel_skipped += 1
            return [(key, selectors.EVENT_READ)]
        ready = self._from_kernel(0)
        if key is not None and all(k is not key for k, _ in ready):
            ready.append((key, selectors.EVENT_READ))
        return ready

    def _from_kernel(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        self._kernel_skipped = 0
        return super().select(timeout)


# Bounds wait_for_items when the loop would sleep with no deadline (the core's own, shorter
# budget decides in practice).
_POLL_CAP = 1.0

# While bridge work keeps coming, the other fds (sockets, pipes) are asked about at least
# every this many turns of the loop.
_KERNEL_EVERY = 8


class BackgroundLoop:
    """An asyncio loop running on a daemon thread, started at construction.

    Daemon, because ``threading._shutdown`` joins non-daemon threads before exit hooks run:
    a non-daemon loop thread would hang interpreter exit unless the user closed the mesh.
    The mesh's exit hook stops it cleanly instead. A ``SelectorEventLoop`` whatever the event
    loop policy (a uvloop policy included): its selector is the polling one above.
    """

    def __init__(self, name: str) -> None:
        self._selector = _PollingSelector()
        self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop(self._selector)
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"serendip-{name}", daemon=True)
        self.thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        # Registers the reader from the loop's own thread.
        self._selector.bridge = bridge_for(self.loop).core
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            # A stop scheduled from this thread (a handler closing its mesh) still runs to
            # its end; what remains after the grace is cancelled, as asyncio.run does.
            pending = asyncio.all_tasks(self.loop)
            if pending:
                self.loop.run_until_complete(asyncio.wait(pending, timeout=_SHUTDOWN_GRACE))
                for task in pending:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            bridge_for(self.loop).close()
            self.loop.close()

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float | None) -> T:
        """Runs ``fn()`` on the loop and blocks for its result. Not from the loop's thread."""
        future = asyncio.run_coroutine_threadsafe(fn(), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout: float) -> None:
        """Stops the loop and joins its thread (bounded by ``timeout``). Any thread but its own."""
        if self.loop.is_closed():
            return
        if self.thread is threading.current_thread():
            self.loop.stop()
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # closed meanwhile
            return
        self.thread.join(timeout)
