"""LlmAgent: a short conversation that keeps its history, a streamed answer, and token usage.

A real model answers when one is configured: SERENDIP_DEMO_MODEL ("provider::model", its key
from the provider's usual variable), else OPENAI_API_KEY (openai::gpt-4o-mini), else
OLLAMA_HOST (ollama::llama3.2). Without one, the demo starts serendip.testing's
ScriptedLLMServer, a local HTTP server that answers from a script over the same OpenAI protocol,
and says so: the agent code is the same either way.

Run: python examples/demo_llm_agent.py
"""

import asyncio
import os

import serendip
from serendip.testing import Reply, ScriptedLLMServer

SYSTEM_PROMPT = "You are a concise travel guide. Answer in one or two sentences."
QUESTIONS = [
    "I have one free day in Lisbon. Where should I start?",
    "And where should I have lunch nearby?",
]
STREAMED_QUESTION = "Sum up my day in one sentence."
SCRIPT = [
    Reply("Start in Alfama: walk up to the Miradouro de Santa Luzia early, before the crowds."),
    Reply("Stay in Alfama and have grilled sardines at a small tasca near the cathedral."),
    Reply("A morning among the viewpoints of Alfama, then sardines by the cathedral."),
]


def configured_model() -> str | None:
    """The real model the environment names, or None."""
    if model := os.environ.get("SERENDIP_DEMO_MODEL"):
        return model
    if os.environ.get("OPENAI_API_KEY"):
        return "openai::gpt-4o-mini"
    if os.environ.get("OLLAMA_HOST"):
        return "ollama::llama3.2"
    return None


async def converse(guide: serendip.LlmAgent) -> None:
    """Two questions in one conversation, a streamed third, then the history and the usage."""
    for question in QUESTIONS:
        reply = await guide.send_message(question)
        print(f"asked: {question}")
        print(f"  answer: {reply}")
        print(
            f"  usage: {reply.usage.prompt_tokens} prompt + "
            f"{reply.usage.completion_tokens} completion tokens, finish: {reply.finish_reason}"
        )
    print(f"asked: {STREAMED_QUESTION}")
    print("  streamed: ", end="", flush=True)
    pieces = 0
    async for piece in guide.stream(STREAMED_QUESTION):
        print(piece, end="", flush=True)
        pieces += 1
    print(f"\n  ({pieces} pieces as the model wrote them)")

    print("history (each question was sent with the turns before it):")
    for message in guide.history():
        print(f"  {message.role:>9}: {message.content}")
    metrics = guide.llm_metrics()
    print(
        f"usage in total: {metrics['calls']} calls, {metrics['prompt_tokens']} prompt + "
        f"{metrics['completion_tokens']} completion tokens"
    )


def main() -> None:
    model = configured_model()
    if model is not None:
        print(f"model: {model}")
        asyncio.run(converse(serendip.LlmAgent("guide", model, system_prompt=SYSTEM_PROMPT)))
        return
    with ScriptedLLMServer() as server:
        server.script(*SCRIPT)
        print(
            "model: none configured (set OPENAI_API_KEY or OLLAMA_HOST), so the answers are "
            f"scripted: a ScriptedLLMServer at {server.openai_base_url}"
        )
        guide = serendip.LlmAgent(
            "guide", "vllm::scripted", base_url=server.openai_base_url, system_prompt=SYSTEM_PROMPT
        )
        asyncio.run(converse(guide))


if __name__ == "__main__":
    main()
