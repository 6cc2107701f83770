"""serendip's native engine. Private: import from `serendip` instead."""

import asyncio
from collections.abc import Callable, Coroutine, Generator, Sequence
import contextvars
from typing import Any

import serendip
import serendip._bridge


class Waiter:
    """Hears the end of one request or wait. Opaque."""

class BlockingWaiter(Waiter):
    """A waiter for a thread that blocks (the *_sync calls)."""

    def __init__(self) -> None: ...

    def wait(self, seconds: float) -> bool:
        """Blocks up to `seconds` with the GIL released; True once completed."""

    def done(self) -> bool: ...

    def result(self) -> tuple[int, object, str, str]:
        """
        (status, payload, error_type, error_message). Only after wait() returned True.
        """

class LoopWaiter(Waiter):
    """
    A wait whose answer the loop's thread looks for itself first (Mesh.query takes it), then listens for (LoopBridge.listen). A request made with one from its loop's thread may run the target's plain handler inside the request call.
    """

INLINE_BUDGET: int = 16

class LoopBridge:
    """
    The native side of one event loop: a ready queue, an eventfd, and the dispatch of their work to runners and futures. Whoever makes one has the loop watch `fd` with `drain_turn`; `close` stops that.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None: ...

    @property
    def fd(self) -> int: ...

    @property
    def loop(self, /) -> asyncio.AbstractEventLoop:
        """The bridge's loop (alive while anything can still use the bridge)."""

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True while the bridge is open and `loop` is its loop."""

    def wait_for_items(self, seconds: float) -> bool:
        """
        Polls for work for up to `seconds` (and a few dozen microseconds at most) with the GIL released; True once any is queued. The loop calls it before it sleeps.
        """

    def drain_turn(self) -> None:
        """
        Dispatches every queued item: runner.on_ready(), future.set_result(outcome), runner.abandon(request_id). A failing item goes to the loop's exception handler; SystemExit and KeyboardInterrupt are raised once the batch is done. Loop thread only.
        """

    def add_runner(self, agent: int, runner: serendip._bridge.Runnable) -> None:
        """Routes agent `agent`'s ready and abandon items to `runner`."""

    def remove_runner(self, agent: int) -> None:
        """Stops routing agent `agent`'s items (a no-op if it is not routed)."""

    def waiter(self) -> LoopWaiter:
        """A LoopWaiter for a request from this loop."""

    def listen(self, waiter: LoopWaiter) -> tuple[asyncio.Future[tuple[int, object, str, str]], int]:
        """
        (future, token): a future on the loop that the waiter's outcome resolves (at once if it came already). Drop it with forget(token) if nobody awaits it any more. Loop thread only.
        """

    def answer_or_listen(self, waiter: LoopWaiter, request_id: int) -> tuple[int, Any, int]:
        """
        (request_id, outcome, 0) if the waiter holds its outcome, else (request_id, future, token) as listen() gives them. Loop thread only.
        """

    def new_wait(self) -> tuple[asyncio.Future[tuple[int, object, str, str]], Waiter, int]:
        """
        (future, waiter, token): a future on the loop and the waiter that resolves it.
        """

    def forget(self, token: int) -> None:
        """Drops a wait whose future is no longer awaited."""

    def close(self) -> None:
        """
        Refuses further items, drops the queued ones, cancels the futures still waiting and stops the loop watching `fd`. Loop thread only.
        """

    @property
    def closed(self) -> bool: ...

def check_pattern(pattern: str) -> None:
    """Raises ValueError unless `pattern` is a valid subscription pattern."""

STATUS_OK: int = 0

STATUS_ERROR: int = 1

STATUS_TIMEOUT: int = 2

STATUS_CANCELLED: int = 3

STATUS_NOT_FOUND: int = 4

STATUS_CLOSED: int = 5

STATUS_DROPPED: int = 6

