#!/usr/bin/env python3
"""The llm_calls scenario's LLM server, in a process of its own, and what its clients share.

    python bench/llm_server.py

Run as a script, it serves ``serendip.testing.ScriptedLLMServer`` on 127.0.0.1, prints its
OpenAI base URL as one line on stdout, answers every chat request with ``REPLY`` (usage
included) and exits when its stdin closes. A child measures its own CPU time, so the server
must not run inside it; and since a child killed for hanging closes the pipe as it dies, the
server never outlives it.

Imported, it is the child's side: ``serve()`` runs the script and yields the URL, and
``timed_calls()`` measures a batch of concurrent calls the same way for every client.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

from impls import check

__all__ = ["API_KEY", "MODEL", "REPLY", "serve", "timed_calls"]

REPLY = "The answer is 42."
USAGE = (2, 4)  # (prompt, completion) tokens: fixed, so the server does not count words
MODEL = "bench-model"
API_KEY = "sk-bench"
WARMUP = 10  # concurrent calls before timing: first-call imports, pools, code paths
START_TIMEOUT = 30.0  # seconds for the server to print its URL
STOP_TIMEOUT = 10.0  # seconds for it to exit once its stdin is closed, before it is killed


def main() -> None:
    # Imported here, not at the top: the clients import this module too.
    from serendip.testing import Reply, ScriptedLLMServer

    with ScriptedLLMServer() as server:
        server.default = Reply(REPLY, usage=USAGE)
        print(server.openai_base_url, flush=True)
        sys.stdin.buffer.read()  # returns at end of file: the child closed the pipe or died


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Runs this script in a process of its own; yields its OpenAI base URL; stops it.

    Raises:
        RuntimeError: the server ended, or printed no URL within ``START_TIMEOUT`` seconds.
    """
    server = subprocess.Popen(
        [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        ready, _, _ = select.select([server.stdout], [], [], START_TIMEOUT)
        url = server.stdout.readline().strip() if ready else ""
        if not url:
            why = "ended" if ready else f"printed no URL within {START_TIMEOUT:g} s"
            raise RuntimeError(f"the LLM server {why} (its stderr is above)")
        yield url
    finally:
        server.stdin.close()
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


async def timed_calls(call: Callable[[int], Awaitable[str]], n_calls: int) -> dict[str, float]:
    """Awaits ``call(i)`` for ``n_calls`` values of i at once, after ``WARMUP`` calls that are
    not timed; checks that every reply is ``REPLY``.

    Returns the raw values of the batch: ``seconds`` of wall time and ``cpu_seconds`` of this
    process's CPU time (``time.process_time``: every thread, so a client's I/O threads count).
    """
    warmup = await asyncio.gather(*(call(n_calls + i) for i in range(WARMUP)))
    check(all(r == REPLY for r in warmup), f"a warm-up call answered {warmup!r}")
    cpu, wall = time.process_time(), time.perf_counter()
    replies = await asyncio.gather(*(call(i) for i in range(n_calls)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    wrong = [r for r in replies if r != REPLY]
    check(not wrong, f"{len(wrong)} of {n_calls} calls answered wrong, e.g. {wrong[:1]!r}")
    return {"seconds": wall, "cpu_seconds": cpu}


if __name__ == "__main__":
    main()
