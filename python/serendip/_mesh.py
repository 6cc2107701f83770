"""LocalMesh: agents by name in one process, with async calls and their ``*_sync`` twins.

Each operation is built once (``_open_request``, ``_route``) and the twins differ only in how
they wait: the async one awaits a future resolved through the caller loop's bridge, the sync
one blocks natively with the GIL released, in short slices so Ctrl-C is seen (rule 5).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from . import _core, _lifecycle
from ._action import Invocation
from ._agent import Agent
from ._bridge import bridge_for, running_bridge, running_loop
from ._dead_letter import DeadLetter, DeadLetterForwarder, letters_of
from ._errors import (
    ActionInputError,
    ActionNotFound,
    AgentNotFound,
    HandlerError,
    MailboxFull,
    MeshClosed,
    QueryTimeout,
)
from ._home import BackgroundLoop
from ._llm_agent import LlmAgent
from ._outcome import unwrap
from ._runner import AgentRunner
from ._tracking import MeshRequest, MeshResult, RequestTracker
from .metrics import AgentMetrics, LlmMetrics, MeshMetrics, MeshTotals

__all__ = ["LocalMesh"]

T = TypeVar("T")

# Blocking waits wake this often to let Python run signal handlers (Ctrl-C).
_SLICE = 0.1
# How long close() waits for handlers on another thread's loop to stop.
_STOP_GRACE = 5.0


class _State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    FORKED = "forked"


def _remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (monotonic), never negative; None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _loop_time(deadline: float | None) -> float | None:
    """``deadline`` (monotonic) on the running loop's clock."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _block(waiter: _core.BlockingWaiter, deadline: float | None) -> bool:
    """Waits for ``waiter`` until ``deadline`` (monotonic; None: forever). GIL released."""
    while True:
        slice_ = _SLICE
        if deadline is not None:
            slice_ = min(slice_, deadline - time.monotonic())
            if slice_ <= 0:
                return waiter.done()
        if waiter.wait(slice_):
            return True


