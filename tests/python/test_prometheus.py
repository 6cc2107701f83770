"""serendip.metrics.prometheus_text: the exact exposition text, label escaping, line format."""

from __future__ import annotations

import re

from serendip.metrics import AgentMetrics, LatencySummary, LlmMetrics, MeshMetrics, prometheus_text


def latency(
    count: int = 0, total: float = 0.0, p50: float = 0.0, p95: float = 0.0, p99: float = 0.0
) -> LatencySummary:
    return {"count": count, "sum": total, "max": p99, "p50": p50, "p95": p95, "p99": p99}


def agent(handled: int = 0, errors: dict[str, int] | None = None, **fields: int) -> AgentMetrics:
    errors = errors or {}
    return {
        "handled": handled,
        "failed": sum(errors.values()),
        "errors": errors,
        "dropped": fields.get("dropped", 0),
        "mailbox": fields.get("mailbox", 0),
        "in_flight": fields.get("in_flight", 0),
        "queue_wait": latency(),
        "handler_time": latency(),
    }


def mesh(
    name: str,
    agents: dict[str, AgentMetrics],
    dead_letters: int = 0,
    llm: dict[str, LlmMetrics] | None = None,
) -> MeshMetrics:
    return {
        "mesh": name,
        "agents": agents,
        "llm": llm or {},
        "totals": {
            "agents": len(agents),
            "handled": sum(a["handled"] for a in agents.values()),
            "failed": sum(a["failed"] for a in agents.values()),
            "dropped": sum(a["dropped"] for a in agents.values()),
            "in_flight": sum(a["in_flight"] for a in agents.values()),
            "dead_letters": dead_letters,
        },
    }


# The LLM families: declared even when the mesh has no LLM agent.
LLM_HEADERS = [
    "# HELP serendip_llm_calls_total Model calls started.",
    "# TYPE serendip_llm_calls_total counter",
    "# HELP serendip_llm_calls_succeeded_total Model calls that returned an answer.",
    "# TYPE serendip_llm_calls_succeeded_total counter",
    "# HELP serendip_llm_calls_cancelled_total Model calls cancelled or closed.",
    "# TYPE serendip_llm_calls_cancelled_total counter",
    "# HELP serendip_llm_retries_total HTTP attempts beyond each call's first.",
    "# TYPE serendip_llm_retries_total counter",
    "# HELP serendip_llm_calls_estimated_total Successful calls whose token usage is estimated.",
    "# TYPE serendip_llm_calls_estimated_total counter",
    "# HELP serendip_llm_calls_failed_total Model calls that failed, by error class.",
    "# TYPE serendip_llm_calls_failed_total counter",
    "# HELP serendip_llm_tokens_total Tokens the providers reported, by kind.",
    "# TYPE serendip_llm_tokens_total counter",
    "# HELP serendip_llm_call_seconds Model calls from start to end.",
    "# TYPE serendip_llm_call_seconds summary",
]


# One sample line: name{label="value",...} value, label values in the format's escaping.
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(
    rf"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)\}} (?P<value>\S+)"
)
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Sample = tuple[str, dict[str, str], float]


def parse(text: str) -> tuple[dict[str, str], list[Sample]]:
    """Checks the exposition format line by line; returns each family's type and the samples.

    Every family has one HELP then one TYPE line, and its samples follow them (a summary's
    ``_sum`` and ``_count`` included); every other line is ``name{labels} value``.
    """
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helps: set[str] = set()
    current = ""
    samples: list[Sample] = []
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helps, f"second HELP for {name}"
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, current, kind = line.split(" ")
            assert current not in types, f"second TYPE for {current}"
            assert current in helps, f"TYPE before HELP for {current}"
            types[current] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name = match["name"]
            if types[current] == "summary":
                assert name in (current, f"{current}_sum", f"{current}_count"), line
            else:
                assert name == current, f"sample outside its family: {line!r}"
            labels = {
                key: re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m[0]], value)
                for key, value in re.findall(_LABEL, match["labels"])
            }
            samples.append((name, labels, float(match["value"])))
    assert helps == set(types)
    return types, samples