class AgentRef:
    """The mesh's record of one agent."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    def size(self) -> int:
        """Messages waiting in the mailbox."""

    def stats(self) -> dict[str, Any]:
        """
        Counters and latency summaries (seconds), as serendip.metrics.AgentMetrics.
        """

class Mesh:
    """The native mesh: routing, requests, deadlines."""

    def __init__(self, name: str, worker_threads: int = 0, dead_letter_capacity: int = 1000) -> None: ...

    def tell_nowait(self, target: str, payload: object | None) -> None:
        """
        Sends a one-way message or raises MailboxFull at once. Any thread; never blocks.

        Raises AgentNotFound, MailboxFull or MeshClosed.
        """

    def add_agent(self, name: str, mailbox_size: int, bridge: object, overflow: str = 'wait') -> AgentRef:
        """
        Registers a Python agent homed on `bridge`. `overflow`: wait, reject, drop_oldest or drop_newest.
        """

    def remove_agent(self, name: str) -> AgentRef | None: ...

    def detach(self, name: str) -> AgentRef | None:
        """Unregisters the agent but leaves its mailbox open, to be drained."""

    def retire(self, agent: AgentRef) -> None:
        """Closes a detached agent's mailbox; what it left ends as not found."""

    def names(self) -> list[str]: ...

    def send_nowait(self, target: str, payload: object | None, sender: str | None = None, topic: str | None = None) -> None:
        """
        Sends a one-way message (as published to `topic`, if given) or raises MailboxFull at once. Any thread; never blocks.

        Raises AgentNotFound, MailboxFull or MeshClosed.
        """

    def send(self, target: str, payload: object | None, sender: str | None, topic: str | None) -> bool:
        """
        Like send_nowait, but False when the mailbox is full and its senders may wait for space (then wait_space and retry); MailboxFull only for overflow='reject'.
        """

    def request(self, target: str, payload: object, sender: str | None, timeout: float | None, waiter: Waiter) -> int:
        """
        Sends a request: its id, or 0 when the mailbox is full (nothing opened; wait for space and retry). Raises AgentNotFound, MailboxFull (overflow='reject') or MeshClosed.
        """

    def query(self, bridge: LoopBridge, target: str, payload: object, sender: str | None, timeout: float | None) -> tuple[int, Any, int]:
        """
        request() from `bridge`'s loop, with the answer or what waits for it: (id, (status, payload, error_type, error_message), 0) when answered inside the call; (id, future, token) otherwise, the future resolved with that tuple (forget(token) on the bridge if nobody awaits it); (0, waiter, 0) when the mailbox is full (wait for space, retry request() with the waiter, then listen). Raises as request() does. Loop thread only.
        """

    def request_blocking(self, target: str, payload: object | None, timeout: float | None, waiter: BlockingWaiter, wait: float) -> int:
        """
        request() for a caller that blocks next: releases the GIL from the push on and waits up to `wait` seconds for the answer (check waiter.done()). Its id, or 0 when the mailbox is full. Raises as request() does, and KeyboardInterrupt (the request cancelled) when a signal handler raises it meanwhile.
        """

    def cancel(self, request_id: int) -> bool: ...

    def wait_idle(self, waiter: Waiter) -> bool:
        """Registers the waiter for the next idle moment; False if idle now."""

    def wait_space(self, target: str, waiter: Waiter) -> bool:
        """
        Registers the waiter for space in target's mailbox; False means retry now.
        """

    def close(self) -> int:
        """
        Refuses new work, fails in-flight requests, returns how many envelopes were dropped.
        """

    def join(self) -> None:
        """Stops and joins the native threads, with the GIL released."""

    def subscribe(self, agent: AgentRef, pattern: str) -> bool:
        """
        Subscribes the agent to a subject pattern (`*`, `>` wildcards); False if it was.
        """

    def unsubscribe(self, agent: AgentRef, pattern: str) -> bool:
        """False if it was not subscribed."""

    def patterns(self, agent: AgentRef) -> list[str]:
        """The agent's subscription patterns, in subscription order."""

    def publish_nowait(self, topic: str, payload: object, sender: str | None = None) -> tuple[int, list[str]]:
        """
        Sends to every subscriber with room: (how many got it, names of full mailboxes whose senders wait). Raises ValueError for a bad subject, MeshClosed.
        """

    def dead_letters(self, take: bool = False) -> list[tuple[str, str, str, int, int, str, float]]:
        """
        (reason, target, sender, message id, request id, detail, unix time), oldest first.
        """

    def dead_letters_since(self, seen: int) -> tuple[list[tuple[str, str, str, int, int, str, float]], int]:
        """
        The kept dead letters recorded after the first `seen`, and how many exist now.
        """

    def watch_dead_letters(self, seen: int, waiter: Waiter) -> bool:
        """
        Registers the waiter for the next dead letter; False: there are news (or closed).
        """

    @property
    def dead_letters_recorded(self) -> int: ...

    def leak(self) -> None:
        """Abandons the native mesh (forked child only)."""

    @property
    def closed(self) -> bool: ...

class Context:
    """
    Passed to ``on_message`` (and the hooks) with the message's addressing.

    Created by the mesh for the message being handled; valid on the agent's home loop. Sends made through it carry this agent as the sender.
    """

    def __init__(self, mesh: serendip.LocalMesh, agent: str) -> None: ...

    @property
    def agent(self) -> str:
        """The name of the agent handling the message."""

    @property
    def mesh(self) -> serendip.LocalMesh:
        """The mesh the agent belongs to."""

    @property
    def sender(self) -> str | None:
        """
        The sending agent's name, or None for messages sent from outside any agent.
        """

    @property
    def topic(self) -> str | None:
        """The subject a published message was sent to, else None."""

    @property
    def message_id(self) -> int | None:
        """
        The message's id, unique within the mesh (None in the start and stop hooks).
        """

    @property
    def request_id(self) -> int | None:
        """The request's id when the message is a query, else None."""

    def send_to(self, target: str, payload: object) -> Coroutine[Any, Any, None]:
        """
        Sends a one-way message as this agent; await it. Waits while the target's mailbox is full. Raises AgentNotFound or MeshClosed.
        """

    def query(self, target: str, payload: object, *, timeout: float | None = 30.0) -> Coroutine[Any, Any, Any]:
        """
        Asks ``target`` as this agent; await it for the handler's result.

        A query to this same agent from its own handler raises RuntimeError when the agent handles one message at a time (it could only deadlock). Raises AgentNotFound, QueryTimeout, HandlerError or MeshClosed; cancelling the await cancels the request.
        """

    def __repr__(self) -> str: ...

