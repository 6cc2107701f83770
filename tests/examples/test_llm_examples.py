"""Runs the LLM examples as CI would, with no model configured, and checks what they print.

Without OPENAI_API_KEY, OLLAMA_HOST or SERENDIP_DEMO_MODEL each example plays its model with
ScriptedLLMServer, so the output is fixed: the answers, the tools that ran, the token counts
(the server counts words) and the metrics. Stderr must stay empty: no traceback, no warning,
nothing from the server's shutdown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL_VARIABLES = ("OPENAI_API_KEY", "OLLAMA_HOST", "SERENDIP_DEMO_MODEL")


def run_offline(name: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    proc = subprocess.run(
        [sys.executable, "-X", "dev", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("model: none configured (set OPENAI_API_KEY or OLLAMA_HOST), so ")
    assert "scripted: a ScriptedLLMServer at http://127.0.0.1:" in lines[0]
    return lines[1:]


def test_the_agent_demo_keeps_the_conversation_streams_and_counts_tokens() -> None:
    assert run_offline("demo_llm_agent.py") == [
        "asked: I have one free day in Lisbon. Where should I start?",
        "  answer: Start in Alfama: walk up to the Miradouro de Santa Luzia early, before the crowds.",
        "  usage: 23 prompt + 15 completion tokens, finish: stop",
        "asked: And where should I have lunch nearby?",
        "  answer: Stay in Alfama and have grilled sardines at a small tasca near the cathedral.",
        # The prompt grew by the first exchange: the history went with the second question.
        "  usage: 45 prompt + 14 completion tokens, finish: stop",
        "asked: Sum up my day in one sentence.",
        "  streamed: A morning among the viewpoints of Alfama, then sardines by the cathedral.",
        "  (12 pieces as the model wrote them)",
        "history (each question was sent with the turns before it):",
        "       user: I have one free day in Lisbon. Where should I start?",
        "  assistant: Start in Alfama: walk up to the Miradouro de Santa Luzia early, before the crowds.",
        "       user: And where should I have lunch nearby?",
        "  assistant: Stay in Alfama and have grilled sardines at a small tasca near the cathedral.",
        "       user: Sum up my day in one sentence.",
        "  assistant: A morning among the viewpoints of Alfama, then sardines by the cathedral.",
        "usage in total: 3 calls, 134 prompt + 41 completion tokens",
    ]


def test_the_tools_demo_runs_two_async_tools_in_one_round_and_a_react_step() -> None:
    out = run_offline("demo_llm_tools.py")
    runs = out.pop(4)
    # Both tools were started before either finished: they ran concurrently.
    assert runs.startswith("  tool runs: weather started, convert_currency started, ")
    assert sorted(runs.split(", ")[2:]) == ["convert_currency finished", "weather finished"]
    assert out == [
        "asked: What is the weather in Lisbon today, and how much is 40 EUR in USD?",
        "  tool round 1: the model called weather, convert_currency",
        '    weather -> {"city": "Lisbon", "celsius": 19, "sky": "sunny"}',
        "    convert_currency -> 43.2",
        # The scripted answer is written from the tool results the agent sent back.
        "  answer: Lisbon is sunny at 19 C today, and 40 EUR is 43.2 USD.",
        "  2 model calls, finish: stop, usage: 37 prompt + 15 completion tokens",
        "asked by ReAct: How much is 25 EUR in GBP?",
        "  step 1: thought: I need today's rate, so I use the converter.",
        '    action: convert_currency {"amount": 25, "to": "GBP"} -> 21.25',
        "  step 2: thought: The converter says 21.25.",
        "  answer: 25 EUR is 21.25 GBP.",
        "  finish: answer, 2 model calls",
    ]


def test_the_mesh_demo_routes_the_planners_tool_calls_to_the_python_researcher() -> None:
    assert run_offline("demo_llm_mesh.py") == [
        "flow:",
        "  main -> coordinator: Lisbon",
        "  coordinator -> planner: Plan a morning in Lisbon, starting at the castle.",
        "  planner's model -> researcher: When does the castle open?",
        "  researcher -> planner's model: "
        "Castelo de Sao Jorge opens at 9:00; the first hour is the quietest.",
        "  planner's model -> researcher: Which tram goes up to it?",
        "  researcher -> planner's model: "
        "Tram 28 climbs from Baixa to the castle gate every 10 minutes.",
        "  planner -> coordinator: Ride Tram 28 from Baixa up to the castle gate. "
        "Be at the castle when it opens at 9:00, the quietest hour. "
        "Walk down through Alfama afterwards.",
        "itinerary:",
        "  1. Ride Tram 28 from Baixa up to the castle gate.",
        "  2. Be at the castle when it opens at 9:00, the quietest hour.",
        "  3. Walk down through Alfama afterwards.",
        "planner's conversations (one per asker): coordinator",
        "researcher handled 2 questions",
        "mesh.metrics()['llm']['planner']: vllm::scripted, 3 calls, 3 succeeded, 0 failed, "
        "146 prompt + 29 completion tokens",
    ]
