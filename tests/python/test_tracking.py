"""Request tracking on LocalMesh: submit, wait_for, pending, results, collect_results, reminders."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from serendip import (
    Agent,
    AgentNotFound,
    Context,
    HandlerError,
    LocalMesh,
    MeshClosed,
    MeshRequest,
    MeshResult,
    QueryTimeout,
    RequestNotFound,
)

from _support import SAFETY, Gate, Twin, TwinRunner, wait_until


class Worker(Agent):
    """Doubles its message; raises for "boom"; waits on its gate for "block"."""

    def __init__(self, name: str, gate: Gate | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.gate = gate
        self.homes: list[asyncio.AbstractEventLoop] = []

    async def on_message(self, message: Any, ctx: Context) -> Any:
        self.homes.append(asyncio.get_running_loop())
        if message == "boom":
            raise KeyError(message)
        if message == "block":
            assert self.gate is not None
            await self.gate.wait()
        return message * 2


class Reminded(Worker):
    """A Worker whose reminders are recorded, in the order they arrive, as (id, count)."""

    def __init__(self, name: str, gate: Gate | None = None, **kw: Any) -> None:
        super().__init__(name, gate, **kw)
        self.reminders: list[tuple[int, int]] = []
        self.reminder_homes: list[asyncio.AbstractEventLoop] = []
        self.contexts: list[str] = []

    def on_reminder(self, request: MeshRequest, ctx: Context) -> None:
        self.reminders.append((request.id, request.reminder_count))
        self.reminder_homes.append(asyncio.get_running_loop())
        self.contexts.append(ctx.agent)

    def counts(self, request_id: int) -> list[int]:
        return [count for rid, count in list(self.reminders) if rid == request_id]


# The tracking calls through one twin: awaited on the scenario's loop, or their *_sync forms.


async def submit(m: Twin, target: str, payload: Any, **kw: Any) -> int:
    if m.kind == "async":
        return await m.mesh.submit(target, payload, **kw)
    return m.mesh.submit_sync(target, payload, **kw)


async def wait_for(m: Twin, request_id: int, **kw: Any) -> MeshResult:
    if m.kind == "async":
        return await m.mesh.wait_for(request_id, **kw)
    return m.mesh.wait_for_sync(request_id, **kw)


async def collect(m: Twin, **kw: Any) -> list[MeshResult]:
    if m.kind == "async":
        return await m.mesh.collect_results(**kw)
    return m.mesh.collect_results_sync(**kw)


def waiting_for(mesh: LocalMesh, request_id: int) -> bool:
    """White-box: a wait_for on ``request_id`` has registered (it is blocked, not about to be)."""
    with mesh._tracker._lock:
        return bool(mesh._tracker._claims.get(request_id))


def ids(results: list[MeshResult]) -> list[int]:
    return [r.request_id for r in results]


# -- submitting and waiting ---------------------------------------------------------------------


def test_a_submitted_request_is_answered_and_wait_for_takes_its_result(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker"))
        request_id = await submit(m, "worker", "ab")
        result = await wait_for(m, request_id, timeout=SAFETY)
        assert (result.request_id, result.target, result.response) == (request_id, "worker", "abab")
        assert result.ok and result.error is None
        assert result.duration_ms >= 0
        with pytest.raises(RequestNotFound):
            await wait_for(m, request_id, timeout=SAFETY)  # taken
        assert m.mesh.pending() == [] and m.mesh.results() == []

    twin.run(scenario)


@pytest.mark.asyncio
async def test_async_code_submits_to_an_agent_on_its_own_loop(amesh: LocalMesh) -> None:
    worker = amesh.add_agent(Worker("worker"))
    request_id = await amesh.submit("worker", 21)
    result = await amesh.wait_for(request_id, timeout=SAFETY)
    assert result.response == 42
    assert worker.homes == [asyncio.get_running_loop()]


def test_async_code_submits_to_an_agent_on_another_loop(mesh: LocalMesh) -> None:
    worker = mesh.add_agent(Worker("worker"))  # homed on the background loop

    async def main() -> MeshResult:
        request_id = await mesh.submit("worker", 4)
        return await mesh.wait_for(request_id, timeout=SAFETY)

    assert asyncio.run(main()).response == 8
    assert worker.homes and worker.homes[0] is mesh._background_loop().loop


def test_an_outcome_is_kept_after_the_submitting_loop_has_ended(
    mesh: LocalMesh, gate: Gate
) -> None:
    mesh.add_agent(Worker("worker", gate))

    async def main() -> int:
        return await mesh.submit("worker", "block")

    request_id = asyncio.run(main())  # this loop is gone before the request ends
    gate.open()
    assert mesh.wait_for_sync(request_id, timeout=SAFETY).response == "blockblock"


def test_a_handler_on_the_background_loop_may_use_submit_sync(mesh: LocalMesh) -> None:
    class Delegator(Agent):
        def on_message(self, message: Any, ctx: Context) -> int:
            return ctx.mesh.submit_sync("worker", message)

    mesh.add_agent(Worker("worker"))
    mesh.add_agent(Delegator("delegator"))
    request_id = mesh.query_sync("delegator", "x")
    assert mesh.wait_for_sync(request_id, timeout=SAFETY).response == "xx"


def test_submit_waits_for_space_in_a_full_mailbox(twin: TwinRunner, gate: Gate) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker", gate, mailbox_size=1))
        blocked = await submit(m, "worker", "block")
        assert await m.until(lambda: gate.entered == 1)
        queued = await submit(m, "worker", "q")  # fills the mailbox
        waiting = m.start(submit, m, "worker", "w")
        await m.pause()
        assert not m.done(waiting)
        gate.open()
        last = await m.result(waiting)
        results = await collect(m, timeout=SAFETY)
        assert ids(results) == [blocked, queued, last]

    twin.run(scenario)


@pytest.mark.asyncio
async def test_submit_sync_on_the_targets_loop_opens_at_once_but_never_waits_for_space(
    amesh: LocalMesh, gate: Gate
) -> None:
    amesh.add_agent(Worker("worker", gate, mailbox_size=1))
    blocked = amesh.submit_sync("worker", "block")
    while gate.entered == 0:
        await asyncio.sleep(0)
    queued = amesh.submit_sync("worker", "q")  # fills the mailbox
    with pytest.raises(RuntimeError, match="full mailbox"):
        amesh.submit_sync("worker", "w")
    gate.open()
    assert ids(await amesh.collect_results(timeout=SAFETY)) == [blocked, queued]


@pytest.mark.asyncio
async def test_wait_for_sync_on_the_loop_that_runs_the_target_raises_runtime_error(
    amesh: LocalMesh, gate: Gate
) -> None:
    amesh.add_agent(Worker("worker", gate))
    request_id = await amesh.submit("worker", "block")
    with pytest.raises(RuntimeError, match="deadlock"):
        amesh.wait_for_sync(request_id, timeout=SAFETY)
    gate.open()
    assert (await amesh.wait_for(request_id, timeout=SAFETY)).response == "blockblock"


# -- failures as results, errors at submit ----------------------------------------------------


def test_a_handler_failure_and_a_deadline_become_results_with_an_error(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker", gate, max_concurrency=2))
        failing = await submit(m, "worker", "boom")
        late = await submit(m, "worker", "block", timeout=0.05)
        failed = await wait_for(m, failing, timeout=SAFETY)
        assert not failed.ok and failed.response is None
        assert isinstance(failed.error, HandlerError)
        assert failed.error.remote_type == "KeyError"
        expired = await wait_for(m, late, timeout=SAFETY)
        assert isinstance(expired.error, QueryTimeout) and expired.response is None

    twin.run(scenario)


def test_submit_to_an_unknown_agent_raises_agent_not_found_at_once(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        with pytest.raises(AgentNotFound):
            await submit(m, "nobody", 1)
        assert m.mesh.pending() == [] and m.mesh.peek_results() == []

    twin.run(scenario)


def test_a_reminder_interval_must_be_positive(mesh: LocalMesh) -> None:
    mesh.add_agent(Worker("worker"))
    with pytest.raises(ValueError, match="reminder_interval"):
        mesh.submit_sync("worker", 1, reminder_interval=0)


def test_wait_for_an_id_never_submitted_raises_request_not_found(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        with pytest.raises(RequestNotFound):
            await wait_for(m, 12345, timeout=SAFETY)

    twin.run(scenario)


def test_a_wait_for_that_times_out_leaves_the_request_pending(twin: TwinRunner, gate: Gate) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker", gate))
        request_id = await submit(m, "worker", "block")
        with pytest.raises(TimeoutError) as info:
            await wait_for(m, request_id, timeout=0.05)
        assert type(info.value) is TimeoutError  # not the request's own QueryTimeout
        assert [p.id for p in m.mesh.pending()] == [request_id]
        gate.open()
        assert (await wait_for(m, request_id, timeout=SAFETY)).response == "blockblock"

    twin.run(scenario)


# -- pending, results, peek, collect ----------------------------------------------------------


def test_pending_lists_requests_oldest_first_and_results_keep_completion_order(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker", gate, max_concurrency=4))
        blocked = await submit(m, "worker", "block")
        first = await submit(m, "worker", "a")
        assert await m.until(lambda: ids(m.mesh.peek_results()) == [first])
        second = await submit(m, "worker", "b")
        assert await m.until(lambda: len(m.mesh.peek_results()) == 2)
        assert ids(m.mesh.peek_results()) == [first, second]  # peeking takes nothing
        pending = m.mesh.pending()
        assert [(p.id, p.target, p.payload, p.reminder_count) for p in pending] == [
            (blocked, "worker", "block", 0)
        ]
        assert pending[0].elapsed_seconds >= 0
        gate.open()
        results = await collect(m, timeout=SAFETY)
        assert ids(results) == [first, second, blocked]
        assert [r.response for r in results] == ["aa", "bb", "blockblock"]
        assert m.mesh.results() == [] and m.mesh.pending() == []

    twin.run(scenario)


def test_results_takes_what_is_retained(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker"))
        request_id = await submit(m, "worker", "z")
        assert await m.until(lambda: m.mesh.peek_results())
        assert ids(m.mesh.results()) == [request_id]
        assert m.mesh.results() == []
        with pytest.raises(RequestNotFound):
            await wait_for(m, request_id, timeout=SAFETY)

    twin.run(scenario)


def test_collect_results_past_its_timeout_returns_what_is_done_and_leaves_the_rest_pending(
    twin: TwinRunner, gate: Gate
) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("worker", gate, max_concurrency=2))
        blocked = await submit(m, "worker", "block")
        done = await submit(m, "worker", "d")
        assert await m.until(lambda: m.mesh.peek_results())
        assert ids(await collect(m, timeout=0.05)) == [done]
        assert [p.id for p in m.mesh.pending()] == [blocked]
        gate.open()
        assert ids(await collect(m, timeout=SAFETY)) == [blocked]

    twin.run(scenario)


# -- retention ------------------------------------------------------------------------------------


def test_retention_evicts_the_oldest_results_and_counts_them() -> None:
    with LocalMesh("retention", result_retention=2) as mesh:
        mesh.add_agent(Worker("worker"))  # one message at a time: completion order is fixed
        submitted = [mesh.submit_sync("worker", n) for n in range(5)]
        results = mesh.collect_results_sync(timeout=SAFETY)
        assert ids(results) == submitted[-2:]
        assert mesh.results_evicted == 3
        with pytest.raises(RequestNotFound):
            mesh.wait_for_sync(submitted[0], timeout=SAFETY)


def test_a_result_someone_waits_for_reaches_the_waiter_rather_than_eviction(gate: Gate) -> None:
    with LocalMesh("retention", result_retention=1) as mesh:
        mesh.add_agent(Worker("worker", gate))
        blocked = mesh.submit_sync("worker", "block")
        later = [mesh.submit_sync("worker", n) for n in (1, 2)]  # queued behind it
        got: list[MeshResult] = []
        waiter = threading.Thread(target=lambda: got.append(mesh.wait_for_sync(blocked)))
        waiter.start()
        assert wait_until(lambda: waiting_for(mesh, blocked))
        gate.open()
        waiter.join(SAFETY)
        assert [r.response for r in got] == ["blockblock"]
        assert ids(mesh.collect_results_sync(timeout=SAFETY)) == later[-1:]
        assert mesh.results_evicted == 1  # the first of the later two, never the awaited one


def test_a_result_retention_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="result_retention"):
        LocalMesh("bad", result_retention=0)


# -- reminders ------------------------------------------------------------------------------------


def test_reminders_reach_on_reminder_with_growing_counts_and_stop_at_completion(
    twin: TwinRunner, new_gate: Callable[[], Gate]
) -> None:
    first_gate, second_gate = new_gate(), new_gate()

    async def scenario(m: Twin) -> None:
        agent = m.mesh.add_agent(Reminded("reminded", first_gate, max_concurrency=2))
        first = await submit(m, "reminded", "block", reminder_interval=0.01)
        assert await m.until(lambda: len(agent.counts(first)) >= 3)
        assert agent.counts(first)[:3] == [1, 2, 3]
        assert m.mesh.pending()[0].reminder_count >= 3
        assert set(agent.contexts) == {"reminded"}
        assert set(agent.reminder_homes) == set(agent.homes)  # the agent's home loop
        first_gate.open()
        assert (await wait_for(m, first, timeout=SAFETY)).ok

        # A second request on the same timer clock: had the first one's reminders gone on,
        # one would fall between this request's first and fourth reminder.
        agent.gate = second_gate
        second = await submit(m, "reminded", "block", reminder_interval=0.01)
        assert await m.until(lambda: len(agent.counts(second)) >= 4)
        since_second = agent.reminders[agent.reminders.index((second, 1)) :]
        assert {rid for rid, _ in since_second} == {second}
        second_gate.open()
        assert (await wait_for(m, second, timeout=SAFETY)).ok

    twin.run(scenario)


def test_an_agent_without_on_reminder_gets_no_reminders(twin: TwinRunner, gate: Gate) -> None:
    async def scenario(m: Twin) -> None:
        m.mesh.add_agent(Worker("plain", gate))
        reminded = m.mesh.add_agent(Reminded("reminded", gate))
        plain_id = await submit(m, "plain", "block", reminder_interval=0.01)
        other = await submit(m, "reminded", "block", reminder_interval=0.01)
        assert await m.until(lambda: len(reminded.counts(other)) >= 3)
        counts = {p.id: p.reminder_count for p in m.mesh.pending()}
        assert counts[plain_id] == 0 and counts[other] >= 3
        gate.open()

    twin.run(scenario)


@pytest.mark.asyncio
async def test_close_cancels_an_async_on_reminder_still_running(gate: Gate) -> None:
    # The hook runs as a task of the target's home loop; on a user loop nothing else would
    # ever end it, and on the background loop the close waited out its grace for it.
    hook_started, hook_cancelled = asyncio.Event(), asyncio.Event()

    class Slow(Worker):
        async def on_reminder(self, request: MeshRequest, ctx: Context) -> None:
            hook_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                hook_cancelled.set()
                raise

    mesh = LocalMesh("reminder-on-close")
    mesh.add_agent(Slow("slow", gate))  # homed on this loop
    await mesh.submit("slow", "block", reminder_interval=0.01)
    await asyncio.wait_for(hook_started.wait(), SAFETY)
    await mesh.aclose()
    await asyncio.wait_for(hook_cancelled.wait(), SAFETY)


def test_an_async_on_reminder_runs_and_a_failing_one_is_logged(
    mesh: LocalMesh, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[int] = []

    class Flaky(Worker):
        async def on_reminder(self, request: MeshRequest, ctx: Context) -> None:
            await asyncio.sleep(0)
            seen.append(request.reminder_count)
            raise ValueError("reminder trouble")

    mesh.add_agent(Flaky("flaky", gate))
    with caplog.at_level(logging.ERROR, logger="serendip"):
        request_id = mesh.submit_sync("flaky", "block", reminder_interval=0.01)
        assert wait_until(lambda: len(seen) >= 2)  # a failure does not stop the reminders
        assert wait_until(lambda: "on_reminder failed" in caplog.text)
    assert "reminder trouble" in caplog.text
    gate.open()
    assert mesh.wait_for_sync(request_id, timeout=SAFETY).ok


# -- closing --------------------------------------------------------------------------------------


def test_close_wakes_a_blocked_wait_for_sync_with_a_mesh_closed_result(
    mesh: LocalMesh, gate: Gate
) -> None:
    mesh.add_agent(Worker("worker", gate))
    request_id = mesh.submit_sync("worker", "block")
    got: list[MeshResult] = []
    waiter = threading.Thread(target=lambda: got.append(mesh.wait_for_sync(request_id)))
    waiter.start()
    assert wait_until(lambda: waiting_for(mesh, request_id))
    mesh.close()
    waiter.join(SAFETY)
    assert not waiter.is_alive()
    assert [r.request_id for r in got] == [request_id]
    assert isinstance(got[0].error, MeshClosed)
    with pytest.raises(MeshClosed):
        mesh.wait_for_sync(request_id)
    with pytest.raises(MeshClosed):
        mesh.submit_sync("worker", 1)
    with pytest.raises(MeshClosed):
        mesh.pending()
    with pytest.raises(MeshClosed):
        mesh.results()


@pytest.mark.asyncio
async def test_close_wakes_an_awaiting_wait_for_and_collect_results(
    amesh: LocalMesh, gate: Gate
) -> None:
    amesh.add_agent(Worker("worker", gate, max_concurrency=2))
    one = await amesh.submit("worker", "block")
    two = await amesh.submit("worker", "block")
    waiting = asyncio.ensure_future(amesh.wait_for(one))
    collecting = asyncio.ensure_future(amesh.collect_results())
    while not waiting_for(amesh, one):
        await asyncio.sleep(0)
    await amesh.aclose()
    result = await asyncio.wait_for(waiting, SAFETY)
    assert result.request_id == one and isinstance(result.error, MeshClosed)
    collected = await asyncio.wait_for(collecting, SAFETY)
    assert ids(collected) == [two] and isinstance(collected[0].error, MeshClosed)
    with pytest.raises(MeshClosed):
        await amesh.collect_results()
