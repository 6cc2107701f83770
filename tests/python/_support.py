"""Helpers shared by the package tests: Gate, and the Twin views used by the ``twin`` fixture.

Most behaviours exist twice: ``await mesh.op(...)`` on an asyncio loop and ``mesh.op_sync(...)``
from plain code. Like psycopg's paired tests, such a behaviour is written once, as a scenario
``async def scenario(m: Twin)``, and ``TwinRunner`` runs it either way:

- ``async``: inside ``asyncio.run`` (a fresh loop in a helper thread); the mesh is created there,
  so agents added by the scenario are homed on that loop, and ``m.query`` awaits ``mesh.query``.
- ``sync``: in a plain thread with no running loop; agents are homed on the mesh's background
  loop, and ``m.query`` calls ``mesh.query_sync``. The scenario coroutine is stepped without a
  loop: a sync twin's operations never suspend, so it runs to its end in one ``send``.

Timeouts in here are safety nets only (a hang fails the test instead of the suite).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import serendip
from serendip.testing import RecordedRequest

# Seconds to wait for something that must happen; never a performance expectation.
SAFETY = 5.0

Scenario = Callable[["Twin"], Coroutine[Any, Any, Any]]


def wait_until(predicate: Callable[[], object]) -> bool:
    """Polls ``predicate`` from a plain thread; False if it never held within SAFETY."""
    deadline = time.monotonic() + SAFETY
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


async def until(predicate: Callable[[], object]) -> bool:
    """Lets the running loop work until ``predicate()`` holds; False if it never did in SAFETY."""
    deadline = time.monotonic() + SAFETY
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def sent_messages(request: RecordedRequest) -> list[dict[str, Any]]:
    """The ``messages`` of a chat request the scripted server recorded."""
    listed: list[dict[str, Any]] = request.json["messages"]
    return listed


class Gate:
    """A latch that handlers wait on and tests open, from any thread and any loop.

    ``await gate.wait()`` (coroutine handlers, any loop) or ``gate.wait_blocking()`` (plain
    handlers, threads). ``entered`` counts arrivals, so a test can wait until a handler is
    really inside instead of sleeping.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.entered = 0

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            self.entered += 1
            if self._opened.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()

    def wait_blocking(self) -> None:
        with self._lock:
            self.entered += 1
        assert self._opened.wait(SAFETY), "a test never opened this gate"

    def open(self) -> None:
        with self._lock:
            self._opened.set()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass  # that loop is closed: nobody waits there any more