class LocalMesh:
    """A mesh of agents in this process. Routes messages to agents by name.

    Every operation exists as a coroutine (``await mesh.query(...)``) and as a blocking twin
    (``mesh.query_sync(...)``) for plain scripts and other threads. A blocking twin called on
    the very loop thread that must run its target raises RuntimeError at once (it could only
    deadlock). In-process payloads are passed as the objects themselves: no copy, no
    serialisation.

    Close it with ``close()``/``await aclose()`` or use it as a (async) context manager;
    a mesh still open at interpreter exit is closed by an exit hook.

    Args:
        name: for logs, reprs and metrics.
        result_retention: results of ``submit``-ted requests kept until taken; older ones are
            evicted (and counted in ``results_evicted``).
        dead_letter_capacity: dead letters kept (the newest) in ``dead_letters``.
    """

    def __init__(
        self, name: str = "local", *, result_retention: int = 1000, dead_letter_capacity: int = 1000
    ) -> None:
        if dead_letter_capacity < 1:
            raise ValueError("dead_letter_capacity must be at least 1")
        self._tracker = RequestTracker(self, result_retention)  # first: it validates
        self._name = name
        self._core = _core.Mesh(name, 0, dead_letter_capacity)
        self._state = _State.OPEN
        self._runners: dict[str, AgentRunner] = {}
        self._leaving: set[AgentRunner] = set()  # removed, still draining or stopping
        self._background: BackgroundLoop | None = None
        self._lock = threading.Lock()  # guards _background's creation and _state changes
        self._forwarder = DeadLetterForwarder(self._core, self._logs_own_failure)
        # The hottest call of all, bound to the native one: a Python frame per message would
        # cost a quarter of a one-way message's whole handling. Same signature and errors.
        self.send_to_nowait = self._core.tell_nowait  # type: ignore[method-assign]
        _lifecycle.track(self)

    # -- agents ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The mesh's name (for logs and reprs)."""
        return self._name

    @property
    def agents(self) -> list[str]:
        """Names of the registered agents."""
        self._check_open()
        return list(self._runners)

    def add_agent(self, agent: Agent) -> Agent:
        """Registers ``agent`` and runs its ``on_start`` hook; returns the agent.

        Its home loop is the loop running in this thread, or else the mesh's background loop.
        Outside a running loop this blocks until ``on_start`` has run; inside one, ``on_start``
        is scheduled and messages wait for it. Raises DuplicateAgent, MeshClosed, TypeError.
        """
        if not isinstance(agent, Agent):
            raise TypeError(f"add_agent expects an Agent, not {type(agent).__name__}")
        self._check_open()
        if getattr(agent, "_serendip_mesh", None) is not None:
            raise ValueError(f"{agent!r} already belongs to a mesh")
        loop = running_loop()
        if loop is None:
            loop = self._background_loop().loop
        topics = [*type(agent).subscriptions, *agent._topics]
        for pattern in topics:
            _core.check_pattern(pattern)  # before anything is registered
        bridge = bridge_for(loop)
        cell = self._core.add_agent(agent.name, agent.mailbox_size, bridge, agent.overflow)
        for pattern in topics:
            self._core.subscribe(cell, pattern)
        runner = AgentRunner(self, agent, cell, bridge, contextvars.copy_context())
        self._runners[agent.name] = runner
        bridge.add_runner(cell.id, runner)
        agent._serendip_mesh = self  # type: ignore[attr-defined]
        self._forwarder.ensure_running(loop)
        if getattr(agent, "on_start", None) is None:
            runner._started = True
        elif loop is running_loop():
            loop.create_task(runner.start(), name=f"serendip:{agent.name}:start")
        else:
            assert self._background is not None
            self._background.run(runner.start, None)
        return agent

    def remove_agent(self, name: str, *, drain: bool = True, timeout: float | None = 30.0) -> Agent:
        """Unregisters ``name`` and runs its ``on_stop`` hook; returns the agent.

        New messages to ``name`` raise AgentNotFound at once. With ``drain`` (the default) the
        messages already queued are handled first, for at most ``timeout`` seconds (None: no
        limit); without it, or once the timeout passes, queued queries fail with AgentNotFound
        and running handlers are cancelled. Called from another thread this waits for all of
        that; on the agent's own loop thread it is scheduled (the name is free at once).
        Raises AgentNotFound.
        """
        self._check_open()
        runner = self._runners.pop(name, None)
        if runner is None:
            raise AgentNotFound(f"no agent named {name!r}")
        self._core.detach(name)
        self._leaving.add(runner)

        async def leave() -> None:
            try:
                if drain:
                    try:
                        await asyncio.wait_for(runner.drain(), timeout)
                    except TimeoutError:
                        pass  # what is left is failed and cancelled below
                self._retire(runner)
                await runner.stop()
            finally:
                self._leaving.discard(runner)
                runner.agent._serendip_mesh = None  # type: ignore[attr-defined]

        loop = runner.loop
        if loop is running_loop():
            loop.create_task(leave(), name=f"serendip:{name}:remove")
        elif loop.is_running():
            wait = None if not drain or timeout is None else timeout + _STOP_GRACE
            try:
                asyncio.run_coroutine_threadsafe(leave(), loop).result(wait)
            except Exception:  # a hook's own failure is logged by the runner
                pass
        else:  # a user loop that stopped: nothing can run there any more
            self._retire(runner)
            self._leaving.discard(runner)
        return runner.agent

    def _retire(self, runner: AgentRunner) -> None:
        """Closes a detached runner's mailbox: what it left fails with AgentNotFound."""
        runner.bridge.remove_runner(runner.cell.id)
        self._core.retire(runner.cell)

    def metrics(self) -> MeshMetrics:
        """Per agent and for the whole mesh: counters, mailbox depth and latency summaries.

        See ``serendip.metrics`` for the shape; ``serendip.metrics.prometheus_text(mesh)``
        renders it for Prometheus. Latencies (seconds) come from a sample of the messages: all
        of an agent's first 64, then one in 16 (timing each costs more than the rest of it).
        """
        self._check_open()
        agents: dict[str, AgentMetrics] = {}
        for name, runner in self._runners.items():
            stats = runner.cell.stats()
            stats["mailbox"] = runner.cell.size()
            agents[name] = stats  # type: ignore[assignment]
        totals: MeshTotals = {
            "agents": len(agents),
            "handled": sum(a["handled"] for a in agents.values()),
            "failed": sum(a["failed"] for a in agents.values()),
            "dropped": sum(a["dropped"] for a in agents.values()),
            "in_flight": sum(a["in_flight"] for a in agents.values()),
            "dead_letters": self._core.dead_letters_recorded,
        }
        llm = {
            name: cast("LlmMetrics", runner.agent.llm_metrics())
            for name, runner in self._runners.items()
            if isinstance(runner.agent, LlmAgent)
        }
        return {"mesh": self._name, "agents": agents, "llm": llm, "totals": totals}

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """The newest dead letters (at most ``dead_letter_capacity``), oldest first.

        A message becomes one when its target is unknown, its target's overflow policy dropped
        it, its query ended while it was still queued, or its one-way handler raised.
        ``metrics()["totals"]["dead_letters"]`` counts every one ever recorded.
        """
        self._check_open()
        return letters_of(self._core.dead_letters())

    # -- one-way messages --------------------------------------------------------------------

    async def send_to(self, target: str, payload: Any) -> None:
        """Sends a one-way message; waits while the target's mailbox is full.

        Raises AgentNotFound (at once) or MeshClosed.
        """
        await self._send(target, payload, None)

    def send_to_sync(self, target: str, payload: Any) -> None:
        """Blocking twin of ``send_to``: blocks (GIL released) while the mailbox is full."""
        self._check_open()
        self._refuse_blocking(target, "send_to_sync")
        self._send_sync(target, payload, None, None)

    def send_to_nowait(self, target: str, payload: Any) -> None:
        """Sends a one-way message or raises MailboxFull at once. Any thread; never blocks.

        Raises AgentNotFound, MailboxFull or MeshClosed. (Each mesh binds this name to the
        native call itself; this definition documents it.)
        """
        self._core.tell_nowait(target, payload)

    async def broadcast(self, payload: Any, exclude: str | Iterable[str] | None = None) -> int:
        """Sends ``payload`` one-way to every agent but ``exclude``; returns how many got it."""
        reached = 0
        for name in self._broadcast_targets(exclude):
            try:
                await self._send(name, payload, None)
            except AgentNotFound:
                continue  # removed meanwhile
            reached += 1
        return reached

    def broadcast_sync(self, payload: Any, exclude: str | Iterable[str] | None = None) -> int:
        """Blocking twin of ``broadcast``."""
        reached = 0
        for name in self._broadcast_targets(exclude):
            try:
                self.send_to_sync(name, payload)
            except AgentNotFound:
                continue
            reached += 1
        return reached

    # -- topics ------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Any) -> int:
        """Sends ``payload`` one-way to every agent subscribed to a pattern matching ``topic``.

        Subjects are dot-separated tokens (``orders.eu.new``); subscribers' patterns may use
        ``*`` (one token) and ``>`` (one or more trailing tokens). Handlers see the subject as
        ``ctx.topic``. Waits for a subscriber's full mailbox like ``send_to`` (overflow
        ``"wait"``); others count as not reached. Returns how many subscribers got it.
        Raises ValueError for a malformed subject, MeshClosed.
        """
        return await self._publish(topic, payload, None)

    def publish_sync(self, topic: str, payload: Any) -> int:
        """Blocking twin of ``publish``."""
        self._check_open()
        reached, waiting = self._core.publish_nowait(topic, payload)
        for name in waiting:
            self._refuse_blocking(name, "publish_sync")
            try:
                self._send_sync(name, payload, None, topic)
            except (AgentNotFound, MailboxFull):
                continue  # removed meanwhile, or its policy changed to refusing
            reached += 1
        return reached

    async def _publish(self, topic: str, payload: Any, sender: str | None) -> int:
        self._check_open()
        reached, waiting = self._core.publish_nowait(topic, payload, sender)
        for name in waiting:
            try:
                await self._send(name, payload, sender, topic)
            except (AgentNotFound, MailboxFull):
                continue
            reached += 1
        return reached

    def subscribe(self, agent: str, pattern: str) -> bool:
        """Subscribes agent ``agent`` to ``pattern``; False if it already was.

        Same as ``Agent.subscribe``. Raises AgentNotFound, ValueError for a bad pattern.
        """
        return self._core.subscribe(self._runner(agent).cell, pattern)

    def unsubscribe(self, agent: str, pattern: str) -> bool:
        """Ends a subscription; False if there was none. Raises AgentNotFound."""
        return self._core.unsubscribe(self._runner(agent).cell, pattern)

    def subscriptions(self, agent: str) -> list[str]:
        """Agent ``agent``'s patterns, in subscription order. Raises AgentNotFound."""
        return self._core.patterns(self._runner(agent).cell)

    def _runner(self, name: str) -> AgentRunner:
        self._check_open()
        runner = self._runners.get(name)
        if runner is None:
            raise AgentNotFound(f"no agent named {name!r}")
        return runner

    # -- queries -----------------------------------------------------------------------------

    def query(
        self, target: str, payload: Any, *, timeout: float | None = 30.0
    ) -> Coroutine[Any, Any, Any]:
        """Asks ``target``; await it for its handler's result.

        Waits for mailbox space if needed. Raises AgentNotFound (at once), QueryTimeout after
        ``timeout`` seconds (None: no deadline), HandlerError if the handler raised, or
        MeshClosed. Cancelling the await cancels the request, and with it the handler
        invocation if it is a coroutine still running.
        """
        # The coroutine itself, not one awaiting it: one frame fewer on the hot path.
        return self._query(target, payload, None, timeout)

    def query_sync(self, target: str, payload: Any, *, timeout: float | None = 30.0) -> Any:
        """Blocking twin of ``query``: waits with the GIL released; Ctrl-C cancels the request.

        Raises RuntimeError when called on the loop thread that runs ``target``.
        """
        # The hot path of a blocking query: the checks of _check_open and _refuse_blocking
        # inline and the clock read only once the mailbox turns out full (five Python calls
        # fewer: a round trip 1.12x faster, bench/compare.py).
        if self._state is not _State.OPEN:
            self._check_open()
        runner = self._runners.get(target)
        if runner is not None and runner.loop is asyncio._get_running_loop():
            self._refuse_blocking(target, "query_sync")
        waiter = _core.BlockingWaiter()
        deadline: float | None = None
        remaining = timeout
        while True:
            # Waits its first slice for the answer inside the call, the GIL released throughout.
            request_id = self._core.request_blocking(target, payload, remaining, waiter, _SLICE)
            if request_id:
                break
            if deadline is None and timeout is not None:  # the mailbox is full: wait for space
                deadline = time.monotonic() + timeout
            space = _core.BlockingWaiter()
            if self._core.wait_space(target, space) and not _block(space, deadline):
                raise QueryTimeout(f"agent {target!r}'s mailbox stayed full until the deadline")
            remaining = _remaining(deadline)
        try:
            if not waiter.done():
                _block(waiter, None)  # the native deadline ends the wait
        except BaseException:
            self._core.cancel(request_id)
            raise
        outcome = waiter.result()
        return outcome[1] if outcome[0] == _core.STATUS_OK else unwrap(outcome, target)

    # -- request tracking --------------------------------------------------------------------

    async def submit(
        self,
        target: str,
        payload: Any,
        *,
        timeout: float | None = 30.0,
        reminder_interval: float | None = None,
    ) -> int:
        """Asks ``target`` without waiting for the answer; returns the request's id.

        The outcome is recorded whether or not anyone waits for it: take it with
        ``wait_for``, ``results`` or ``collect_results``. Waits only while the target's
        mailbox is full. ``timeout``: the request's deadline in seconds (None: none); it ends
        as a QueryTimeout result. With ``reminder_interval``, the target's optional
        ``on_reminder(request, ctx)`` hook is called on its home loop every that many seconds
        while the request is pending. Any loop. Raises AgentNotFound (at once), MeshClosed,
        MailboxFull (``overflow="reject"``), QueryTimeout if the mailbox stayed full until
        the deadline, ValueError for a ``reminder_interval`` that is not positive.
        """
        return await self._tracker.submit(target, payload, timeout, reminder_interval)

    def submit_sync(
        self,
        target: str,
        payload: Any,
        *,
        timeout: float | None = 30.0,
        reminder_interval: float | None = None,
    ) -> int:
        """Blocking twin of ``submit``: blocks only while the request is being opened.

        Allowed on a handler's loop thread too. There, when the target's full mailbox could
        only be drained by that very thread, it raises RuntimeError instead of waiting.
        """
        return self._tracker.submit_sync(target, payload, timeout, reminder_interval)

    async def wait_for(self, request_id: int, *, timeout: float | None = None) -> MeshResult:
        """Waits for a submitted request's outcome and takes it from the retained results.

        A failed request is a MeshResult with ``error`` set, not an exception. Raises
        RequestNotFound for an id never submitted, already taken or evicted (or taken by
        another waiter meanwhile), TimeoutError after ``timeout`` seconds (None: no limit;
        the request stays pending), MeshClosed if the mesh is closed. A mesh closing during
        the wait ends it with a MeshClosed result. Cancelling the await leaves the request
        tracked.
        """
        return await self._tracker.wait_for(request_id, timeout)

    def wait_for_sync(self, request_id: int, *, timeout: float | None = None) -> MeshResult:
        """Blocking twin of ``wait_for``; Ctrl-C interrupts it and leaves the request tracked.

        Raises RuntimeError on the mesh's background loop thread or the target's home loop
        thread (the outcome needs them).
        """
        return self._tracker.wait_for_sync(request_id, timeout)

    def pending(self) -> list[MeshRequest]:
        """The submitted requests without an outcome yet, oldest first. Raises MeshClosed."""
        return self._tracker.pending()

    def results(self) -> list[MeshResult]:
        """Takes every retained result, in completion order. Raises MeshClosed.

        At most ``result_retention`` results are retained: the oldest are evicted beyond
        that (see ``results_evicted``).
        """
        return self._tracker.take()

    def peek_results(self) -> list[MeshResult]:
        """The retained results, in completion order, without taking them. Raises MeshClosed."""
        return self._tracker.peek()

    async def collect_results(self, *, timeout: float | None = None) -> list[MeshResult]:
        """Waits until no submitted request is pending, then takes every retained result.

        After ``timeout`` seconds (None: no limit) it takes and returns what is retained so
        far and leaves the rest pending: check ``pending()``. Results evicted meanwhile are
        missing. A mesh closing meanwhile ends every pending request with a MeshClosed
        result, which is returned. Raises MeshClosed if the mesh is already closed.
        """
        return await self._tracker.collect(timeout)

    def collect_results_sync(self, *, timeout: float | None = None) -> list[MeshResult]:
        """Blocking twin of ``collect_results``. Raises RuntimeError on a thread running a
        loop of this mesh's agents or its background loop while requests are pending."""
        return self._tracker.collect_sync(timeout)

    @property
    def results_evicted(self) -> int:
        """How many results were evicted, oldest first, to keep within ``result_retention``."""
        return self._tracker.evicted

    # -- actions ---------------------------------------------------------------------------

    async def invoke(
        self,
        target: str,
        action: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> Any:
        """Runs action ``action`` of agent ``target`` with ``inputs``; returns its result.

        The invocation travels through the target's mailbox like a query, so it runs in turn
        with the agent's messages, on its home loop. Raises ActionNotFound, ActionInputError
        (naming the field), HandlerError if the action raised, and what ``query`` raises.
        """
        try:
            return await self._query(target, Invocation(action, inputs), None, timeout)
        except HandlerError as error:
            _raise_if_refused(error)
            raise

    def invoke_sync(
        self,
        target: str,
        action: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> Any:
        """Blocking twin of ``invoke``."""
        try:
            return self.query_sync(target, Invocation(action, inputs), timeout=timeout)
        except HandlerError as error:
            _raise_if_refused(error)
            raise

    # -- idleness ----------------------------------------------------------------------------

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Returns once every mailbox is empty and no handler runs.

        Raises TimeoutError after ``timeout`` seconds, MeshClosed if the mesh closes first.
        """
        self._check_open()
        bridge = running_bridge()
        future, waiter, token = bridge.new_wait()
        try:
            if not self._core.wait_idle(waiter):
                return
            async with asyncio.timeout(timeout):
                outcome = await future
        finally:
            bridge.forget(token)
        if outcome[0] != _core.STATUS_OK:
            raise MeshClosed("the mesh closed while waiting for it to go idle")

    def wait_idle_sync(self, timeout: float | None = None) -> None:
        """Blocking twin of ``wait_idle``. Raises RuntimeError on a thread running a home loop."""
        self._check_open()
        loop = running_loop()
        if loop is not None and any(r.loop is loop for r in self._runners.values()):
            raise RuntimeError(
                "wait_idle_sync() called on a loop that runs agents of this mesh would "
                "deadlock; use 'await mesh.wait_idle()'"
            )
        waiter = _core.BlockingWaiter()
        if not self._core.wait_idle(waiter):
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        if not _block(waiter, deadline):
            raise TimeoutError(f"the mesh did not go idle within {timeout} s")
        if waiter.result()[0] != _core.STATUS_OK:
            raise MeshClosed("the mesh closed while waiting for it to go idle")

    # -- shutdown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the mesh (rule 7). Idempotent.

        Refuses new work, fails every in-flight query with MeshClosed, cancels running
        handlers and runs ``on_stop`` hooks, then stops the native threads and the background
        loop. On the loop thread that runs agents their stop is scheduled, not awaited: prefer
        ``await aclose()`` there.
        """
        if not self._begin_close():
            return
        for loop, runners in self._runners_by_loop().items():
            self._run_on(loop, _stop_all(runners))
        self._finish_close()

    async def aclose(self) -> None:
        """Async twin of ``close``: awaits the stop of handlers on this loop too."""
        if not self._begin_close():
            return
        here = running_loop()
        try:
            for loop, runners in self._runners_by_loop().items():
                if loop is here:
                    await _stop_all(runners)()
                else:
                    self._run_on(loop, _stop_all(runners))
        finally:
            self._finish_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """True once close has begun (or in a forked child)."""
        return self._state is not _State.OPEN

    def __repr__(self) -> str:
        return f"<LocalMesh {self._name!r} {self._state.value} agents={len(self._runners)}>"

    # -- internals shared by the twins and by Context ----------------------------------------

    async def _send(
        self, target: str, payload: Any, sender: str | None, topic: str | None = None
    ) -> None:
        while not self._core.send(target, payload, sender, topic):  # full: wait for space
            await self._space(target)

    def _send_sync(
        self, target: str, payload: Any, sender: str | None, topic: str | None
    ) -> None:
        while not self._core.send(target, payload, sender, topic):  # full: wait for space
            waiter = _core.BlockingWaiter()
            if self._core.wait_space(target, waiter):
                _block(waiter, None)

    async def _query(
        self, target: str, payload: Any, sender: str | None, timeout: float | None
    ) -> Any:
        # The hot path of a query: the checks are spelled out inline (four Python calls fewer
        # took a round trip answered on the caller's own loop from 37,355 instructions to
        # 35,436, callgrind), an answer that came inside the request call is taken with no
        # future (35,217 -> 22,337, bench/instructions.py), and one native call does what
        # four did (22,337 -> 20,625; a fanout worker query 110,451 -> 106,842).
        if self._state is not _State.OPEN:
            self._check_open()
        if sender == target and self._runners[target].agent.max_concurrency == 1:
            raise RuntimeError(
                f"agent {target!r} queried itself from its own handler: with "
                "max_concurrency=1 that can only deadlock"
            )
        loop = asyncio.get_running_loop()
        runner = self._runners.get(target)
        if runner is not None and runner._parked is not None and runner.loop is loop:
            # An async agent idle on this loop: its handler runs in this Task (None: it did
            # not, the loop must turn first or the stack is deep).
            bridge = runner.bridge
            asked = await runner.query_here(payload, sender, timeout)
        else:
            bridge = bridge_for(loop)
            asked = None
        # Otherwise one native call requests and, since a plain handler on this loop may
        # answer inside it, hands back that answer (the round trip needs neither a future nor
        # a turn), else a future listening for it.
        request_id, got, token = asked or self._core.query(bridge, target, payload, sender, timeout)
        if token:
            future = got
        elif request_id:
            return got[1] if got[0] == _core.STATUS_OK else unwrap(got, target)
        else:  # the mailbox is full: `got` is the request's waiter
            # Read only now: a clock read is not free on the hot path.
            deadline = None if timeout is None else time.monotonic() + timeout
            while not request_id:
                await self._space(target, deadline)
                request_id = self._core.request(target, payload, sender, _remaining(deadline), got)
            future, token = bridge.listen(got)  # resolved at once if the answer came meanwhile
        try:
            outcome = await future
        except BaseException as exc:
            # Only here can the bridge still hold the future (its drain drops one it resolves);
            # forgetting a token it no longer holds does nothing.
            bridge.forget(token)
            if isinstance(exc, asyncio.CancelledError):
                self._core.cancel(request_id)
            raise
        return outcome[1] if outcome[0] == _core.STATUS_OK else unwrap(outcome, target)

    async def _space(self, target: str, deadline: float | None = None) -> None:
        bridge = running_bridge()
        future, waiter, token = bridge.new_wait()
        try:
            if self._core.wait_space(target, waiter):
                try:
                    async with asyncio.timeout_at(_loop_time(deadline)):
                        await future
                except TimeoutError:
                    raise QueryTimeout(
                        f"agent {target!r}'s mailbox stayed full until the deadline"
                    ) from None
        finally:
            bridge.forget(token)

    def _logs_own_failure(self, letter: DeadLetter) -> bool:
        """A Python agent's failed one-way message is logged by its runner, traceback and all."""
        if letter.reason != "failed":
            return False
        return letter.target in self._runners or any(
            r.agent.name == letter.target for r in self._leaving
        )

    def _broadcast_targets(self, exclude: str | Iterable[str] | None) -> list[str]:
        self._check_open()
        skip = {exclude} if isinstance(exclude, str) else set(exclude or ())
        return [name for name in self._core.names() if name not in skip]

    def _refuse_blocking(self, target: str, what: str) -> None:
        runner = self._runners.get(target)
        if runner is not None and runner.loop is running_loop():
            raise RuntimeError(
                f"{what}() on the loop thread that runs agent {target!r} would deadlock; "
                f"use the async form with 'await' (or send_to_nowait)"
            )

    def _check_open(self) -> None:
        if self._state is _State.OPEN:
            return
        if self._state is _State.FORKED:
            raise MeshClosed(
                f"mesh {self._name!r} was created in the parent process and cannot be used "
                "after fork(); create a new mesh in the child"
            )
        raise MeshClosed(f"mesh {self._name!r} is closed")

    def _background_loop(self) -> BackgroundLoop:
        with self._lock:
            if self._background is None:
                self._background = BackgroundLoop(self._name)
            return self._background

    def _run_on(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Runs ``fn()`` on ``loop``: awaited from other threads (bounded), scheduled on it."""
        if loop.is_closed():
            return
        if loop is running_loop():
            loop.create_task(fn())
            return
        if not loop.is_running():
            return  # a user loop that stopped: nothing can run there any more
        try:
            asyncio.run_coroutine_threadsafe(fn(), loop).result(_STOP_GRACE)
        except Exception:  # a hook's own failure is logged by the runner; a timeout is not fatal
            pass

    def _runners_by_loop(self) -> dict[asyncio.AbstractEventLoop, list[AgentRunner]]:
        groups: dict[asyncio.AbstractEventLoop, list[AgentRunner]] = {}
        for runner in [*self._runners.values(), *self._leaving]:
            groups.setdefault(runner.loop, []).append(runner)
            runner.bridge.remove_runner(runner.cell.id)
        return groups

    def _begin_close(self) -> bool:
        with self._lock:
            if self._state is not _State.OPEN:
                return False
            self._state = _State.CLOSING
        self._core.close()  # in-flight queries and blocked callers end with MeshClosed now
        for runner in self._leaving:  # detached, so the native close did not see them
            self._core.retire(runner.cell)
        return True

    def _finish_close(self) -> None:
        self._tracker.close()  # wakes every waiter of a submitted request
        self._core.join()
        if self._background is not None:
            self._background.stop(_STOP_GRACE)
        for runner in self._runners.values():
            runner.agent._serendip_mesh = None  # type: ignore[attr-defined]
        self._runners.clear()
        self._state = _State.CLOSED

    def _forget_after_fork(self) -> None:
        self._state = _State.FORKED
        self._core.leak()
        self._background = None
        self._runners.clear()


def _raise_if_refused(error: HandlerError) -> None:
    """An invocation the target refused (unknown action, bad inputs) raises that error itself."""
    if isinstance(error.__cause__, ActionNotFound | ActionInputError):
        raise error.__cause__ from None


def _stop_all(runners: list[AgentRunner]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def stop() -> None:
        caller = asyncio.current_task()  # gather runs each stop in a task of its own
        await asyncio.gather(*(r.stop(caller) for r in runners), return_exceptions=True)

    return stop
