"""results.png: one bar chart per scenario metric, medians with the repetitions' range."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt  # noqa: E402

from scenarios import IDEAL  # noqa: E402

__all__ = ["render"]

COLORS = {
    "serendip": "#d62728",
    "asyncio": "#1f77b4",
    "pykka": "#2ca02c",
    "autogen": "#9467bd",
    "ceylon": "#8c564b",
    "caf": "#7f7f7f",
}
LOG_ABOVE = 30  # a panel whose largest bar exceeds its smallest this many times goes log scale


def _panel(ax: Any, title: str, metric: dict[str, Any]) -> None:
    rows = {k: v for k, v in metric["implementations"].items() if k != IDEAL}
    names = list(rows)
    medians = [rows[n].get("median", 0.0) for n in names]
    lows = [m - min(rows[n]["values"], default=m) for n, m in zip(names, medians, strict=True)]
    highs = [max(rows[n]["values"], default=m) - m for n, m in zip(names, medians, strict=True)]
    ax.bar(
        names,
        medians,
        yerr=[lows, highs],
        capsize=3,
        color=[COLORS.get(n, "#bcbd22") for n in names],
    )
    present = [m for m in medians if m > 0]
    if present and max(present) / min(present) > LOG_ABOVE:
        ax.set_yscale("log")
    for i, name in enumerate(names):
        if "median" not in rows[name]:
            ax.text(
                i,
                0.5,
                "fails",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="center",
                rotation=90,
                color="#555555",
            )
    ideal = metric["implementations"].get(IDEAL)
    if ideal:
        ax.axhline(ideal["median"], linestyle="--", color="black", linewidth=1)
        ax.text(len(names) - 0.5, ideal["median"], " ideal", va="bottom", ha="right", fontsize=8)
    better = "higher" if metric["higher_is_better"] else "lower"
    ax.set_title(f"{title} ({metric['unit']}, {better} is better)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    ax.tick_params(axis="y", labelsize=8)


def render(results: dict[str, Any], path: Path) -> None:
    panels = [
        (scenario if len(data["metrics"]) == 1 else f"{scenario} · {name}", metric)
        for scenario, data in results["scenarios"].items()
        for name, metric in data["metrics"].items()
    ]
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3 * rows), squeeze=False)
    for ax, (title, metric) in zip(axes.flat, panels, strict=False):
        _panel(ax, title, metric)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    m = results["machine"]
    fig.suptitle(
        f"serendip benchmarks: medians of {results['suite']['reps']} interleaved "
        f"repetitions, bars show their range ({m['cpu_model']}, {m['cores']} cores)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