def test_one_agent_renders_exactly_these_lines() -> None:
    single = agent(handled=3, errors={"ValueError": 1}, dropped=2, mailbox=5, in_flight=1)
    single["queue_wait"] = latency(3, 0.0036, 0.001, 0.002, 0.0025)
    single["handler_time"] = latency(3, 1.5, 1e-05, 0.5, 1.0)
    text = prometheus_text(mesh("main", {"echo": single}, dead_letters=4))
    labels = 'mesh="main",agent="echo"'
    expected = [
        "# HELP serendip_agent_messages_handled_total"
        " Messages whose handler finished, failed ones included.",
        "# TYPE serendip_agent_messages_handled_total counter",
        f"serendip_agent_messages_handled_total{{{labels}}} 3",
        "# HELP serendip_agent_messages_failed_total Messages whose handler failed.",
        "# TYPE serendip_agent_messages_failed_total counter",
        f"serendip_agent_messages_failed_total{{{labels}}} 1",
        "# HELP serendip_agent_messages_dropped_total"
        " Messages the mailbox's overflow policy dropped.",
        "# TYPE serendip_agent_messages_dropped_total counter",
        f"serendip_agent_messages_dropped_total{{{labels}}} 2",
        "# HELP serendip_agent_mailbox_depth Messages queued in the mailbox.",
        "# TYPE serendip_agent_mailbox_depth gauge",
        f"serendip_agent_mailbox_depth{{{labels}}} 5",
        "# HELP serendip_agent_in_flight Handlers running now.",
        "# TYPE serendip_agent_in_flight gauge",
        f"serendip_agent_in_flight{{{labels}}} 1",
        "# HELP serendip_agent_errors_total Handler failures by error type.",
        "# TYPE serendip_agent_errors_total counter",
        f'serendip_agent_errors_total{{{labels},type="ValueError"}} 1',
        "# HELP serendip_agent_queue_wait_seconds"
        " Time from a message's arrival in the mailbox to its handler's start.",
        "# TYPE serendip_agent_queue_wait_seconds summary",
        f'serendip_agent_queue_wait_seconds{{{labels},quantile="0.5"}} 0.001',
        f'serendip_agent_queue_wait_seconds{{{labels},quantile="0.95"}} 0.002',
        f'serendip_agent_queue_wait_seconds{{{labels},quantile="0.99"}} 0.0025',
        f"serendip_agent_queue_wait_seconds_sum{{{labels}}} 0.0036",
        f"serendip_agent_queue_wait_seconds_count{{{labels}}} 3",
        "# HELP serendip_agent_handler_seconds Time handlers ran.",
        "# TYPE serendip_agent_handler_seconds summary",
        f'serendip_agent_handler_seconds{{{labels},quantile="0.5"}} 1e-05',
        f'serendip_agent_handler_seconds{{{labels},quantile="0.95"}} 0.5',
        f'serendip_agent_handler_seconds{{{labels},quantile="0.99"}} 1.0',
        f"serendip_agent_handler_seconds_sum{{{labels}}} 1.5",
        f"serendip_agent_handler_seconds_count{{{labels}}} 3",
        *LLM_HEADERS,
        "# HELP serendip_mesh_agents Agents in the mesh.",
        "# TYPE serendip_mesh_agents gauge",
        'serendip_mesh_agents{mesh="main"} 1',
        "# HELP serendip_mesh_dead_letters_total Messages that reached no handler.",
        "# TYPE serendip_mesh_dead_letters_total counter",
        'serendip_mesh_dead_letters_total{mesh="main"} 4',
    ]
    assert text == "\n".join(expected) + "\n"


def test_label_values_escape_backslash_quote_and_newline() -> None:
    nasty = 'say "hi"\\n\nbye'
    text = prometheus_text(mesh('m"1', {nasty: agent(errors={'Err\\"or\n': 2})}))
    assert 'agent="say \\"hi\\"\\\\n\\nbye"' in text
    assert 'mesh="m\\"1"' in text
    assert 'type="Err\\\\\\"or\\n"' in text
    _, samples = parse(text)
    per_agent = [labels for _, labels, _ in samples if "agent" in labels]
    assert per_agent and all(labels["agent"] == nasty for labels in per_agent)
    assert all(labels["mesh"] == 'm"1' for _, labels, _ in samples)
    assert [labels["type"] for _, labels, _ in samples if "type" in labels] == ['Err\\"or\n']


