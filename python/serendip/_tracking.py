"""Request tracking: submit a request now, collect its outcome later, or never wait at all.

Every tracked request is opened on the mesh's background loop and its wait lives there, so its
outcome is recorded even when the submitting loop has ended and nobody waits for it. Waiters may
be on any loop or thread: the state sits under one ``threading.Lock``; a completion wakes
asyncio waiters with ``call_soon_threadsafe`` and blocking ones through a ``Condition`` on that
lock (notified, never polled).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ._bridge import OutcomeTuple, running_bridge, running_loop
from ._context import Context
from ._errors import MeshClosed, MeshError, RequestNotFound
from ._outcome import unwrap

if TYPE_CHECKING:
    from ._mesh import LocalMesh

__all__ = ["MeshRequest", "MeshResult", "RequestTracker"]

logger = logging.getLogger("serendip")

# Blocking waits wake this often to let Python run signal handlers (Ctrl-C), as in _mesh.
_SLICE = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class MeshRequest:
    """A submitted request still waiting for its outcome, as ``LocalMesh.pending()`` saw it.

    ``elapsed_seconds`` is the time since submission at the moment of the snapshot;
    ``reminder_count`` is how many reminders the target's ``on_reminder`` hook was sent.
    """

    id: int
    target: str
    payload: Any
    elapsed_seconds: float
    reminder_count: int


@dataclasses.dataclass(frozen=True, slots=True)
class MeshResult:
    """The outcome of a submitted request.

    Exactly one of ``response`` (the handler's return value) and ``error`` is meaningful:
    ``error`` is the MeshError the request ended with (HandlerError, QueryTimeout,
    AgentNotFound, MessageDropped, MeshClosed), and then ``response`` is None.
    ``duration_ms`` runs from submission to completion.
    """

    request_id: int
    target: str
    response: Any
    error: MeshError | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        """True when the target answered (``error`` is None)."""
        return self.error is None


@dataclasses.dataclass(slots=True, eq=False)
class _Entry:
    """A pending request. ``timer`` is touched on the background loop only."""

    request_id: int
    target: str
    payload: Any
    started: float  # time.monotonic() at submission
    interval: float | None
    reminders: int = 0
    timer: asyncio.TimerHandle | None = None

    def snapshot(self) -> MeshRequest:
        elapsed = time.monotonic() - self.started
        return MeshRequest(self.request_id, self.target, self.payload, elapsed, self.reminders)


@dataclasses.dataclass(slots=True, eq=False)
class _Claim:
    """One waiter of ``wait_for`` or ``collect_results``; ``future`` is None for a blocking one.

    ``result`` is set when a completion is handed to this waiter directly (wait_for only);
    ``woken`` once it has been told to look again. Both are guarded by the tracker's lock.
    """

    request_id: int
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    result: MeshResult | None = None
    woken: bool = False


class RequestTracker:
    """The submitted requests of one mesh: the pending ones, retained results, their waiters.

    Any thread, except where a method says otherwise. Guarded by ``_lock`` (``_cond`` is a
    Condition on it): ``_pending`` (request id -> _Entry, in submission order), ``_results``
    (request id -> MeshResult, in completion order, at most ``_retention``), ``_evicted``,
    ``_claims`` (request id -> wait_for waiters; a completion goes to the first one directly,
    so retention never evicts a result someone waits for), ``_collectors`` (collect_results
    waiters), ``_hook_tasks`` (running async on_reminder hooks, kept alive here until they
    end or close() cancels them) and
    ``_closed`` (set by close(), as the mesh finishes closing; calls refuse earlier, once
    the mesh starts closing). ``_mesh`` and ``_retention`` are written once, at construction.
    """

    def __init__(self, mesh: LocalMesh, retention: int) -> None:
        if retention < 1:
            raise ValueError("result_retention must be at least 1")
        self._mesh = mesh
        self._retention = retention
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: dict[int, _Entry] = {}
        self._results: dict[int, MeshResult] = {}
        self._evicted = 0
        self._claims: dict[int, list[_Claim]] = {}
        self._collectors: list[_Claim] = []
        self._hook_tasks: set[asyncio.Future[Any]] = set()
        self._closed = False

    # -- submitting --------------------------------------------------------------------------

    async def submit(
        self, target: str, payload: Any, timeout: float | None, interval: float | None
    ) -> int:
        """Opens a tracked request and returns its id (see ``LocalMesh.submit``)."""
        _check_interval(interval)
        self._mesh._check_open()
        background = self._mesh._background_loop().loop
        opening = self._open(target, payload, timeout, interval, may_wait=True)
        if asyncio.get_running_loop() is background:
            return await opening
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(opening, background))

    def submit_sync(
        self, target: str, payload: Any, timeout: float | None, interval: float | None
    ) -> int:
        """Blocking twin of ``submit`` (see ``LocalMesh.submit_sync``)."""
        _check_interval(interval)
        self._mesh._check_open()
        background = self._mesh._background_loop().loop
        here = running_loop()
        if here is background:  # a handler on the background loop: open it right here
            request_id = self._open_now(target, payload, timeout, interval)
            if not request_id:
                self._refuse_to_wait_for_space(target)
            return request_id
        runner = self._mesh._runners.get(target)
        # Space in the target's mailbox could only be made by this very thread.
        may_wait = here is None or runner is None or runner.loop is not here
        opening = self._open(target, payload, timeout, interval, may_wait=may_wait)
        future = asyncio.run_coroutine_threadsafe(opening, background)
        try:
            while True:
                try:
                    return future.result(_SLICE)
                except concurrent.futures.TimeoutError:
                    continue
        except BaseException:
            future.cancel()
            raise

    async def _open(
        self,
        target: str,
        payload: Any,
        timeout: float | None,
        interval: float | None,
        *,
        may_wait: bool,
    ) -> int:
        """Opens the request, waiting for mailbox space until its deadline. Background loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            request_id = self._open_now(target, payload, left, interval)
            if request_id:
                return request_id
            if not may_wait:
                self._refuse_to_wait_for_space(target)
            await self._mesh._space(target, deadline)

    def _open_now(
        self, target: str, payload: Any, timeout: float | None, interval: float | None
    ) -> int:
        """Opens and tracks the request, or returns 0 if the mailbox is full. Background loop."""
        bridge = running_bridge()
        future, waiter, token = bridge.new_wait()
        try:
            request_id = self._mesh._core.request(target, payload, None, timeout, waiter)
        except BaseException:
            bridge.forget(token)
            raise
        if not request_id:
            bridge.forget(token)
            return 0
        entry = _Entry(request_id, target, payload, time.monotonic(), interval)
        with self._lock:
            if self._closed:  # closing: the native close fails the request, nobody can ask
                return request_id
            self._pending[request_id] = entry
        if interval is not None:
            entry.timer = bridge.loop.call_later(interval, self._remind, entry)
        future.add_done_callback(functools.partial(self._complete, entry))
        return request_id

    def _refuse_to_wait_for_space(self, target: str) -> NoReturn:
        raise RuntimeError(
            f"submit_sync() cannot wait here for space in agent {target!r}'s full mailbox "
            "(this thread's loop would have to run to make it); use 'await mesh.submit(...)'"
        )

    # -- completion and reminders (background loop) -----------------------------------------

    def _complete(self, entry: _Entry, future: asyncio.Future[OutcomeTuple]) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        response, error = _outcome_of(future, entry.target)
        duration_ms = (time.monotonic() - entry.started) * 1000.0
        result = MeshResult(entry.request_id, entry.target, response, error, duration_ms)
        with self._lock:
            if self._pending.pop(entry.request_id, None) is None:
                return  # closed meanwhile: close() recorded the request's end
            self._deliver(result)
            if not self._pending:
                self._wake_collectors()

    def _remind(self, entry: _Entry) -> None:
        runner = self._mesh._runners.get(entry.target)
        hook = getattr(runner.agent, "on_reminder", None) if runner is not None else None
        if runner is None or hook is None:
            return  # nobody to remind: nothing is counted and no timer is set again
        with self._lock:
            if self._pending.get(entry.request_id) is not entry:
                return
            entry.reminders += 1
            request = entry.snapshot()
        assert entry.interval is not None
        entry.timer = asyncio.get_running_loop().call_later(entry.interval, self._remind, entry)
        try:
            runner.loop.call_soon_threadsafe(self._run_hook, hook, request)
        except RuntimeError:
            pass  # the target's loop is closed: the request ends with the mesh

    def _run_hook(self, hook: Callable[..., Any], request: MeshRequest) -> None:
        """Calls ``on_reminder`` on the target's home loop; its failures are only logged."""
        if self._closed:
            return  # a reminder scheduled before the close
        try:
            result = hook(request, Context(self._mesh, request.target))
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._hook_tasks.add(task)
                if closed:
                    task.cancel()  # the close came while the hook was being called
                task.add_done_callback(functools.partial(self._hook_done, request))
        except Exception:
            _log_hook_failure(request)

    def _hook_done(self, request: MeshRequest, task: asyncio.Future[Any]) -> None:
        with self._lock:
            self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log_hook_failure(request, task.exception())

    # -- waiting -----------------------------------------------------------------------------

    async def wait_for(self, request_id: int, timeout: float | None) -> MeshResult:
        """Takes the request's result, waiting for it (see ``LocalMesh.wait_for``)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            result = self._take(request_id)
            if result is not None:
                return result
            claim = self._claim(request_id, loop)
        assert claim.future is not None
        try:
            async with asyncio.timeout(timeout):
                await claim.future
        except TimeoutError:
            pass
        except BaseException:  # cancelled: a result handed over meanwhile is retained again
            with self._lock:
                self._withdraw(claim, keep=True)
            raise
        with self._lock:
            return self._settle(claim, timeout)

    def wait_for_sync(self, request_id: int, timeout: float | None) -> MeshResult:
        """Blocking twin of ``wait_for``. Refuses (RuntimeError) on a loop thread the request
        depends on: the background loop, which records outcomes, or the target's home loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            result = self._take(request_id)
            if result is not None:
                return result
            self._refuse_blocking("wait_for_sync", [self._pending[request_id].target])
            claim = self._claim(request_id, None)
            try:
                while not claim.woken and self._wait_slice(deadline):
                    pass
            except BaseException:  # Ctrl-C: a result handed over meanwhile is retained again
                self._withdraw(claim, keep=True)
                raise
            return self._settle(claim, timeout)

    async def collect(self, timeout: float | None) -> list[MeshResult]:
        """Waits until nothing is pending, then takes every result (see ``collect_results``)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._check_open()
            if not self._pending:
                return self._take_all()
            claim = _Claim(0, loop, loop.create_future())
            self._collectors.append(claim)
        assert claim.future is not None
        try:
            async with asyncio.timeout(timeout):
                await claim.future
        except TimeoutError:
            pass
        finally:
            with self._lock:
                if claim in self._collectors:
                    self._collectors.remove(claim)
        with self._lock:
            return self._take_all()

    def collect_sync(self, timeout: float | None) -> list[MeshResult]:
        """Blocking twin of ``collect``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._check_open()
            if self._pending:
                self._refuse_blocking("collect_results_sync", list(self._mesh._runners))
            while self._pending and self._wait_slice(deadline):
                pass
            return self._take_all()

    def _wait_slice(self, deadline: float | None) -> bool:
        """Waits on the condition for at most one slice; False once ``deadline`` has passed."""
        slice_ = _SLICE
        if deadline is not None:
            slice_ = min(slice_, deadline - time.monotonic())
            if slice_ <= 0:
                return False
        self._cond.wait(slice_)
        return True

    # -- inspecting --------------------------------------------------------------------------

    def pending(self) -> list[MeshRequest]:
        """Snapshots of the pending requests, oldest first."""
        with self._lock:
            self._check_open()
            return [entry.snapshot() for entry in self._pending.values()]

    def take(self) -> list[MeshResult]:
        """Takes every retained result, in completion order."""
        with self._lock:
            self._check_open()
            return self._take_all()

    def peek(self) -> list[MeshResult]:
        """The retained results, in completion order, left in place."""
        with self._lock:
            self._check_open()
            return list(self._results.values())

    @property
    def evicted(self) -> int:
        """Results dropped, oldest first, to keep within the retention."""
        with self._lock:
            return self._evicted

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Ends what is still pending with MeshClosed and wakes every waiter. Idempotent.

        Runs after the native close, which already failed the requests: this records the
        outcomes the background loop may never get to deliver.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = self._pending, {}
            for entry in pending.values():
                error = MeshClosed(f"the mesh closed before agent {entry.target!r} answered")
                duration_ms = (time.monotonic() - entry.started) * 1000.0
                self._deliver(MeshResult(entry.request_id, entry.target, None, error, duration_ms))
            self._wake_collectors()
            hooks, self._hook_tasks = self._hook_tasks, set()
        # Async on_reminder hooks still running: nothing else ends those on a user's loop.
        for task in hooks:
            try:
                task.get_loop().call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # its loop is closed, and the task with it

    # -- under the lock ----------------------------------------------------------------------

    def _check_open(self) -> None:
        self._mesh._check_open()  # closing, closed or forked: MeshClosed

    def _take(self, request_id: int) -> MeshResult | None:
        """Takes the retained result; None while the request is pending; else RequestNotFound."""
        self._check_open()
        result = self._results.pop(request_id, None)
        if result is None and request_id not in self._pending:
            raise RequestNotFound(
                f"no request {request_id} is pending or has a retained result "
                "(never submitted, already taken, or evicted)"
            )
        return result

    def _claim(self, request_id: int, loop: asyncio.AbstractEventLoop | None) -> _Claim:
        """Registers a waiter for the pending ``request_id`` (blocking if ``loop`` is None)."""
        future = None if loop is None else loop.create_future()
        claim = _Claim(request_id, loop, future)
        self._claims.setdefault(request_id, []).append(claim)
        return claim

    def _refuse_blocking(self, what: str, targets: list[str]) -> None:
        """Raises RuntimeError on a thread running the background loop (it records outcomes)
        or the home loop of one of ``targets`` (they answer): blocking it would deadlock."""
        here = running_loop()
        if here is None:
            return
        background = self._mesh._background
        homes = [r.loop for name, r in list(self._mesh._runners.items()) if name in targets]
        if (background is not None and here is background.loop) or here in homes:
            raise RuntimeError(
                f"{what}() on a loop thread that this mesh needs to finish the request would "
                "deadlock; use the async form with 'await'"
            )

    def _settle(self, claim: _Claim, timeout: float | None) -> MeshResult:
        """What a woken or timed-out wait_for returns or raises."""
        result = self._withdraw(claim, keep=False)
        if result is not None:
            return result
        if claim.woken:
            raise RequestNotFound(f"request {claim.request_id} was taken by another waiter")
        raise TimeoutError(f"request {claim.request_id} was still pending after {timeout} s")

    def _withdraw(self, claim: _Claim, *, keep: bool) -> MeshResult | None:
        claims = self._claims.get(claim.request_id)
        if claims is not None and claim in claims:
            claims.remove(claim)
            if not claims:
                del self._claims[claim.request_id]
        if keep and claim.result is not None:
            self._retain(claim.result)
        return claim.result

    def _deliver(self, result: MeshResult) -> None:
        """Hands ``result`` to its first waiter, else retains it; wakes its waiters."""
        claims = self._claims.pop(result.request_id, None)
        if not claims:
            self._retain(result)
            return
        claims[0].result = result
        for claim in claims:
            self._wake(claim)

    def _retain(self, result: MeshResult) -> None:
        self._results[result.request_id] = result
        if len(self._results) > self._retention:
            del self._results[next(iter(self._results))]  # the oldest
            self._evicted += 1

    def _take_all(self) -> list[MeshResult]:
        results = list(self._results.values())
        self._results.clear()
        return results

    def _wake_collectors(self) -> None:
        collectors, self._collectors = self._collectors, []
        for claim in collectors:
            self._wake(claim)
        self._cond.notify_all()  # blocking collectors re-check the pending set

    def _wake(self, claim: _Claim) -> None:
        claim.woken = True
        if claim.future is None:
            self._cond.notify_all()
            return
        assert claim.loop is not None
        try:
            claim.loop.call_soon_threadsafe(_resolve, claim.future)
        except RuntimeError:
            pass  # that loop is closed: nobody waits there any more


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _outcome_of(future: asyncio.Future[OutcomeTuple], target: str) -> tuple[Any, MeshError | None]:
    """(response, None) or (None, error) for a completed native wait."""
    if future.cancelled():  # the background loop shut down before the outcome arrived
        return None, MeshClosed(f"the mesh closed before agent {target!r} answered")
    try:
        return unwrap(future.result(), target), None
    except MeshError as error:
        return None, error


def _check_interval(interval: float | None) -> None:
    if interval is not None and not interval > 0:
        raise ValueError("reminder_interval must be a positive number of seconds (or None)")


def _log_hook_failure(request: MeshRequest, exc: BaseException | None = None) -> None:
    logger.error(
        "agent %r: on_reminder failed for request %d",
        request.target,
        request.id,
        exc_info=exc if exc is not None else True,
        extra={"agent": request.target, "request_id": request.id},
    )
