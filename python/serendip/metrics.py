"""serendip.metrics: what ``LocalMesh.metrics()`` returns, and its Prometheus rendering.

``LocalMesh.metrics()`` returns a :class:`MeshMetrics`: one :class:`AgentMetrics` per agent,
one :class:`LlmMetrics` per LLM agent and the mesh's totals, as plain dicts (durations in
seconds). :func:`prometheus_text` renders
one in the Prometheus text exposition format 0.0.4, for whatever endpoint the application
serves it from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict, cast

if TYPE_CHECKING:
    from ._mesh import LocalMesh

__all__ = [
    "AgentMetrics",
    "LatencySummary",
    "LlmMetrics",
    "MeshMetrics",
    "MeshTotals",
    "prometheus_text",
]


class LatencySummary(TypedDict):
    """Durations in seconds: count, sum, max and nearest-rank percentiles (all 0 when empty).

    Percentiles are exact up to 8 samples, then within 6.25% (log-linear buckets).
    """

    count: int
    sum: float
    max: float
    p50: float
    p95: float
    p99: float


class AgentMetrics(TypedDict):
    """One agent's counters and latencies since it was added to the mesh."""

    handled: int
    """Messages whose handler finished, failed ones included."""
    failed: int
    """Messages whose handler failed (also counted in ``handled``)."""
    errors: dict[str, int]
    """Failures by error type name."""
    dropped: int
    """Messages the mailbox's overflow policy dropped."""
    mailbox: int
    """Messages queued now."""
    in_flight: int
    """Handlers running now."""
    queue_wait: LatencySummary
    """From a message's arrival in the mailbox to its handler's start."""
    handler_time: LatencySummary
    """How long handlers ran."""


class LlmMetrics(TypedDict):
    """One LLM agent's model calls (``LlmAgent.llm_metrics()``). Tokens are as the provider
    reported them, except for ``estimated_calls`` calls whose usage it left out."""

    provider: str
    model: str
    calls: int
    """Model calls started (an exchange with tool rounds makes several)."""
    succeeded: int
    cancelled: int
    """Calls cancelled by their caller, or ended by the client closing."""
    failed: dict[str, int]
    """Failed calls by error class name (``LlmHttpError``, ``LlmTimeout``, ...)."""
    retries: int
    """HTTP attempts beyond each call's first."""
    prompt_tokens: int
    completion_tokens: int
    estimated_calls: int
    """Successful calls whose usage is an estimate (about 4 characters per token)."""
    latency: LatencySummary
    """From a call's start (waiting for a rate limit included) to its end."""


class MeshTotals(TypedDict):
    """Sums over the mesh's agents, plus what no agent owns."""

    agents: int
    handled: int
    failed: int
    dropped: int
    in_flight: int
    dead_letters: int
    """Messages that reached no handler (the mesh's dead-letter log counts them)."""


class MeshMetrics(TypedDict):
    """A snapshot of a whole mesh: its name, each agent by name, the model calls of each LLM
    agent by name, and the totals."""

    mesh: str
    agents: dict[str, AgentMetrics]
    llm: dict[str, LlmMetrics]
    totals: MeshTotals


def prometheus_text(source: LocalMesh | MeshMetrics) -> str:
    """Renders ``source`` in the Prometheus text exposition format 0.0.4.

    ``source`` is a mesh (its ``metrics()`` is called) or a snapshot it returned. Every family
    gets one ``# HELP`` and one ``# TYPE`` line, even with no samples; every sample is
    labelled ``mesh``, and per-agent ones ``agent``, in the order of ``source["agents"]``.
    The text ends with a newline. Callable from any thread the mesh's ``metrics()`` is.
    """
    # A mesh is recognised by its method, so LocalMesh need not be imported at run time.
    metrics: MeshMetrics = (
        cast("LocalMesh", source).metrics() if hasattr(source, "metrics") else source
    )
    mesh = f'mesh="{_escape(metrics["mesh"])}"'
    agents = [(f'{mesh},agent="{_escape(name)}"', m) for name, m in metrics["agents"].items()]
    out: list[str] = []
    for name, kind, help_, key in _AGENT_VALUES:
        _family(out, name, kind, help_)
        out.extend(f"{name}{{{labels}}} {_number(m[key])}" for labels, m in agents)
    _family(out, _ERRORS, "counter", "Handler failures by error type.")
    for labels, m in agents:
        for type_, count in m["errors"].items():
            out.append(f'{_ERRORS}{{{labels},type="{_escape(type_)}"}} {_number(count)}')
    for name, help_, latency in _AGENT_LATENCIES:
        _family(out, name, "summary", help_)
        for labels, m in agents:
            _summary(out, name, labels, m[latency])
    _llm(out, mesh, metrics["llm"])
    totals = metrics["totals"]
    _family(out, "serendip_mesh_agents", "gauge", "Agents in the mesh.")
    out.append(f"serendip_mesh_agents{{{mesh}}} {_number(totals['agents'])}")
    _family(out, _DEAD_LETTERS, "counter", "Messages that reached no handler.")
    out.append(f"{_DEAD_LETTERS}{{{mesh}}} {_number(totals['dead_letters'])}")
    return "\n".join(out) + "\n"


