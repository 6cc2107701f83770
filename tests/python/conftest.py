"""Fixtures for the package tests; the helpers they hand out live in ``_support``.

``twin`` runs one scenario through both twins of the API (``await`` under asyncio, ``*_sync``
from a plain thread); ``mesh``/``amesh`` give a mesh for sync/async tests and close it after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

import serendip
from serendip.testing import ScriptedLLMServer

from _support import Gate, TwinRunner


@pytest.fixture
def _gates() -> Iterator[list[Gate]]:
    gates: list[Gate] = []
    yield gates
    for gate in gates:  # never leave a handler (or a thread) blocked after a test
        gate.open()


@pytest.fixture
def new_gate(_gates: list[Gate]) -> Callable[[], Gate]:
    """Makes Gates that are opened at teardown whatever the test did."""

    def make() -> Gate:
        gate = Gate()
        _gates.append(gate)
        return gate

    return make


@pytest.fixture
def gate(new_gate: Callable[[], Gate]) -> Gate:
    return new_gate()


@pytest.fixture(params=["async", "sync"])
def twin(request: pytest.FixtureRequest, _gates: list[Gate]) -> TwinRunner:
    """Runs a scenario with ``await`` under asyncio, then with the ``*_sync`` twins."""
    return TwinRunner(request.param, _gates)


@pytest.fixture
def mesh(_gates: list[Gate]) -> Iterator[serendip.LocalMesh]:
    """A mesh for plain (sync) tests: its agents live on the background loop."""
    m = serendip.LocalMesh("sync-test")
    yield m
    for g in _gates:
        g.open()
    m.close()


@pytest_asyncio.fixture(loop_scope="function")
async def amesh(_gates: list[Gate]) -> Any:
    """A mesh for async tests: agents added in the test are homed on the test's loop."""
    m = serendip.LocalMesh("async-test")
    yield m
    for g in _gates:
        g.open()
    await m.aclose()


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    """A ScriptedLLMServer on loopback, stopped after the test."""
    with ScriptedLLMServer() as uut:
        yield uut
