"""LLM agents and Python agents on one mesh: each asks the others by name.

A Python coordinator asks the planner (an LlmAgent) for a plan with ``ctx.query``. The planner's
model has the researcher (a plain Python agent) as a tool, through ``with_agent_tool``: each
call is a mesh query and the researcher's reply is the tool's result. The model asks twice,
each question following from the last answer, then writes the plan; the coordinator turns it
into an itinerary. The mesh's metrics report the planner's model calls and tokens.

The model is real when one is configured (SERENDIP_DEMO_MODEL, else OPENAI_API_KEY, else
OLLAMA_HOST), otherwise serendip.testing's ScriptedLLMServer plays it from a script whose plan
is written from the researcher's answers.

Run: python examples/demo_llm_mesh.py
"""

import asyncio
import re
from typing import Any

import serendip
from llm_model import demo_model
from serendip.testing import RecordedRequest, Reply, ToolCall

NOTES = {  # keyword -> fact
    "open": "Castelo de Sao Jorge opens at 9:00; the first hour is the quietest.",
    "tram": "Tram 28 climbs from Baixa to the castle gate every 10 minutes.",
    "lunch": "Tasca do Chico in Alfama serves grilled sardines from 12:00.",
}
PLANNER_PROMPT = (
    "You plan short city visits. Ask the researcher for the facts you need, one question at a "
    "time, then give the plan as a few short sentences."
)


class Researcher(serendip.Agent):
    """Answers factual questions from its notes (a plain Python agent; a real one might search)."""

    async def on_message(self, question: str, ctx: serendip.Context) -> str:
        print(f"  planner's model -> researcher: {question}")
        await asyncio.sleep(0.02)  # simulated search
        found = [fact for keyword, fact in NOTES.items() if keyword in question.lower()]
        answer = " ".join(found) or "I have no notes on that."
        print(f"  researcher -> planner's model: {answer}")
        return answer


class Coordinator(serendip.Agent):
    """Gets a plan from the planner and numbers its sentences: an itinerary."""

    async def on_message(self, city: str, ctx: serendip.Context) -> str:
        request = f"Plan a morning in {city}, starting at the castle."
        print(f"  coordinator -> planner: {request}")
        plan = await ctx.query("planner", request, timeout=120)
        print(f"  planner -> coordinator: {plan}")
        steps = re.split(r"(?<=[.!?])\s+", plan.strip())
        return "\n".join(f"  {number}. {step}" for number, step in enumerate(steps, 1))


def scripted_turns() -> list[Any]:
    """The planner's model: one researcher question per round, then a plan from the answers."""

    def plan_from_answers(request: RecordedRequest) -> Reply:
        notes = " ".join(m["content"] for m in request.json["messages"] if m["role"] == "tool")
        opening = re.search(r"opens at ([\d:]+)", notes)
        tram = re.search(r"Tram \d+", notes)
        assert opening and tram, f"the researcher's answers lack the facts: {notes}"
        return Reply(
            f"Ride {tram[0]} from Baixa up to the castle gate. Be at the castle when it opens at "
            f"{opening[1]}, the quietest hour. Walk down through Alfama afterwards."
        )

    return [
        Reply(tool_calls=[ToolCall("researcher", {"message": "When does the castle open?"})]),
        Reply(tool_calls=[ToolCall("researcher", {"message": "Which tram goes up to it?"})]),
        plan_from_answers,
    ]


async def run(model: str, base_url: str | None) -> None:
    """The three agents on one mesh, one request through them, then the planner's metrics."""
    async with serendip.LocalMesh("trip") as mesh:
        mesh.add_agent(Researcher("researcher"))
        mesh.add_agent(Coordinator("coordinator"))
        planner = serendip.LlmAgent(
            "planner", model, base_url=base_url, system_prompt=PLANNER_PROMPT
        ).with_agent_tool(
            "researcher", description="Answers one factual question about the city being visited."
        )
        mesh.add_agent(planner)

        print("flow:")
        print("  main -> coordinator: Lisbon")
        itinerary = await mesh.query("coordinator", "Lisbon", timeout=180)
        print("itinerary:")
        print(itinerary)

        metrics = mesh.metrics()
        print(f"planner's conversations (one per asker): {', '.join(planner.conversations())}")
        handled = metrics["agents"]["researcher"]["handled"]
        print(f"researcher handled {handled} questions")
        llm = metrics["llm"]["planner"]
        print(
            f"mesh.metrics()['llm']['planner']: {llm['provider']}::{llm['model']}, "
            f"{llm['calls']} calls, {llm['succeeded']} succeeded, {sum(llm['failed'].values())} "
            f"failed, {llm['prompt_tokens']} prompt + {llm['completion_tokens']} completion tokens"
        )


def main() -> None:
    with demo_model(scripted_turns(), "the planner's model is scripted") as (model, base_url):
        asyncio.run(run(model, base_url))


if __name__ == "__main__":
    main()
