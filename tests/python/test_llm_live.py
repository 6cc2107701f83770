"""Live LLM tests: run only when a real provider is configured through its environment.

- ``SERENDIP_LIVE_OPENAI=1`` with ``OPENAI_API_KEY`` (model: ``SERENDIP_LIVE_OPENAI_MODEL``,
  default ``gpt-4o-mini``)
- ``SERENDIP_LIVE_ANTHROPIC=1`` with ``ANTHROPIC_API_KEY`` (``SERENDIP_LIVE_ANTHROPIC_MODEL``,
  default ``claude-3-5-haiku-latest``)
- ``SERENDIP_LIVE_OLLAMA=1`` with ``OLLAMA_HOST`` (``SERENDIP_LIVE_OLLAMA_MODEL``, default
  ``llama3.2``)

The explicit opt-in keeps a developer's exported key from spending money on every test run.
"""

from __future__ import annotations

import asyncio
import os

import pytest

import serendip

LIVE = [
    ("openai", "OPENAI_API_KEY", "gpt-4o-mini"),
    ("anthropic", "ANTHROPIC_API_KEY", "claude-3-5-haiku-latest"),
    ("ollama", "OLLAMA_HOST", "llama3.2"),
]


def _model(provider: str, variable: str, default: str) -> str:
    if os.environ.get(f"SERENDIP_LIVE_{provider.upper()}") != "1" or not os.environ.get(variable):
        pytest.skip(f"set SERENDIP_LIVE_{provider.upper()}=1 and {variable} to run")
    return f"{provider}::{os.environ.get(f'SERENDIP_LIVE_{provider.upper()}_MODEL', default)}"


class Calculator(serendip.LlmAgent):
    @serendip.action
    async def multiply(self, a: int, b: int) -> int:
        """Multiplies two integers exactly."""
        return a * b


@pytest.mark.parametrize(("provider", "variable", "default"), LIVE)
def test_a_live_model_answers_and_reports_usage(provider: str, variable: str, default: str) -> None:
    agent = serendip.LlmAgent("live", _model(provider, variable, default), max_tokens=50)
    reply = agent.send_message_sync("Reply with the single word: pong")
    assert "pong" in reply.lower()
    assert reply.usage.prompt_tokens > 0


@pytest.mark.parametrize(("provider", "variable", "default"), LIVE)
def test_a_live_model_calls_a_tool(provider: str, variable: str, default: str) -> None:
    agent = Calculator("live-tools", _model(provider, variable, default), max_tokens=200)
    reply = asyncio.run(agent.send_message("Use the multiply tool: what is 1234 times 5678?"))
    assert "7006652" in reply.replace(",", "").replace(" ", "")
    assert any(m.role == "tool" and m.content == "7006652" for m in agent.history())
