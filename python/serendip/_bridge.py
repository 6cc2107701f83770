"""Loop bridges: one per event loop, the native ``_core.LoopBridge``.

A bridge queues native work for its loop (ready agents, completed waits, abandoned requests)
and dispatches it itself, natively, when its eventfd is readable (threading rule 3 lives in
bindings/bridge.cpp). This module only finds a loop's bridge and, when it makes one, gives
the loop the bridge's fd to watch; ``LoopBridge.close`` stops the watching.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from . import _core
from ._core import LoopBridge

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["INLINE_BUDGET", "LoopBridge", "bridge_for", "running_bridge", "running_loop"]

# status, payload, error type, error message: as the core reports the end of a wait.
OutcomeTuple = tuple[int, Any, str, str]

# Queries answered inside their own call (a plain handler on the caller's loop) allowed
# between two turns of the loop: a caller that queries in a loop still lets the loop turn.
INLINE_BUDGET: int = _core.INLINE_BUDGET


class Runnable(Protocol):
    """What a bridge drives: an agent homed on its loop."""

    def on_ready(self) -> None: ...
    def abandon(self, request_id: int) -> None: ...


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
    if bridge is not None and bridge.owns(loop):
        return bridge
    bridge = _bridges.get(loop)
    if bridge is None or bridge.closed:
        bridge = _bridges[loop] = LoopBridge(loop)
        loop.add_reader(bridge.fd, bridge.drain_turn)
    _recent = weakref.ref(bridge)
    return bridge


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None (no exception: callers branch on it)."""
    return asyncio._get_running_loop()


def running_bridge() -> LoopBridge:
    """The bridge of the loop running in this thread. Raises RuntimeError outside a loop."""
    return bridge_for(asyncio.get_running_loop())
