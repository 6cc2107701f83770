"""serendip.testing._scripted_server: ScriptedLLMServer, its script of turns, what it records.

The server is one asyncio loop on a daemon thread serving a deliberately small HTTP/1.1 on
127.0.0.1: request line, headers, a Content-Length or chunked body, keep-alive and ``Expect:
100-continue`` (libcurl sends it before large bodies and would otherwise wait a second). Streamed
answers go out with ``Transfer-Encoding: chunked``, one HTTP chunk per SSE event or NDJSON line.
Each connection is one task and a delay is an ``asyncio.sleep``, so a thousand concurrent clients
cost a thousand small tasks, not threads. The wire modules (``_openai_wire``, ``_anthropic_wire``,
``_ollama_wire``) only turn an :class:`Answer` into a provider's JSON or stream; HTTP lives here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import hashlib
import http
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, TypeAlias

from . import _anthropic_wire, _ollama_wire, _openai_wire

__all__ = [
    "Answer",
    "AnswerCall",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ScriptedLLMServer",
    "ToolCall",
]

Finish: TypeAlias = Literal["stop", "tool_calls", "length"]
"""Why an answer ended, in OpenAI's words; the Anthropic and Ollama wires translate it."""

ProtocolName: TypeAlias = Literal["openai", "anthropic", "ollama", "unknown"]
"""Which API a request was addressed to, judged by its path ("unknown": no LLM endpoint)."""

_FRAGMENT: Final = 8  # JSON characters per argument delta: cuts keys and values, as models do
_BACKLOG: Final = 4096  # a test may connect a thousand clients at once
_JSON: Final = "application/json"
_TEXT: Final = "text/plain; charset=utf-8"
_SECRET_HEADERS: Final = ("authorization", "x-api-key", "api-key")  # api-key: Azure OpenAI
_WORD_PIECES: Final = re.compile(r"\s*\S+|\s+$")  # word and the space before it; joins back exactly


@dataclass(frozen=True)
class ToolCall:
    """One call of the tool ``name`` with JSON-object ``arguments``, inside a :class:`Reply`.

    When ``id`` is None the server makes one up per protocol, counting from 1 over its life:
    ``call_1``, ``call_2``... (OpenAI) and ``toolu_1``... (Anthropic). Ollama's wire has no ids.
    """

    name: str
    arguments: Mapping[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful answer: ``text`` and/or ``tool_calls``, rendered in the protocol asked.

    ``usage`` is (prompt, completion) tokens; by default prompt counts the whitespace-separated
    words of the request's message texts (and Anthropic's ``system``), completion the words of
    ``text`` plus one per tool call. ``finish`` defaults to "tool_calls" when there are tool
    calls, else "stop". ``chunks`` is how a stream splits ``text`` (they must join to it); by
    default one word per chunk, each with the space before it. ``delay`` seconds pass before the
    response starts, without holding up other requests.

    Raises:
        ValueError: ``chunks`` do not join to ``text``, or ``delay`` is negative.
    """

    text: str = ""
    _: KW_ONLY
    tool_calls: Sequence[ToolCall] = ()
    usage: tuple[int, int] | None = None
    finish: Finish | None = None
    chunks: Sequence[str] | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
            if "".join(self.chunks) != self.text:
                raise ValueError("Reply chunks must join to its text")
        if self.delay < 0:
            raise ValueError("Reply delay must not be negative")


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer: ``status`` with ``body`` after ``delay`` seconds.

    ``body`` None sends the protocol's own error JSON (OpenAI ``{"error": {...}}``, Anthropic
    ``{"type": "error", ...}``, Ollama ``{"error": "..."}``); a dict is sent as JSON, a str as
    text/plain. ``retry_after`` adds a ``Retry-After`` header; ``headers`` are sent as given.
    The class methods make the faults that are not a status: :meth:`stall`, :meth:`malformed`
    and :meth:`oversized`.
    """

    status: int = 500
    body: str | Mapping[str, Any] | None = None
    _: KW_ONLY
    headers: Mapping[str, str] | None = None
    retry_after: int | None = None
    delay: float = 0.0
    kind: Literal["status", "stall", "malformed", "oversized"] = field(default="status", init=False)
    """Which fault this is; set only by the class methods."""
    size: int = field(default=0, init=False)
    """For "oversized": characters of answer text."""

    @classmethod
    def stall(cls) -> Fault:
        """Reads the request and never answers; the connection closes only when the server stops."""
        return cls._special("stall", 0)

    @classmethod
    def malformed(cls) -> Fault:
        """Answers 200 with a body cut in half (not valid JSON); a stream sends one good event,
        then one cut in half, then ends."""
        return cls._special("malformed", 0)

    @classmethod
    def oversized(cls, n_bytes: int) -> Fault:
        """Answers 200 with a valid answer whose text is ``n_bytes`` of "x" in one piece, so the
        body (or a single stream event) is larger than ``n_bytes``."""
        return cls._special("oversized", n_bytes)

    @classmethod
    def _special(cls, kind: Literal["stall", "malformed", "oversized"], size: int) -> Fault:
        fault = cls(200)
        object.__setattr__(fault, "kind", kind)
        object.__setattr__(fault, "size", size)
        return fault


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is the request target with its query string; ``headers`` have lower-case names, and
    the values of ``authorization``, ``x-api-key`` and ``api-key`` read "***" (use
    :meth:`ScriptedLLMServer.saw_api_key`). ``json`` is the parsed body, None if it was not
    JSON. ``time`` is ``time.monotonic()`` at arrival.
    """

    protocol: ProtocolName
    path: str
    headers: Mapping[str, str]
    json: Any
    time: float


Turn: TypeAlias = Reply | Fault | Callable[[RecordedRequest], Reply | Fault]
"""One scripted answer, or a function of the request returning one (called on the server loop)."""


@dataclass(frozen=True)
class AnswerCall:
    """A :class:`ToolCall` with its id settled, as the wire modules render it."""

    id: str
    name: str
    arguments: Mapping[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON text OpenAI carries in a string."""
        return json.dumps(self.arguments)

    @property
    def fragments(self) -> list[str]:
        """``arguments_json`` in the pieces a stream sends it in."""
        text = self.arguments_json
        return [text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT)]


