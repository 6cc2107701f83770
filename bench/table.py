"""results.md: the Markdown table a reader (and the README) takes the numbers from."""

from __future__ import annotations

from typing import Any

from impls import OWN_THREADS
from scenarios import IDEAL, Target

__all__ = ["number", "render"]

COLUMNS = (
    "scenario",
    "implementation",
    "median",
    "unit",
    "ratio vs asyncio",
    "target (serendip vs this row)",
    "met?",
)


def number(value: float) -> str:
    """Three significant digits, thousands separated: 478,000 / 37.8 / 0.312."""
    if value >= 1000:
        return f"{float(f'{value:.3g}'):,.0f}"
    return f"{value:.3g}"


def _ratio(ratio: float, factor: float) -> str:
    """Three significant digits, or four when three would round it onto the target itself."""
    shown = f"{ratio:.3g}"
    if float(shown) == factor and ratio != factor:
        shown = f"{ratio:.4g}"
    return f"{shown}×"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _header(results: dict[str, Any]) -> list[str]:
    m, suite = results["machine"], results["suite"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return [
        "# serendip benchmark results",
        "",
        f"- run: {m['date_utc']}, {'quick' if suite['quick'] else 'full'} sizes, "
        f"{suite['reps']} repetitions per row, implementations interleaved within each "
        f"repetition, each in a fresh process (in one-loop scenarios all of a repetition's on "
        f"one CPU, the CPUs in turn; {' and '.join(sorted(OWN_THREADS))}, with threads of "
        f"their own, on every CPU); {suite['duration_s']:.0f} s in all",
        f"- machine: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}",
        f"- software: Python {m['python']}, {m['compiler']}, CAF {m['caf']}, {packages}",
        f"- serendip commit: {m['serendip_commit']} (installed build written "
        f"{m['serendip_build']})",
        *([f"- **warning: {suite['warning']}**"] if suite.get("warning") else []),
        "",
        "Medians. This machine is noisy: only ratios between rows of the same run mean anything.",
        "A target compares serendip's median with the row it stands on "
        "(ratio = serendip ÷ that row).",
        "",
    ]


def _rows(name: str, metric: dict[str, Any]) -> list[list[str]]:
    impls = metric["implementations"]
    base = impls.get("asyncio", {}).get("median")
    targets = {t["versus"]: t for t in metric["targets"]}
    rows = []
    for impl, row in impls.items():
        label = f"ideal ({metric['unit']})" if impl == IDEAL else impl
        if "median" in row:
            median = number(row["median"])
            ratio = f"{row['median'] / base:.3g}×" if base and impl != IDEAL else "—"
        else:
            median, ratio = f"fails: {row['fails']}", "—"
        target, met = "", ""
        if impl in targets:
            t = targets[impl]
            shown = "no result" if t["ratio"] is None else _ratio(t["ratio"], t["factor"])
            target = f"{'≥' if t['op'] == '>=' else '≤'} {t['factor']:g}× (is {shown})"
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        rows.append([name, label, median, metric["unit"], ratio, target, met])
        name = ""  # the scenario is named on its first row only
    return rows


def render(results: dict[str, Any]) -> str:
    lines = _header(results)
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    notes = []
    paired = []
    for scenario, data in results["scenarios"].items():
        for metric_name, metric in data["metrics"].items():
            name = scenario if len(data["metrics"]) == 1 else f"{scenario} · {metric_name}"
            for row in _rows(name, metric):
                lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
            paired += _paired(name, metric)
        notes += _notes(scenario, next(iter(data["metrics"].values())))
    if paired:
        lines += [
            "",
            "Each target's ratio repetition by repetition (serendip ÷ its row, the two measured "
            "back to back): where a slow phase of the machine took one row's median and a fast "
            "one the other's, these show it. The targets above are judged on the medians.",
            "",
        ]
        lines += paired
    if notes:
        lines += [
            "",
            "Notes: how rows were driven where the scenario's wording leaves a choice, "
            "and what went wrong beside a result.",
            "",
        ]
        lines += notes
    lines += ["", "Scenarios:", ""]
    lines += [
        f"- {name}: {d['summary']} ({_params(d['params'])})"
        for name, d in results["scenarios"].items()
    ]
    return "\n".join(lines) + "\n"


def _paired(name: str, metric: dict[str, Any]) -> list[str]:
    lines = []
    for t in metric["targets"]:
        if "paired" not in t:
            continue
        ratios = t["paired"]["ratios"]
        target = Target(t["versus"], t["op"], t["factor"])
        held = sum(1 for r in ratios if target.met(r))
        lines.append(
            f"- {name} vs {t['versus']} ({target}): "
            f"{', '.join(f'{r:.3g}×' for r in ratios)} "
            f"(median {t['paired']['median']:.3g}×; {held} of {len(ratios)} meet it)"
        )
    return lines


def _notes(scenario: str, metric: dict[str, Any]) -> list[str]:
    """How rows were driven, and what went wrong beside a result (same for every metric)."""
    notes = []
    for impl, row in metric["implementations"].items():
        if impl == IDEAL:
            continue
        if row.get("note"):
            notes.append(f"- {scenario}, {impl}: {row['note']}")
        if row.get("failures"):
            notes.append(
                f"- {scenario}, {impl}: {len(row['failures'])} repetition(s) failed, "
                f"the median is of the others: {'; '.join(row['failures'])}"
            )
        if row.get("exit_crashes"):
            notes.append(
                f"- {scenario}, {impl}: crashed at interpreter exit after printing "
                f"its answer in {len(row['exit_crashes'])} repetition(s): "
                f"{row['exit_crashes'][0]}"
            )
    return notes


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in params.items())