class _Pending:
    """What ``SyncTwin.start`` returns: a thread running one scenario step."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(coro,), daemon=True)
        self.thread.start()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            self.value = run_without_loop(coro)
        except BaseException as exc:
            self.error = exc


def run_without_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine that never suspends (the sync twin's scenarios) to its end."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("a sync-twin scenario awaited something that suspends")


class Twin:
    """A mesh seen through one twin. ``kind`` is "async" or "sync"."""

    kind: str

    def __init__(self, mesh: serendip.LocalMesh) -> None:
        self.mesh = mesh

    def send_to_nowait(self, target: str, payload: Any) -> None:
        self.mesh.send_to_nowait(target, payload)


class AsyncTwin(Twin):
    kind = "async"

    def __init__(self, mesh: serendip.LocalMesh) -> None:
        super().__init__(mesh)
        self.started: list[asyncio.Future[Any]] = []

    async def settle(self) -> None:
        """Ends the calls a failed scenario left behind, quietly."""
        for task in self.started:
            task.cancel()
        await asyncio.gather(*self.started, return_exceptions=True)

    async def query(self, target: str, payload: Any, **kw: Any) -> Any:
        return await self.mesh.query(target, payload, **kw)

    async def send_to(self, target: str, payload: Any) -> None:
        await self.mesh.send_to(target, payload)

    async def submit(self, target: str, payload: Any) -> int:
        return await self.mesh.submit(target, payload)

    async def broadcast(self, payload: Any, exclude: Any = None) -> int:
        return await self.mesh.broadcast(payload, exclude)

    async def publish(self, topic: str, payload: Any) -> int:
        return await self.mesh.publish(topic, payload)

    async def wait_idle(self, timeout: float | None = SAFETY) -> None:
        await self.mesh.wait_idle(timeout)

    async def close(self) -> None:
        await self.mesh.aclose()

    def start(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kw: Any) -> Any:
        """Runs ``await fn(*args, **kw)`` concurrently with the scenario (a Task)."""
        task = asyncio.ensure_future(fn(*args, **kw))
        self.started.append(task)
        return task

    def done(self, pending: Any) -> bool:
        return pending.done()

    async def result(self, pending: Any) -> Any:
        """The outcome of a started call: its value, or its exception raised here."""
        return await asyncio.wait_for(pending, SAFETY)

    async def until(self, predicate: Callable[[], object]) -> bool:
        """Lets other work run until ``predicate()`` holds; False if it never did."""
        return await until(predicate)

    async def pause(self, seconds: float = 0.05) -> None:
        """Lets other work run for a while (used before checking that something did NOT happen)."""
        await asyncio.sleep(seconds)


class SyncTwin(Twin):
    kind = "sync"

    async def query(self, target: str, payload: Any, **kw: Any) -> Any:
        return self.mesh.query_sync(target, payload, **kw)

    async def send_to(self, target: str, payload: Any) -> None:
        self.mesh.send_to_sync(target, payload)

    async def submit(self, target: str, payload: Any) -> int:
        return self.mesh.submit_sync(target, payload)

    async def broadcast(self, payload: Any, exclude: Any = None) -> int:
        return self.mesh.broadcast_sync(payload, exclude)

    async def publish(self, topic: str, payload: Any) -> int:
        return self.mesh.publish_sync(topic, payload)

    async def wait_idle(self, timeout: float | None = SAFETY) -> None:
        self.mesh.wait_idle_sync(timeout)

    async def close(self) -> None:
        self.mesh.close()

    def start(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kw: Any) -> _Pending:
        """Runs ``fn(*args, **kw)`` concurrently with the scenario (a plain thread)."""
        return _Pending(fn(*args, **kw))

    def done(self, pending: _Pending) -> bool:
        return not pending.thread.is_alive()

    async def result(self, pending: _Pending) -> Any:
        pending.thread.join(SAFETY)
        assert not pending.thread.is_alive(), "a started sync call never returned"
        if pending.error is not None:
            raise pending.error
        return pending.value

    async def until(self, predicate: Callable[[], object]) -> bool:
        deadline = time.monotonic() + SAFETY
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    async def pause(self, seconds: float = 0.05) -> None:
        time.sleep(seconds)


def _in_thread(fn: Callable[[], Any], name: str) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(3 * SAFETY)
    if thread.is_alive():
        pytest.fail(f"the {name} scenario hung")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class TwinRunner:
    """Runs a scenario through one twin, on a fresh mesh that it closes afterwards."""

    def __init__(self, kind: str, gates: list[Gate]) -> None:
        self.kind = kind
        self._gates = gates

    def run(self, scenario: Scenario, mesh_name: str = "twin") -> Any:
        if self.kind == "async":
            return _in_thread(lambda: asyncio.run(self._run_async(scenario, mesh_name)), "async")
        return _in_thread(lambda: self._run_sync(scenario, mesh_name), "sync")

    async def _run_async(self, scenario: Scenario, mesh_name: str) -> Any:
        mesh = serendip.LocalMesh(mesh_name)
        twin = AsyncTwin(mesh)
        try:
            return await asyncio.wait_for(scenario(twin), 2 * SAFETY)
        finally:
            self._open_gates()
            await mesh.aclose()
            await twin.settle()

    def _run_sync(self, scenario: Scenario, mesh_name: str) -> Any:
        mesh = serendip.LocalMesh(mesh_name)
        try:
            return run_without_loop(scenario(SyncTwin(mesh)))
        finally:
            self._open_gates()
            mesh.close()

    def _open_gates(self) -> None:
        for gate in self._gates:
            gate.open()
