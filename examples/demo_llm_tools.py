"""LlmAgent tools: async actions the model calls, two at once in one round, and a ReAct run.

A travel desk agent has two ``@serendip.action`` tools that await simulated services. Asked a
question that needs both, the model calls them in the same round; the agent runs them
concurrently, sends back their results and the model answers from them. Then the same tools are
used through ReAct (Thought / Action / Observation as plain text), which works with models that
have no native tool calls.

The model is real when one is configured (SERENDIP_DEMO_MODEL, else OPENAI_API_KEY, else
OLLAMA_HOST), otherwise serendip.testing's ScriptedLLMServer plays it from a script whose final
answers are written from the tool results the agent sent.

Run: python examples/demo_llm_tools.py
"""

import asyncio
import json
from typing import Any, Literal

import serendip
from llm_model import demo_model
from serendip.testing import RecordedRequest, Reply, ToolCall

QUESTION = "What is the weather in Lisbon today, and how much is 40 EUR in USD?"
REACT_QUESTION = "How much is 25 EUR in GBP?"
WEATHER = {"lisbon": (19, "sunny"), "oslo": (4, "sleet")}
EUR_RATES = {"USD": 1.08, "GBP": 0.85, "JPY": 162.0}


class TravelDesk(serendip.LlmAgent):
    """Answers travellers' questions with two tools; ``log`` records when each tool runs."""

    def __init__(self, name: str, model: str, **settings: Any) -> None:
        super().__init__(name, model, **settings)
        self.log: list[str] = []

    @serendip.action
    async def weather(self, city: str) -> dict[str, Any]:
        """Today's weather in a city.

        Args:
            city: the city's name, e.g. "Lisbon".
        """
        self.log.append("weather started")
        await asyncio.sleep(0.05)  # simulated weather service
        celsius, sky = WEATHER[city.lower()]
        self.log.append("weather finished")
        return {"city": city, "celsius": celsius, "sky": sky}

    @serendip.action
    async def convert_currency(self, amount: float, to: Literal["USD", "GBP", "JPY"]) -> float:
        """Converts an amount of euros into another currency at today's rate.

        Args:
            amount: euros to convert.
            to: the currency wanted.
        """
        self.log.append("convert_currency started")
        await asyncio.sleep(0.02)  # simulated exchange-rate service
        self.log.append("convert_currency finished")
        return round(amount * EUR_RATES[to], 2)


def scripted_turns() -> list[Any]:
    """What the scripted model says: both tool calls in one round, an answer written from their
    results, then a ReAct run of one tool step and a final answer using its observation."""

    def answer_from_tools(request: RecordedRequest) -> Reply:
        forecast, dollars = [m["content"] for m in request.json["messages"] if m["role"] == "tool"]
        weather = json.loads(forecast)
        return Reply(
            f"Lisbon is {weather['sky']} at {weather['celsius']} C today, "
            f"and 40 EUR is {dollars} USD."
        )

    def react_answer(request: RecordedRequest) -> Reply:
        observation = request.json["messages"][-1]["content"].removeprefix("Observation: ")
        return Reply(
            f"Thought: The converter says {observation}.\n"
            f"Final Answer: 25 EUR is {observation} GBP."
        )

    return [
        Reply(
            tool_calls=[
                ToolCall("weather", {"city": "Lisbon"}),
                ToolCall("convert_currency", {"amount": 40, "to": "USD"}),
            ]
        ),
        answer_from_tools,
        Reply(
            "Thought: I need today's rate, so I use the converter.\n"
            "Action: convert_currency\n"
            'Action Input: {"amount": 25, "to": "GBP"}'
        ),
        react_answer,
    ]


async def demonstrate(desk: TravelDesk) -> None:
    """One question answered with native tool calls, one answered by ReAct."""
    reply = await desk.send_message(QUESTION)
    print(f"asked: {QUESTION}")
    rounds = [m for m in desk.history() if m.role == "assistant" and m.tool_calls]
    for number, message in enumerate(rounds, 1):
        names = ", ".join(call.name for call in message.tool_calls)
        print(f"  tool round {number}: the model called {names}")
    for message in desk.history():
        if message.role == "tool":
            print(f"    {message.name} -> {message.content}")
    print(f"  tool runs: {', '.join(desk.log)}")
    print(f"  answer: {reply}")
    print(
        f"  {reply.rounds} model calls, finish: {reply.finish_reason}, usage: "
        f"{reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion tokens"
    )

    desk.with_react()
    result = await desk.send_message_react(REACT_QUESTION, conversation="react")
    print(f"asked by ReAct: {REACT_QUESTION}")
    for number, step in enumerate(result.steps, 1):
        print(f"  step {number}: thought: {step.thought}")
        if step.action is not None:
            inputs = json.dumps(step.action_input)
            print(f"    action: {step.action} {inputs} -> {step.observation}")
    print(f"  answer: {result.answer}")
    print(f"  finish: {result.finish_reason}, {result.iterations} model calls")


def main() -> None:
    with demo_model(scripted_turns(), "the model's turns are scripted") as (model, base_url):
        asyncio.run(demonstrate(TravelDesk("desk", model, base_url=base_url)))


if __name__ == "__main__":
    main()