_AGENT_VALUES: tuple[
    tuple[str, str, str, Literal["handled", "failed", "dropped", "mailbox", "in_flight"]], ...
] = (
    (
        "serendip_agent_messages_handled_total",
        "counter",
        "Messages whose handler finished, failed ones included.",
        "handled",
    ),
    ("serendip_agent_messages_failed_total", "counter", "Messages whose handler failed.", "failed"),
    (
        "serendip_agent_messages_dropped_total",
        "counter",
        "Messages the mailbox's overflow policy dropped.",
        "dropped",
    ),
    ("serendip_agent_mailbox_depth", "gauge", "Messages queued in the mailbox.", "mailbox"),
    ("serendip_agent_in_flight", "gauge", "Handlers running now.", "in_flight"),
)

_AGENT_LATENCIES: tuple[tuple[str, str, Literal["queue_wait", "handler_time"]], ...] = (
    (
        "serendip_agent_queue_wait_seconds",
        "Time from a message's arrival in the mailbox to its handler's start.",
        "queue_wait",
    ),
    ("serendip_agent_handler_seconds", "Time handlers ran.", "handler_time"),
)

_QUANTILES: tuple[tuple[str, Literal["p50", "p95", "p99"]], ...] = (
    ("0.5", "p50"),
    ("0.95", "p95"),
    ("0.99", "p99"),
)

_ERRORS = "serendip_agent_errors_total"
_DEAD_LETTERS = "serendip_mesh_dead_letters_total"


_LLM_VALUES: tuple[
    tuple[str, str, Literal["calls", "succeeded", "cancelled", "retries", "estimated_calls"]], ...
] = (
    ("serendip_llm_calls_total", "Model calls started.", "calls"),
    ("serendip_llm_calls_succeeded_total", "Model calls that returned an answer.", "succeeded"),
    ("serendip_llm_calls_cancelled_total", "Model calls cancelled or closed.", "cancelled"),
    ("serendip_llm_retries_total", "HTTP attempts beyond each call's first.", "retries"),
    (
        "serendip_llm_calls_estimated_total",
        "Successful calls whose token usage is estimated.",
        "estimated_calls",
    ),
)
_LLM_FAILED = "serendip_llm_calls_failed_total"
_LLM_TOKENS = "serendip_llm_tokens_total"
_LLM_LATENCY = "serendip_llm_call_seconds"


def _llm(out: list[str], mesh: str, llm: dict[str, LlmMetrics]) -> None:
    """The LLM agents' families, labelled agent, provider and model."""
    rows = [
        (
            f'{mesh},agent="{_escape(name)}",provider="{_escape(m["provider"])}",'
            f'model="{_escape(m["model"])}"',
            m,
        )
        for name, m in llm.items()
    ]
    for name, help_, key in _LLM_VALUES:
        _family(out, name, "counter", help_)
        out.extend(f"{name}{{{labels}}} {_number(m[key])}" for labels, m in rows)
    _family(out, _LLM_FAILED, "counter", "Model calls that failed, by error class.")
    for labels, m in rows:
        for error, count in m["failed"].items():
            out.append(f'{_LLM_FAILED}{{{labels},error="{_escape(error)}"}} {_number(count)}')
    _family(out, _LLM_TOKENS, "counter", "Tokens the providers reported, by kind.")
    for labels, m in rows:
        out.append(f'{_LLM_TOKENS}{{{labels},kind="prompt"}} {_number(m["prompt_tokens"])}')
        out.append(
            f'{_LLM_TOKENS}{{{labels},kind="completion"}} {_number(m["completion_tokens"])}'
        )
    _family(out, _LLM_LATENCY, "summary", "Model calls from start to end.")
    for labels, m in rows:
        _summary(out, _LLM_LATENCY, labels, m["latency"])


def _family(out: list[str], name: str, kind: str, help_: str) -> None:
    """The two lines that open a family."""
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")


def _summary(out: list[str], name: str, labels: str, s: LatencySummary) -> None:
    """One agent's samples of a summary family: its quantiles, then ``_sum`` and ``_count``."""
    for quantile, key in _QUANTILES:
        out.append(f'{name}{{{labels},quantile="{quantile}"}} {_number(s[key])}')
    out.append(f"{name}_sum{{{labels}}} {_number(s['sum'])}")
    out.append(f"{name}_count{{{labels}}} {_number(s['count'])}")


def _escape(value: str) -> str:
    """A label value as the format quotes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: int | float) -> str:
    """Integers as themselves, floats as ``repr`` (the shortest text that reads back exactly)."""
    return float.__repr__(value) if isinstance(value, float) else str(value)
