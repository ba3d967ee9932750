"""Evaluation report: per-question-type bar chart, radar of the overall scores, and report.md."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure  # pyplot-free: no global backend state, Agg canvas on save

from pathreasoner.eval.metrics import METRIC_NAMES
from pathreasoner.io_utils import atomic_write_bytes, atomic_write_text

BAR_METRICS = ("format_compliance", "answer_match", "entity_f1", "rougeL")
RADAR_METRICS = tuple(m for m in METRIC_NAMES if m != "answer_exact")  # answer_match already shows it
BARS_PNG = "by_question_type.png"
RADAR_PNG = "radar.png"


def save_png(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG (atomically)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def plot_by_question_type(by_type: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Grouped bars: one group per question type, one bar per metric of BAR_METRICS."""
    types = list(by_type)
    fig = Figure(figsize=(max(6.0, 1.2 * len(types) + 2), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(BAR_METRICS)
    for k, metric in enumerate(BAR_METRICS):
        xs = [i + (k - (len(BAR_METRICS) - 1) / 2) * width for i in range(len(types))]
        ax.bar(xs, [by_type[t].get(metric, 0.0) for t in types], width=width, label=metric)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels([f"{t}\n(n={int(by_type[t].get('n_samples', 0))})" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Scores per question type")
    ax.legend(fontsize=8, ncols=len(BAR_METRICS), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return save_png(fig, path)


def plot_radar(metrics: Mapping[str, float], path: Path) -> Path:
    """Radar (polar) chart of the overall scores in RADAR_METRICS."""
    names = [m for m in RADAR_METRICS if m in metrics]
    angles = [2 * math.pi * i / len(names) for i in range(len(names))]
    values = [float(metrics[m]) for m in names]
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="polar")
    ax.plot([*angles, angles[0]], [*values, values[0]], marker="o")
    ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.25)
    ax.set_xticks(angles)
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("Overall scores")
    return save_png(fig, path)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_report(
    *,
    checkpoint: str,
    split: str,
    metrics: Mapping[str, float],
    by_type: Mapping[str, Mapping[str, float]],
    quarantine: Sequence[Mapping[str, str]],
    examples: Sequence[Mapping[str, object]],
) -> str:
    """report.md: overall table, per-question-type table, plots, quarantine, a few examples."""
    metric_names = [m for m in metrics if m not in ("n_samples",)]
    parts = [
        "# Evaluation report",
        "",
        f"- checkpoint: `{checkpoint}`",
        f"- split: `{split}`, samples: {int(metrics.get('n_samples', 0))}, quarantined: {len(quarantine)}",
        "",
        "## Overall",
        "",
        _table([(m, float(metrics[m])) for m in metric_names], ("metric", "score")),
        "",
        "## Per question type",
        "",
    ]
    if by_type:
        cols = [m for m in BAR_METRICS]
        rows = [
            (t, int(s.get("n_samples", 0)), *(float(s.get(m, 0.0)) for m in cols)) for t, s in by_type.items()
        ]
        parts += [_table(rows, ("question type", "n", *cols)), "", f"![per question type]({BARS_PNG})", ""]
    parts += [f"![overall]({RADAR_PNG})", ""]
    if quarantine:
        parts += ["## Quarantined samples", ""]
        parts += [f"- `{q.get('id')}`: {q.get('reason')}" for q in quarantine]
        parts.append("")
    if examples:
        parts += ["## Examples", ""]
        for ex in examples:
            parts += [
                f"### `{ex.get('id')}` ({ex.get('question_type')})",
                "",
                f"**Question:** {ex.get('question')}",
                "",
                "**Prediction:**",
                "",
                "```text",
                str(ex.get("prediction")),
                "```",
                "",
                f"**Reference answer:** {ex.get('answer')}",
                "",
            ]
    return "\n".join(parts)


def write_report(out_dir: Path, text: str) -> Path:
    return atomic_write_text(out_dir / "report.md", text)
