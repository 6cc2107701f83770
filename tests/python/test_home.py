"""The mesh-owned loop's selector: polling the loop bridge before sleeping, fair to other fds."""

from __future__ import annotations

import selectors
import socket
from typing import Any

from serendip._home import _KERNEL_EVERY, _PollingSelector


class _BusyBridge:
    """Stands in for a loop bridge that always has work when polled."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.polls = 0

    def wait_for_items(self, seconds: float) -> bool:
        self.polls += 1
        return True


def test_a_bridge_with_work_is_reported_even_when_its_fd_was_never_written() -> None:
    wake_r, wake_w = socket.socketpair()
    with wake_r, wake_w, _PollingSelector() as selector:
        selector.register(wake_r, selectors.EVENT_READ, "bridge")
        bridge = _BusyBridge(wake_r.fileno())
        selector.bridge = bridge  # type: ignore[assignment]
        ready = selector.select(None)
        assert [(key.data, events) for key, events in ready] == [("bridge", selectors.EVENT_READ)]
        assert bridge.polls == 1


def test_other_fds_are_heard_at_least_every_few_selects_while_the_bridge_keeps_having_work() -> (
    None
):
    wake_r, wake_w = socket.socketpair()
    other_r, other_w = socket.socketpair()
    with wake_r, wake_w, other_r, other_w, _PollingSelector() as selector:
        selector.register(wake_r, selectors.EVENT_READ, "bridge")
        selector.register(other_r, selectors.EVENT_READ, "other")
        selector.bridge = _BusyBridge(wake_r.fileno())  # type: ignore[assignment]
        other_w.send(b"x")  # readable from now on
        heard: list[list[Any]] = [
            sorted(key.data for key, _ in selector.select(None)) for _ in range(2 * _KERNEL_EVERY)
        ]
        assert all("bridge" in turn for turn in heard)  # reported once, never twice
        assert all(len(turn) == len(set(turn)) for turn in heard)
        with_other = [i for i, turn in enumerate(heard) if "other" in turn]
        assert with_other == [_KERNEL_EVERY - 1, 2 * _KERNEL_EVERY - 1]


def test_a_select_that_must_not_wait_goes_straight_to_the_kernel() -> None:
    wake_r, wake_w = socket.socketpair()
    other_r, other_w = socket.socketpair()
    with wake_r, wake_w, other_r, other_w, _PollingSelector() as selector:
        selector.register(wake_r, selectors.EVENT_READ, "bridge")
        selector.register(other_r, selectors.EVENT_READ, "other")
        bridge = _BusyBridge(wake_r.fileno())
        selector.bridge = bridge  # type: ignore[assignment]
        other_w.send(b"x")
        assert [key.data for key, _ in selector.select(0)] == ["other"]
        assert bridge.polls == 0
