"""The mesh-owned loop's selector: running the loop bridge's work while it keeps coming,
fair to other fds, bounded by the loop's timeout, and back to the loop when callbacks wait."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time
from collections.abc import Callable

import serendip
from serendip._home import _KERNEL_EVERY, _PollingSelector


class _BusyBridge:
    """Stands in for a loop bridge that always has work when polled."""

    def __init__(self, on_drain: Callable[[], None] = lambda: None) -> None:
        self.polls = 0
        self.drains = 0
        self._on_drain = on_drain

    def wait_for_items(self, seconds: float) -> bool:
        self.polls += 1
        return True

    def drain_turn(self) -> None:
        self.drains += 1
        self._on_drain()


class _IdleBridge(_BusyBridge):
    def wait_for_items(self, seconds: float) -> bool:
        self.polls += 1
        return False


def _selector_with_other_fd_readable() -> tuple[_PollingSelector, list[socket.socket]]:
    selector = _PollingSelector()
    other_r, other_w = socket.socketpair()
    selector.register(other_r, selectors.EVENT_READ, "other")
    other_w.send(b"x")  # readable from now on
    return selector, [other_r, other_w]


def test_work_found_by_the_poll_is_drained_in_the_select_and_the_kernel_asked_every_few_drains() -> (
    None
):
    selector, sockets = _selector_with_other_fd_readable()
    with selector, sockets[0], sockets[1]:
        bridge = _BusyBridge()
        selector.bridge = bridge  # type: ignore[assignment]
        for turn in range(1, 3):
            assert [key.data for key, _ in selector.select(None)] == ["other"]
            assert bridge.drains == turn * _KERNEL_EVERY
            assert bridge.polls == bridge.drains


def test_a_drain_that_leaves_callbacks_ends_the_select_at_once() -> None:
    selector, sockets = _selector_with_other_fd_readable()
    with selector, sockets[0], sockets[1]:
        bridge = _BusyBridge(on_drain=lambda: selector.ready.append("callback"))
        selector.bridge = bridge  # type: ignore[assignment]
        assert selector.select(None) == []
        assert bridge.drains == 1
        # The drains that ended early still count towards asking the kernel.
        results = [selector.select(None) for _ in range(_KERNEL_EVERY - 1)]
        assert [[key.data for key, _ in r] for r in results[-1:]] == [["other"]]
        assert all(r == [] for r in results[:-1])


def test_the_loop_timeout_bounds_a_select_whose_bridge_keeps_having_work() -> None:
    selector, sockets = _selector_with_other_fd_readable()
    with selector, sockets[0], sockets[1]:
        bridge = _BusyBridge(on_drain=lambda: time.sleep(0.002))
        selector.bridge = bridge  # type: ignore[assignment]
        assert selector.select(0.001) == []  # the loop's timers are due: back to it
        assert bridge.drains == 1


def test_a_poll_that_finds_nothing_asks_the_kernel_and_a_zero_timeout_does_not_poll() -> None:
    selector, sockets = _selector_with_other_fd_readable()
    with selector, sockets[0], sockets[1]:
        idle = _IdleBridge()
        selector.bridge = idle  # type: ignore[assignment]
        assert [key.data for key, _ in selector.select(None)] == ["other"]
        assert (idle.polls, idle.drains) == (1, 0)
        busy = _BusyBridge()
        selector.bridge = busy  # type: ignore[assignment]
        assert [key.data for key, _ in selector.select(0)] == ["other"]
        assert (busy.polls, busy.drains) == (0, 0)


class _Scheduler(serendip.Agent):
    """Answers after scheduling a callback on its loop, which must run without further work."""

    def __init__(self, name: str, ran: threading.Event) -> None:
        super().__init__(name)
        self._ran = ran

    def on_message(self, payload: object, ctx: serendip.Context) -> object:
        asyncio.get_running_loop().call_soon(self._ran.set)
        return payload


def test_a_callback_scheduled_by_a_handler_runs_although_no_more_work_comes() -> None:
    ran = threading.Event()
    with serendip.LocalMesh() as mesh:
        mesh.add_agent(_Scheduler("scheduler", ran))
        for i in range(20):
            ran.clear()
            assert mesh.query_sync("scheduler", i, timeout=10) == i
            assert ran.wait(10), f"the callback of query {i} never ran"