@dataclass(frozen=True)
class Answer:
    """One :class:`Reply` settled for one request: all a wire module needs to render it."""

    request: Mapping[str, Any]
    """The request's JSON body."""
    serial: int
    """1 for the server's first answer, 2 for the next...: the number in response ids."""
    text: str
    pieces: tuple[str, ...]
    """``text`` split into stream chunks."""
    calls: tuple[AnswerCall, ...]
    finish: Finish
    usage: tuple[int, int]
    """(prompt, completion) tokens."""
    created: float = field(default_factory=time.time)

    @property
    def model(self) -> str:
        """The model the request named ("scripted" if it named none)."""
        model = self.request.get("model")
        return model if isinstance(model, str) else "scripted"


class _Wire(Protocol):
    """What each wire module provides (the modules themselves satisfy this)."""

    @property
    def TOOL_ID_PREFIX(self) -> str: ...
    @property
    def STREAM_CONTENT_TYPE(self) -> str: ...
    def streams(self, body: Mapping[str, Any]) -> bool: ...
    def response(self, answer: Answer) -> dict[str, Any]: ...
    def stream(self, answer: Answer) -> list[bytes]: ...
    def broken_stream(self, answer: Answer) -> list[bytes]: ...
    def error(self, status: int, message: str) -> dict[str, Any]: ...


_WIRES: Final[dict[ProtocolName, _Wire]] = {
    "openai": _openai_wire,
    "anthropic": _anthropic_wire,
    "ollama": _ollama_wire,
}


