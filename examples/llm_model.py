"""The model the LLM demos use: a real one when the environment names one, else a scripted one.

SERENDIP_DEMO_MODEL ("provider::model", its key from the provider's usual variable), else
OPENAI_API_KEY (openai::gpt-4o-mini), else OLLAMA_HOST (ollama::llama3.2). Without any, a
serendip.testing.ScriptedLLMServer plays the demo's script over the OpenAI protocol, and the
demo says so.
"""

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from serendip.testing import ScriptedLLMServer


def configured_model() -> str | None:
    """The real model the environment names, or None."""
    if model := os.environ.get("SERENDIP_DEMO_MODEL"):
        return model
    if os.environ.get("OPENAI_API_KEY"):
        return "openai::gpt-4o-mini"
    if os.environ.get("OLLAMA_HOST"):
        return "ollama::llama3.2"
    return None


@contextlib.contextmanager
def demo_model(script: Sequence[Any], scripted_what: str) -> Iterator[tuple[str, str | None]]:
    """(model, base_url) for the demo's agents, printing which it is. Scripted, the server plays
    ``script`` and the line says "so <scripted_what>: ..."; base_url is None for a real model."""
    model = configured_model()
    if model is not None:
        print(f"model: {model}")
        yield model, None
        return
    with ScriptedLLMServer() as server:
        server.script(*script)
        print(
            f"model: none configured (set OPENAI_API_KEY or OLLAMA_HOST), so {scripted_what}: "
            f"a ScriptedLLMServer at {server.openai_base_url}"
        )
        yield "vllm::scripted", server.openai_base_url
