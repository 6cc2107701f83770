"""The mesh-owned event loop: home of agents added where no loop is running."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import selectors
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._bridge import LoopBridge, bridge_for

__all__ = ["BackgroundLoop"]

T = TypeVar("T")


# How long tasks left on a stopping background loop may take to finish by themselves.
_SHUTDOWN_GRACE = 5.0


class _PollingSelector(selectors.DefaultSelector):
    """The background loop's selector: runs its loop bridge's work while it keeps coming.

    A plain script's ``query_sync`` and this loop hand each other work within microseconds;
    sleeping in the selector between the two would make every hand-over wake a sleeping
    thread (several microseconds, most of such a round trip). So before sleeping the selector
    polls the bridge for a moment with the GIL released (the policy is the core's,
    spin_wait.hpp): an idle mesh still sleeps. A timer is never late for the draining below
    (the select keeps to its timeout); a socket waits at most _KERNEL_EVERY drains. What the poll finds is drained here, inside the select, and the poll resumes:
    a blocking caller's answer goes back without two turns of asyncio around each hand-over.
    The select returns as soon as the drain left callbacks for the loop to run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bridge: LoopBridge | None = None  # set once the loop's bridge exists
        # The loop's queue of callbacks to run (asyncio's own deque, never rebound).
        self.ready: collections.deque[object] = collections.deque()
        self._kernel_skipped = 0  # drains in a row without asking the kernel

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        bridge = self.bridge
        if bridge is None or (timeout is not None and timeout <= 0):
            return self._from_kernel(timeout)
        end = None if timeout is None else time.monotonic() + timeout
        while bridge.wait_for_items(_POLL_CAP if timeout is None else timeout):
            # Posts made while the bridge polled did not write its fd: this drain is their
            # only wake-up. Asking the kernel about the other fds (sockets, pipes, the loop's
            # own wake-up) costs a system call, half of a quick hand-over's loop side: it is
            # left to every _KERNEL_EVERY-th drain (and to every select that finds nothing).
            bridge.drain_turn()
            if self._kernel_skipped >= _KERNEL_EVERY - 1:
                return self._from_kernel(0)
            self._kernel_skipped += 1
            if self.ready:
                return []
            if end is not None:
                timeout = end - time.monotonic()
                if timeout <= 0:
                    return []
        return self._from_kernel(timeout)

    def _from_kernel(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        self._kernel_skipped = 0
        return super().select(timeout)


# Bounds wait_for_items when the loop would sleep with no deadline (the core's own, shorter
# budget decides in practice).
_POLL_CAP = 1.0

# While bridge work keeps coming, the other fds (sockets, pipes) are asked about at least
# every this many drains.
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
        # Read here, not on the loop's thread: an asyncio without it fails this call instead
        # of the thread this call waits for.
        self._selector.ready = self.loop._ready  # type: ignore[attr-defined]
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"serendip-{name}", daemon=True)
        self.thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        # Registers the reader from the loop's own thread.
        self._selector.bridge = bridge_for(self.loop)
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