class ScriptedLLMServer:
    """A real HTTP server on 127.0.0.1 answering LLM chat requests from a script.

    Paths pick the protocol: any path ending in ``/chat/completions`` is OpenAI-compatible
    (``/v1/...`` or Azure's ``/openai/deployments/NAME/...?api-version=``), ``/api/chat`` is
    Ollama, any other path ending in ``/messages`` is Anthropic. Each LLM request takes the next
    turn of the script (:meth:`script`), else :attr:`default`, else gets a 500 "script
    exhausted"; the same :class:`Reply` renders in whichever protocol was asked, streamed when
    the request says ``stream`` (Ollama streams unless told ``"stream": false``). Other paths get
    404 and take no turn. Everything is recorded (:attr:`requests`), API keys only as hashes.

    Lifetime: the constructor binds the port (so :attr:`url` is known at once); :meth:`start`
    serves on a daemon thread; :meth:`stop` cancels what is in flight (stalled requests
    included) and joins the thread. Once only; also a context manager. If a callable turn
    raised, the client got a 500 and :meth:`stop` (or a clean ``with`` exit) re-raises the
    first such exception, so a failed check inside a turn fails the test.

    All public members may be used from any thread except the server's own.
    """

    def __init__(self) -> None:
        """Binds 127.0.0.1 on a free port; nothing is served until :meth:`start`."""
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=_BACKLOG)
        self._port: int = self._sock.getsockname()[1]
        # _lock guards _state, _turns, _requests, _key_hashes and _turn_errors. _serial,
        # _tool_ids, _tasks, _closing, _in_flight and _max_in_flight are written on the server
        # loop only; the two counters are read elsewhere without the lock (an int read under the
        # GIL is whole, at worst stale). _started hands the loop and its stop event to stop().
        self._lock = threading.Lock()
        self._state = _State.CREATED
        self._turns: deque[Turn] = deque()
        self._requests: list[RecordedRequest] = []
        self._key_hashes: set[str] = set()
        self._turn_errors: list[Exception] = []
        self._serial = 0
        self._tool_ids: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._in_flight = 0
        self._max_in_flight = 0
        self._started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event]]
        self._started = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="scripted-llm-server", daemon=True)
        self.default: Turn | None = None
        """The turn used whenever the script is empty; None answers 500 "script exhausted".
        Assign from any thread."""

    # -- lifetime --

    def start(self) -> None:
        """Starts serving on the server's own thread; returns once it accepts connections.

        Raises:
            RuntimeError: the server was started (or stopped) before.
        """
        with self._lock:
            if self._state is not _State.CREATED:
                raise RuntimeError("a ScriptedLLMServer can be started only once")
            self._state = _State.RUNNING
        self._thread.start()
        self._started.result()

    def stop(self) -> None:
        """Stops serving: cancels requests in flight, closes every connection, joins the thread.

        Idempotent; blocks until the server thread ended. Must not be called from inside a
        callable turn (that runs on the server thread, which cannot join itself).

        Raises:
            Exception: the first exception a callable turn raised, if any (once).
        """
        self._shutdown()
        self._raise_turn_error()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown()
        if exc_type is None:  # never mask the test's own failure with a turn's
            self._raise_turn_error()

    # -- script and observations (any thread) --

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL for Ollama."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``; clients append ``/chat/completions``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``url``; clients append ``/v1/messages``."""
        return self.url

    def script(self, *turns: Turn) -> None:
        """Appends turns; LLM requests take them one each, in order of arrival. Thread-safe."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in order of arrival. Thread-safe."""
        with self._lock:
            return list(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests read and not yet fully answered, now."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests that were in flight at once."""
        return self._max_in_flight

    def saw_api_key(self, key: str) -> bool:
        """Whether some request carried ``key`` (``Authorization: Bearer``, ``x-api-key`` or
        ``api-key``). Only SHA-256 digests are kept, so the key is never stored. Thread-safe."""
        digest = _digest(key)
        with self._lock:
            return digest in self._key_hashes

    # -- the server thread --

    def _shutdown(self) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError("ScriptedLLMServer.stop() called from a turn on its own thread")
        with self._lock:
            state, self._state = self._state, _State.STOPPED
        if state is _State.CREATED:
            self._sock.close()
        elif state is _State.RUNNING:
            loop, stopping = self._started.result()
            loop.call_soon_threadsafe(stopping.set)
            self._thread.join()

    def _raise_turn_error(self) -> None:
        with self._lock:
            errors, self._turn_errors = self._turn_errors, []
        if errors:
            raise errors[0]

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._connection, sock=self._sock, backlog=_BACKLOG)
        except BaseException as exc:
            self._started.set_exception(exc)
            raise
        self._started.set_result((asyncio.get_running_loop(), stopping))
        await stopping.wait()
        self._closing = True
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._converse(reader, writer)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # stop() ended the connection: a normal end. A task that ended cancelled would make
            # asyncio's stream callback log a CancelledError traceback for each open connection.
            task.uncancel()
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers the connection's requests until the client or a request ends it."""
        try:
            while (request := await _read_request(reader, writer)) is not None:
                if not await self._exchange(request, _Responder(writer, request.keep_alive)):
                    break
        except _BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                await _Responder(writer, False).send(400, _TEXT, str(exc).encode())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; there is no one to answer

    async def _exchange(self, request: _HttpRequest, out: _Responder) -> bool:
        """Answers one request; True if the connection stays open for the next."""
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return await self._answer(request, out)
        finally:
            self._in_flight -= 1

    async def _answer(self, request: _HttpRequest, out: _Responder) -> bool:
        protocol = _protocol_of(request.path) if request.method == "POST" else "unknown"
        body = _parse_json(request.body)
        record = self._record(protocol, request, body)
        if protocol == "unknown":
            where = f"{request.method} {request.path}"
            return await out.send_json(404, {"error": f"no LLM endpoint at {where}"})
        wire = _WIRES[protocol]
        if not isinstance(body, dict):
            problem = wire.error(400, "the request body is not a JSON object")
            return await out.send_json(400, problem)
        outcome = self._settle(self._next_turn(wire), record, wire)
        if isinstance(outcome, Reply):
            return await self._reply(outcome, wire, body, out)
        return await self._fault(outcome, wire, body, out)

    async def _reply(
        self, reply: Reply, wire: _Wire, body: Mapping[str, Any], out: _Responder
    ) -> bool:
        await asyncio.sleep(reply.delay)
        answer = self._settle_answer(reply, wire, body)
        if wire.streams(body):
            return await out.send_stream(wire.STREAM_CONTENT_TYPE, wire.stream(answer))
        return await out.send_json(200, wire.response(answer))

    async def _fault(
        self, fault: Fault, wire: _Wire, body: Mapping[str, Any], out: _Responder
    ) -> bool:
        if fault.kind == "stall":
            await asyncio.get_running_loop().create_future()  # nobody resolves it; stop() cancels
        await asyncio.sleep(fault.delay)
        if fault.kind == "oversized":
            text = "x" * fault.size
            return await self._reply(Reply(text, chunks=(text,)), wire, body, out)
        if fault.kind == "malformed":
            answer = self._settle_answer(Reply("this answer breaks off here"), wire, body)
            if wire.streams(body):
                return await out.send_stream(wire.STREAM_CONTENT_TYPE, wire.broken_stream(answer))
            whole = json.dumps(wire.response(answer)).encode()
            return await out.send(200, _JSON, whole[: len(whole) // 2])
        headers = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers["retry-after"] = str(fault.retry_after)
        if isinstance(fault.body, str):
            return await out.send(fault.status, _TEXT, fault.body.encode(), headers)
        payload = fault.body
        if payload is None:
            payload = wire.error(fault.status, f"scripted fault {fault.status}")
        return await out.send_json(fault.status, payload, headers)

    def _record(self, protocol: ProtocolName, request: _HttpRequest, body: Any) -> RecordedRequest:
        headers = dict(request.headers)
        digests = []
        for name in _SECRET_HEADERS:
            if name in headers:
                digests.append(_digest(_credential(headers[name])))
                headers[name] = "***"
        record = RecordedRequest(protocol, request.target, headers, body, time.monotonic())
        with self._lock:
            self._requests.append(record)
            self._key_hashes.update(digests)
        return record

    def _next_turn(self, wire: _Wire) -> Turn:
        with self._lock:
            if self._turns:
                return self._turns.popleft()
        if self.default is not None:
            return self.default
        return Fault(500, wire.error(500, "script exhausted: no turn left for this request"))

    def _settle(self, turn: Turn, record: RecordedRequest, wire: _Wire) -> Reply | Fault:
        if isinstance(turn, (Reply, Fault)):
            return turn
        try:
            outcome = turn(record)
            if not isinstance(outcome, (Reply, Fault)):
                raise TypeError(f"a scripted turn returned {outcome!r}, not a Reply or a Fault")
        except Exception as exc:  # noqa: BLE001 - any failure is kept for stop() to re-raise
            with self._lock:
                self._turn_errors.append(exc)
            return Fault(500, wire.error(500, f"scripted turn raised {exc!r}"))
        return outcome

    def _settle_answer(self, reply: Reply, wire: _Wire, body: Mapping[str, Any]) -> Answer:
        self._serial += 1
        calls = tuple(
            AnswerCall(call.id or self._tool_id(wire.TOOL_ID_PREFIX), call.name, call.arguments)
            for call in reply.tool_calls
        )
        usage = reply.usage
        if usage is None:
            prompt = _words(body.get("system")) + _words(body.get("messages"))
            usage = (prompt, len(reply.text.split()) + len(calls))
        pieces = reply.chunks if reply.chunks is not None else _WORD_PIECES.findall(reply.text)
        return Answer(
            request=body,
            serial=self._serial,
            text=reply.text,
            pieces=tuple(pieces),
            calls=calls,
            finish=reply.finish or ("tool_calls" if calls else "stop"),
            usage=usage,
        )

    def _tool_id(self, prefix: str) -> str:
        self._tool_ids[prefix] = self._tool_ids.get(prefix, 0) + 1
        return f"{prefix}{self._tool_ids[prefix]}"


class _State(enum.Enum):
    CREATED = enum.auto()
    RUNNING = enum.auto()
    STOPPED = enum.auto()


# -- HTTP/1.1, the part of it LLM clients use --


@dataclass(frozen=True)
class _HttpRequest:
    method: str
    target: str
    version: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class _BadRequest(Exception):
    """The bytes on a connection are not HTTP/1.x this server reads; answered 400, then closed."""


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _HttpRequest | None:
    """The next request on the connection, or None if the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("the connection closed inside a request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadRequest("request head too large") from None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"not an HTTP/1.x request line: {request_line!r}")
    headers: dict[str, str] = {}
    for line in filter(None, lines):
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest(f"not a header line: {line!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        body = await _read_body(reader, headers)
    except ValueError:
        raise _BadRequest("bad Content-Length or chunk size") from None
    return _HttpRequest(parts[0], parts[1], parts[2], headers, body)


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, ignored
            pass
        return b"".join(parts)
    length = int(headers.get("content-length", "0"))
    return await reader.readexactly(length) if length else b""


class _Responder:
    """Writes the response to one request; each send returns whether the connection stays open."""

    def __init__(self, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        self._writer = writer
        self._keep_alive = keep_alive

    async def send(
        self,
        status: int,
        content_type: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """A whole body with its Content-Length."""
        self._writer.write(self._head(status, content_type, {"content-length": str(len(payload))}))
        self._writer.write(_head_lines(headers or {}))
        self._writer.write(b"\r\n")
        self._writer.write(payload)
        await self._writer.drain()
        return self._keep_alive

    async def send_json(
        self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        """``payload`` as JSON."""
        return await self.send(status, _JSON, json.dumps(payload).encode(), headers)

    async def send_stream(self, content_type: str, units: list[bytes]) -> bool:
        """A 200 whose body is ``units``, one HTTP chunk each, so each arrives as it would live."""
        fields = {"transfer-encoding": "chunked", "cache-control": "no-cache"}
        self._writer.write(self._head(200, content_type, fields) + b"\r\n")
        for unit in units:
            self._writer.write(b"%x\r\n%s\r\n" % (len(unit), unit))
            await self._writer.drain()
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()
        return self._keep_alive

    def _head(self, status: int, content_type: str, fields: Mapping[str, str]) -> bytes:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"  # e.g. Anthropic's 529, unknown to http.HTTPStatus
        connection = "keep-alive" if self._keep_alive else "close"
        common = {"content-type": content_type, "connection": connection, **fields}
        return f"HTTP/1.1 {status} {phrase}\r\n".encode() + _head_lines(common)


def _head_lines(headers: Mapping[str, str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


# -- small pure helpers --


def _protocol_of(path: str) -> ProtocolName:
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/api/chat"):
        return "ollama"
    if path.endswith("/messages"):
        return "anthropic"
    return "unknown"


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return None


def _words(value: Any) -> int:
    """Whitespace-separated words in message text: a string, a list of messages/parts/blocks, or
    one of them (its ``text`` and ``content``; images and tool inputs count for nothing)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(item) for item in value)
    if isinstance(value, dict):
        return _words(value.get("text")) + _words(value.get("content"))
    return 0


def _credential(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else value


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
