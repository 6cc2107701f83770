"""LlmAgent: a short conversation that keeps its history, a streamed answer, and token usage.

A real model answers when one is configured: SERENDIP_DEMO_MODEL ("provider::model", its key
from the provider's usual variable), else OPENAI_API_KEY (openai::gpt-4o-mini), else
OLLAMA_HOST (ollama::llama3.2). Without one, the demo starts serendip.testing's
ScriptedLLMServer, a local HTTP server that answers from a script over the same OpenAI protocol,
and says so: the agent code is the same either way.

Run: python examples/demo_llm_agent.py
"""

import asyncio

import serendip
from llm_model import demo_model
from serendip.testing import Reply

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
    with demo_model(SCRIPT, "the answers are scripted") as (model, base_url):
        guide = serendip.LlmAgent("guide", model, base_url=base_url, system_prompt=SYSTEM_PROMPT)
        asyncio.run(converse(guide))


if __name__ == "__main__":
    main()
