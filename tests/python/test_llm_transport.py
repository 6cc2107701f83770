"""LLM calls at the transport: TLS peer verification, and provider-wide limits that queue."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import serendip
from serendip.testing import Reply, ScriptedLLMServer


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Callable[[], list[str]]]]:
    """A TLS listener on 127.0.0.1 with a self-signed certificate for one connection, and a
    function that waits for that connection to end and returns its handshake errors."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except ssl.SSLError as exc:
                errors.append(exc.reason or str(exc))

    def handshake_errors() -> list[str]:
        thread.join(timeout=30)
        return errors

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], handshake_errors
    thread.join(timeout=30)
    listener.close()


def test_https_verifies_the_peer_and_refuses_a_self_signed_certificate(
    tls_server: tuple[int, Callable[[], list[str]]],
) -> None:
    port, handshake_errors = tls_server
    agent = serendip.LlmAgent(
        "tls", "openai::m", base_url=f"https://127.0.0.1:{port}/v1", api_key="sk-tls",
        max_attempts=1,
    )
    with pytest.raises(serendip.LlmTransportError) as caught:
        agent.send_message_sync("hello")
    assert "certificate" in str(caught.value).lower()
    assert "sk-tls" not in str(caught.value)
    # The handshake reached the server, which heard the client reject its certificate.
    assert handshake_errors() == ["TLSV1_ALERT_UNKNOWN_CA"]


def test_provider_limits_hold_every_agent_of_the_provider_to_its_concurrency() -> None:
    with ScriptedLLMServer() as server:
        server.default = Reply("ok", delay=0.05)
        agents = [
            serendip.LlmAgent(f"a{i}", "vllm::m", base_url=server.openai_base_url, max_concurrency=20)
            for i in range(3)
        ]
        serendip.set_provider_limits("vllm", max_concurrency=2)
        try:

            async def ask_all() -> list[str]:
                calls = [a.send_message(f"q{j}", conversation=str(j)) for a in agents for j in range(6)]
                return list(await asyncio.gather(*calls))

            replies = asyncio.run(ask_all())
        finally:
            serendip.set_provider_limits("vllm")
        assert replies == ["ok"] * 18
        assert server.max_in_flight == 2


def test_provider_limits_refuse_negative_values() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        serendip.set_provider_limits("openai", requests_per_minute=-1)