def test_several_agents_share_one_help_and_type_line_per_family() -> None:
    text = prometheus_text(
        mesh(
            "m",
            {
                "a": agent(1, {"KeyError": 1}),
                "b": agent(2, {"KeyError": 1, "OSError": 3}),
                "c": agent(3),
            },
        )
    )
    types, samples = parse(text)
    assert types == {
        "serendip_agent_messages_handled_total": "counter",
        "serendip_agent_messages_failed_total": "counter",
        "serendip_agent_errors_total": "counter",
        "serendip_agent_messages_dropped_total": "counter",
        "serendip_agent_mailbox_depth": "gauge",
        "serendip_agent_in_flight": "gauge",
        "serendip_agent_queue_wait_seconds": "summary",
        "serendip_agent_handler_seconds": "summary",
        "serendip_mesh_agents": "gauge",
        "serendip_mesh_dead_letters_total": "counter",
        "serendip_llm_calls_total": "counter",
        "serendip_llm_calls_succeeded_total": "counter",
        "serendip_llm_calls_cancelled_total": "counter",
        "serendip_llm_retries_total": "counter",
        "serendip_llm_calls_estimated_total": "counter",
        "serendip_llm_calls_failed_total": "counter",
        "serendip_llm_tokens_total": "counter",
        "serendip_llm_call_seconds": "summary",
    }
    handled = {
        labels["agent"]: value
        for name, labels, value in samples
        if name == "serendip_agent_messages_handled_total"
    }
    assert handled == {"a": 1.0, "b": 2.0, "c": 3.0}
    errors = [
        (labels["agent"], labels["type"], value)
        for name, labels, value in samples
        if name == "serendip_agent_errors_total"
    ]
    assert errors == [("a", "KeyError", 1.0), ("b", "KeyError", 1.0), ("b", "OSError", 3.0)]
    quantiles = [
        labels["quantile"]
        for name, labels, _ in samples
        if name == "serendip_agent_handler_seconds" and labels["agent"] == "b"
    ]
    assert quantiles == ["0.5", "0.95", "0.99"]
    assert ("serendip_mesh_agents", {"mesh": "m"}, 3.0) in samples


def test_an_empty_mesh_still_declares_every_family_and_its_totals() -> None:
    text = prometheus_text(mesh("empty", {}))
    types, samples = parse(text)
    assert len(types) == 18
    assert samples == [
        ("serendip_mesh_agents", {"mesh": "empty"}, 0.0),
        ("serendip_mesh_dead_letters_total", {"mesh": "empty"}, 0.0),
    ]


def test_a_mesh_is_rendered_from_its_own_metrics() -> None:
    class FakeMesh:
        def metrics(self) -> MeshMetrics:
            return mesh("live", {"x": agent(7)})

    rendered = prometheus_text(FakeMesh())  # type: ignore[arg-type]
    assert rendered == prometheus_text(mesh("live", {"x": agent(7)}))


def test_an_llm_agent_renders_its_calls_tokens_failures_and_latency() -> None:
    calls: LlmMetrics = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "calls": 5,
        "succeeded": 3,
        "cancelled": 1,
        "failed": {"LlmHttpError": 1, "LlmTimeout": 0},
        "retries": 2,
        "prompt_tokens": 120,
        "completion_tokens": 45,
        "estimated_calls": 1,
        "latency": latency(4, 2.0, 0.4, 0.9, 1.0),
    }
    _, samples = parse(prometheus_text(mesh("m", {"bot": agent(3)}, llm={"bot": calls})))
    labels = {"mesh": "m", "agent": "bot", "provider": "openai", "model": "gpt-4o-mini"}
    assert ("serendip_llm_calls_total", labels, 5.0) in samples
    assert ("serendip_llm_calls_succeeded_total", labels, 3.0) in samples
    assert ("serendip_llm_calls_cancelled_total", labels, 1.0) in samples
    assert ("serendip_llm_retries_total", labels, 2.0) in samples
    assert ("serendip_llm_calls_estimated_total", labels, 1.0) in samples
    assert ("serendip_llm_calls_failed_total", labels | {"error": "LlmHttpError"}, 1.0) in samples
    assert ("serendip_llm_calls_failed_total", labels | {"error": "LlmTimeout"}, 0.0) in samples
    assert ("serendip_llm_tokens_total", labels | {"kind": "prompt"}, 120.0) in samples
    assert ("serendip_llm_tokens_total", labels | {"kind": "completion"}, 45.0) in samples
    assert ("serendip_llm_call_seconds", labels | {"quantile": "0.95"}, 0.9) in samples
    assert ("serendip_llm_call_seconds_sum", labels, 2.0) in samples
    assert ("serendip_llm_call_seconds_count", labels, 4.0) in samples
