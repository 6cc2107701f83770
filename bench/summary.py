"""Medians, same-run ratios and targets: the JSON form of one scenario's results.

Only ratios between rows of the same run mean anything on a noisy machine, so every ratio
here divides two medians measured in the same invocation, repetitions interleaved. Each target
also keeps its ratio repetition by repetition (``paired``), for the reader; it is judged on
the ratio of the medians.
"""

from __future__ import annotations

import statistics
from typing import Any

from measure import Outcome
from scenarios import IDEAL, Metric, Scenario

__all__ = ["summarize"]


def _row(metric: Metric, outcomes: list[Outcome]) -> dict[str, Any]:
    values = [o.metrics[metric.name] for o in outcomes if o.metrics is not None]
    problems = [o.unsupported or o.failure for o in outcomes if o.metrics is None]
    notes = {o.note for o in outcomes if o.note}
    crashes = [o.exit_crash for o in outcomes if o.exit_crash]
    row: dict[str, Any] = {"values": values}
    if any(o.cpus is not None for o in outcomes):
        # Per repetition, beside `values`: the CPUs its child could run on (measure.cpu_for).
        row["cpus"] = [list(o.cpus) if o.cpus else None for o in outcomes if o.metrics is not None]
    if values:
        row["median"] = statistics.median(values)
        if problems:
            row["failures"] = problems  # some repetitions failed; the median is of the rest
    else:
        row["fails"] = problems[0] if problems else "not run"
    if notes:
        row["note"] = "; ".join(sorted(notes))
    if crashes:
        row["exit_crashes"] = crashes  # after printing a valid result: the values stand
    return row


def _paired(metric: Metric, ours: list[Outcome], theirs: list[Outcome]) -> list[float]:
    """serendip ÷ the other row, repetition by repetition: the two ran back to back, in the
    same phase of the machine, which the ratio of the medians cannot tell from a slow phase
    that took one row's median and a fast one the other's."""
    return [
        a.metrics[metric.name] / b.metrics[metric.name]
        for a, b in zip(ours, theirs)
        if a.metrics is not None and b.metrics is not None
    ]


def _targets(
    metric: Metric, rows: dict[str, dict[str, Any]], outcomes: dict[str, list[Outcome]]
) -> list[dict[str, Any]]:
    ours = rows.get("serendip", {}).get("median")
    result = []
    for target in metric.targets:
        theirs = rows.get(target.versus, {}).get("median")
        entry: dict[str, Any] = {
            "versus": target.versus,
            "op": target.op,
            "factor": target.factor,
            "text": f"serendip {target} {target.versus}",
        }
        if ours is None or theirs is None:
            missing = "serendip" if ours is None else target.versus
            entry |= {"ratio": None, "met": None, "why": f"{missing} has no result"}
        else:
            ratio = ours / theirs
            entry |= {"ratio": ratio, "met": target.met(ratio)}
            pairs = _paired(metric, outcomes.get("serendip", []), outcomes.get(target.versus, []))
            if pairs:
                # Shown beside the target, which is judged on `ratio` (the medians).
                entry["paired"] = {"ratios": pairs, "median": statistics.median(pairs)}
        result.append(entry)
    return result


def summarize(
    scenario: Scenario, params: dict[str, Any], outcomes: dict[str, list[Outcome]]
) -> dict[str, Any]:
    ideal = scenario.ideal(params) if scenario.ideal else {}
    metrics: dict[str, Any] = {}
    for metric in scenario.metrics:
        rows = {impl: _row(metric, outcomes.get(impl, [])) for impl in scenario.implementations}
        if metric.name in ideal:
            rows[IDEAL] = {"values": [], "median": ideal[metric.name], "note": "no overhead at all"}
        for name, row in rows.items():
            if "median" in row:
                row["ratios"] = {
                    other: row["median"] / o["median"]
                    for other, o in rows.items()
                    if other != name and "median" in o
                }
        metrics[metric.name] = {
            "unit": metric.unit,
            "higher_is_better": metric.higher_is_better,
            "implementations": rows,
            "targets": _targets(metric, rows, outcomes),
        }
    return {"summary": scenario.summary, "params": params, "metrics": metrics}