class HandlerStep:
    """A suspended handler invocation; await it to run it to its end."""

    @property
    def request_id(self) -> int:
        """The request it answers, or 0."""

    def throw(self, error: object) -> object:
        """Throws `error` into the handler, as a Task's cancellation does."""

    def close(self) -> None:
        """Closes the handler's coroutine."""

    def settle(self, value: object | None, error: object | None, answer: bool) -> None:
        """
        Ends the invocation after a CancelledError or BaseException left it unsettled: answers `value` or fails it with `error` (with `answer` false, leaves the request to the mesh's close), and counts it handled. Once only.
        """

    def __await__(self) -> Generator[Any, None, None]: ...

    def __iter__(self) -> HandlerStep: ...

    def __next__(self) -> object: ...

class Dispatcher:
    """Runs one Python agent's handlers natively. Home loop only."""

    def __init__(self, mesh_handle: Mesh, cell: AgentRef, handler: Callable[..., Any], invoke: Callable[..., Any], invocation_type: type, context: contextvars.Context, mesh: object, on_fail: Callable[[BaseException, Any, Context], None], spawn: Callable[[], None], defer: Callable[[HandlerStep], None], max_concurrency: int) -> None: ...

    def run_sync(self, limit: int) -> int:
        """
        Handles up to `limit` messages with a plain handler; returns how many it took.
        """

    def run_async(self, limit: int) -> HandlerStep | int | None:
        """
        Runs coroutine handlers until one suspends (returned for the caller to await), `limit` completed (returns the int), or the mailbox is idle (None).
        """

    def ask(self, bridge: LoopBridge, payload: object, sender: str | None, timeout: float | None) -> tuple[int, Any, Any] | None:
        """
        Asks the agent from its home loop while no runner works, starting the handler in the caller: (id, step, waiter) when it suspended (await the step, then LoopBridge.answer_or_listen), else as Mesh.query returns; None, asking nothing, when the loop must turn first or the stack is half deep as Python allows.
        """

    def try_idle(self) -> bool:
        """Makes the mailbox idle if no message is left to take; True if it did."""

    def stop(self) -> None:
        """Takes no more messages."""

class NativeAction:
    """A native action (C ABI of serendip/native_action.h)."""

    def __init__(self, address: int, owner: object) -> None:
        """
        The function at `address` (a ctypes function's), with no state; `owner` is kept alive with it.
        """

    @staticmethod
    def from_capsule(capsule: object) -> NativeAction:
        """
        The function a PyCapsule named 'serendip.native_action' holds; the capsule's context is its state.
        """

    def call(self, inputs: str) -> str:
        """
        Runs the action on JSON `inputs` in this thread, without the GIL; returns its JSON result. Raises NativeActionError.
        """

class LlmEndpoint:
    """A resolved 'provider::model': URL, protocol and key (never shown)."""

    def __init__(self, model: str, base_url: str = '', api_key: str = '', api_version: str = '') -> None:
        """
        Resolves the model string; raises LlmConfigError (a missing key, an unknown provider).
        """

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def has_key(self) -> bool: ...

    def redact(self, text: str) -> str:
        """`text` with the key replaced by '***'."""

class LlmTools:
    """Tool specs parsed once: (name, description, JSON schema text)."""

    def __init__(self, tools: Sequence[tuple[str, str, str]]) -> None: ...

    def __len__(self) -> int: ...

class LlmStats:
    """Counters of one LLM agent's calls."""

    def __init__(self) -> None: ...

    def snapshot(self) -> dict[str, Any]:
        """
        calls, succeeded, cancelled, failed (by error), retries, tokens, latency.
        """

class LlmStream(Waiter):
    """Events of one streamed call, for its loop."""

    def __init__(self) -> None: ...

    def take(self) -> tuple[list[tuple[int, str, int, str, str]], tuple[int, object, str, str] | None]:
        """
        (events, outcome or None): the events so far, and the end once it came.
        """

    def arm(self, waiter: Waiter) -> bool:
        """
        Completes `waiter` at the next event or the end; False when one is already here.
        """

class LlmClient:
    """Chat completions on one native HTTP I/O thread."""

    def __init__(self, max_connections: int = 1024) -> None: ...

    def chat(self, done: Waiter, endpoint: LlmEndpoint, system: str, messages: list[tuple[Any, ...]], tools: LlmTools | None, temperature: float | None, max_tokens: int | None, limit_keys: Sequence[str], timeout: float, max_attempts: int, max_response_bytes: int, stats: LlmStats | None) -> int:
        """
        Starts a call; `done` completes with its outcome; an LlmStream as `done` streams the call into it. Returns the call's id.
        """

    def cancel(self, call_id: int) -> None: ...

    def set_limits(self, key: str, max_concurrency: int, requests_per_minute: int, tokens_per_minute: int) -> None:
        """A limit key's limits (0 = unlimited)."""

    def close(self) -> None:
        """Ends every open call with 'closed' and stops the I/O thread."""
