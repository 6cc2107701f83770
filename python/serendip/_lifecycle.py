"""Process-wide backstops: close forgotten meshes at exit, disable inherited ones after fork."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

__all__ = ["track"]

logger = logging.getLogger("serendip")


class _Closable(Protocol):
    def close(self) -> None: ...
    def _forget_after_fork(self) -> None: ...


# Weak, so the hooks keep no mesh alive.
_live: weakref.WeakSet[_Closable] = weakref.WeakSet()


def track(mesh: _Closable) -> None:
    """Registers ``mesh`` with the exit and fork hooks."""
    _live.add(mesh)


def _close_all() -> None:
    for mesh in list(_live):
        try:
            mesh.close()
        except Exception:
            logger.exception("serendip: closing %r at exit failed", mesh)


def _after_fork_in_child() -> None:
    for mesh in list(_live):
        mesh._forget_after_fork()
    _live.clear()


# threading's own exit hooks run before non-daemon threads are joined (the stdlib's
# concurrent.futures uses the same hook): a thread blocked in a *_sync call then wakes with
# MeshClosed instead of keeping the interpreter from exiting.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(_close_all)
else:  # pragma: no cover - every supported CPython has it
    import atexit

    atexit.register(_close_all)

os.register_at_fork(after_in_child=_after_fork_in_child)
