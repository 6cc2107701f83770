"""serendip's native engine. Private: import from `serendip` instead."""

from typing import Any


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

class LoopBridge:
    """The native side of one event loop: a ready queue and an eventfd."""

    def __init__(self) -> None: ...

    @property
    def fd(self) -> int: ...

    def drain(self) -> list[tuple[Any, ...]]:
        """Takes every queued item. Loop thread only."""

    def waiter(self, token: int) -> Waiter:
        """A waiter that completes as item (1, token, outcome)."""

    def close(self) -> None:
        """Refuses further items and drops the queued ones."""

    @property
    def closed(self) -> bool: ...

DELIVERED: int = 0

FULL: int = 1

CLOSED: int = 2

NOT_FOUND: int = 3

STATUS_OK: int = 0

STATUS_ERROR: int = 1

STATUS_TIMEOUT: int = 2

STATUS_CANCELLED: int = 3

STATUS_NOT_FOUND: int = 4

STATUS_CLOSED: int = 5

class Envelope:
    """One message, owned by the Python side once popped."""

    @property
    def payload(self) -> object: ...

    @property
    def sender(self) -> str | None: ...

    @property
    def target(self) -> str: ...

    @property
    def message_id(self) -> int: ...

    @property
    def request_id(self) -> int: ...

    @property
    def kind(self) -> int: ...

class AgentRef:
    """The mesh's record of one agent."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    def pop(self) -> Envelope | None:
        """
        The next envelope or None (which makes the mailbox idle). Home loop only.
        """

    def pop_batch(self, max: int) -> list[Envelope]:
        """
        Up to `max` envelopes; an empty list makes the mailbox idle. Home loop only.
        """

    def try_idle(self) -> bool:
        """
        Makes an empty mailbox idle (the next push arms it); False if it has work.
        """

    def size(self) -> int: ...

    @property
    def capacity(self) -> int: ...

    @property
    def closed(self) -> bool: ...

class Mesh:
    """The native mesh: routing, requests, deadlines."""

    def __init__(self, worker_threads: int = 0) -> None: ...

    def add_agent(self, name: str, mailbox_size: int, bridge: object) -> AgentRef: ...

    def remove_agent(self, name: str) -> AgentRef | None: ...

    def find(self, name: str) -> AgentRef | None: ...

    def names(self) -> list[str]: ...

    def tell(self, target: str, payload: object | None, sender: str | None) -> int: ...

    def tell_agent(self, agent: AgentRef, payload: object, sender: str | None) -> int: ...

    def request(self, target: str, payload: object, sender: str | None, timeout: float | None, waiter: Waiter) -> tuple[int, int]:
        """
        Sends a request: (route result, request id); nothing is opened unless DELIVERED.
        """

    def reply(self, request_id: int, result: object | None) -> bool: ...

    def reply_error(self, request_id: int, error: object, error_type: str, message: str) -> bool: ...

    def cancel(self, request_id: int) -> bool: ...

    def pending(self, request_id: int) -> bool: ...

    def finish(self, count: int) -> None:
        """Reports `count` popped messages as handled."""

    def outstanding(self) -> int: ...

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

    def leak(self) -> None:
        """Abandons the native mesh (forked child only)."""

    @property
    def closed(self) -> bool: ...
