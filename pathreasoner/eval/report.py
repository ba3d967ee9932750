"""Evaluation report: radar chart, per-question-type bars with CI whiskers, and report.md.

The radar uses the seed's axes: BLEU, ROUGE-1/2/L, the BERT-style F1, the judge score (when there is
one) and the answer accuracy of each question type; the current champion (when given) is drawn beside
the candidate. report.md holds the overall table with 95 % CIs (and the champion's values), the
per-type and per-organ tables, the pictures (PNG beside it), the quarantine and sample predictions with
their references and grounding.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # pyplot-free: no global backend state, Agg canvas on save

from pathreasoner.io_utils import atomic_write_bytes, atomic_write_text

TEXT_AXES = ("bleu", "rouge1", "rouge2", "rougeL", "bertscore_minilm_f1", "judge_score")
BAR_METRICS = ("answer_accuracy", "format_compliance", "rougeL", "bertscore_minilm_f1")
TABLE_METRICS = (
    "answer_accuracy",
    "diagnosis_accuracy",
    "format_compliance",
    "entity_precision",
    "entity_recall",
    "entity_f1",
    "bleu",
    "rouge1",
    "rouge2",
    "rougeL",
    "bertscore_minilm_f1",
    "judge_score",
    "answer_match",
    "answer_exact",
)
BARS_PNG = "by_question_type.png"
RADAR_PNG = "radar.png"
ACCURACY = "answer_accuracy"


def save_png(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG (atomically)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def radar_axes(metrics: Mapping[str, Any], by_type: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """`{axis label: value}`: the text metrics present, then the accuracy of each question type."""
    axes = {m: float(metrics[m]) for m in TEXT_AXES if isinstance(metrics.get(m), int | float)}
    for qtype, row in by_type.items():
        if isinstance(row.get(ACCURACY), int | float):
            axes[f"accuracy: {qtype}"] = float(row[ACCURACY])
    return axes


def plot_radar(
    candidate: Mapping[str, float], path: Path, champion: Mapping[str, float] | None = None
) -> Path:
    """Radar (polar) chart on the candidate's axes, with the champion's values where it has them."""
    names = list(candidate)
    angles = [2 * math.pi * i / max(len(names), 1) for i in range(len(names))]
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot(projection="polar")
    series = [("candidate", [candidate[n] for n in names])]
    if champion:
        series.append(("champion", [champion.get(n, 0.0) for n in names]))
    for label, values in series:
        if values:
            ax.plot([*angles, angles[0]], [*values, values[0]], marker="o", label=label)
            ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.15)
    ax.set_xticks(angles)
    ax.set_xticklabels(names, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_title("Candidate" + (" vs champion" if champion else ""))
    ax.legend(loc="upper right", bbox_to_anchor=(1.25, 1.1), fontsize=8)
    return save_png(fig, path)


def plot_by_question_type(by_type: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Grouped bars per question type for BAR_METRICS, with the bootstrap 95 % CI as whiskers."""
    types = list(by_type)
    metrics = [m for m in BAR_METRICS if any(m in by_type[t] for t in types)]
    fig = Figure(figsize=(max(6.0, 1.4 * len(types) + 2), 4))
    ax = fig.add_subplot()
    width = 0.8 / max(len(metrics), 1)
    for k, metric in enumerate(metrics):
        xs = [i + (k - (len(metrics) - 1) / 2) * width for i in range(len(types))]
        values = [float(by_type[t].get(metric, 0.0)) for t in types]
        cis = [by_type[t].get(f"{metric}_ci") or [v, v] for t, v in zip(types, values, strict=True)]
        err = [
            [max(0.0, v - lo) for v, (lo, _) in zip(values, cis, strict=True)],
            [max(0.0, hi - v) for v, (_, hi) in zip(values, cis, strict=True)],
        ]
        ax.bar(xs, values, width=width, label=metric, yerr=err, capsize=2)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels([f"{t}\n(n={int(by_type[t].get('n', 0))})" for t in types], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (95 % CI)")
    ax.set_title("Scores per question type")
    ax.legend(fontsize=8, ncols=max(len(metrics), 1), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return save_png(fig, path)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"[{float(value[0]):.3f}, {float(value[1]):.3f}]"
    return "–" if value is None else str(value)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _group_table(groups: Mapping[str, Mapping[str, Any]], label: str) -> str:
    cols = [m for m in BAR_METRICS if any(m in g for g in groups.values())]
    rows = [
        (name, g.get("n"), *(f"{_cell(g.get(m))} {_cell(g.get(m + '_ci'))}" if m in g else "–" for m in cols))
        for name, g in groups.items()
    ]
    return _table(rows, (label, "n", *(f"{m} [95 % CI]" for m in cols)))


def pick_examples(rows: Sequence[Mapping[str, Any]], n: int) -> list[Mapping[str, Any]]:
    """Up to `n` predictions, question types taken in turn (so that each type is shown)."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(str(row.get("question_type")), []).append(row)
    out: list[Mapping[str, Any]] = []
    queues = list(by_type.values())
    while len(out) < n and any(queues):
        for queue in queues:
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return out


def _example(ex: Mapping[str, Any]) -> list[str]:
    grounding = ex.get("grounding") or {}
    findings = "; ".join(str(f) for f in grounding.get("findings") or []) or "–"
    paths = grounding.get("kg_paths") or []
    verdict = {True: "correct", False: "wrong", None: "not scorable"}[ex.get("correct")]
    lines = [
        f"### `{ex.get('id')}` ({ex.get('question_type')}, {ex.get('organ')}): {verdict}",
        "",
        f"**Question:** {ex.get('question')}",
        "",
    ]
    if ex.get("options"):
        lines += ["**Options:** " + " ".join(f"({chr(65 + i)}) {o}" for i, o in enumerate(ex["options"])), ""]
    lines += ["**Prediction:**", "", "```text", str(ex.get("prediction")), "```", ""]
    lines += [f"**Reference:** {ex.get('reference')}", "", f"**Grounding, findings:** {findings}", ""]
    if ex.get("gt_entities") or ex.get("pred_entities"):
        lines += [
            f"**Entities:** reference {', '.join(ex.get('gt_entities') or []) or '–'}; "
            f"predicted {', '.join(ex.get('pred_entities') or []) or '–'}",
            "",
        ]
    if paths:
        lines += ["**KG paths:** " + " | ".join(str(p) for p in paths[:3]), ""]
    return lines


def render_report(
    *,
    checkpoint: str,
    metrics: Mapping[str, Any],
    ci: Mapping[str, Sequence[float]],
    by_type: Mapping[str, Mapping[str, Any]],
    by_organ: Mapping[str, Mapping[str, Any]],
    quarantine: Sequence[Mapping[str, str]],
    examples: Sequence[Mapping[str, Any]],
    champion: Mapping[str, Any] | None = None,
) -> str:
    """report.md: overall table with CIs (beside the champion's values), per-type/organ tables, pictures,
    quarantine, sample predictions."""
    names = [m for m in TABLE_METRICS if m in metrics]
    parts = [
        "# Evaluation report",
        "",
        f"- checkpoint: `{checkpoint}`",
        f"- split: `{metrics.get('split')}`, evaluation set `{str(metrics.get('eval_set_hash'))[:16]}…`, "
        f"items: {metrics.get('n_samples')} (scored for accuracy: {metrics.get('n_scored')}), "
        f"quarantined: {len(quarantine)}",
    ]
    if "diagnosis_chance" in metrics:
        parts.append(
            f"- diagnosis chance level: {float(metrics['diagnosis_chance']):.3f} (1/K), majority class "
            f"{float(metrics.get('diagnosis_majority', 0.0)):.3f}"
        )
    header: tuple[str, ...] = ("metric", "candidate", "95 % CI")
    if champion is not None:
        same = champion.get("eval_set_hash") == metrics.get("eval_set_hash")
        parts.append(
            "- champion: evaluated on "
            + ("the same evaluation set" if same else "**a different evaluation set**: not comparable")
        )
        header = (*header, "champion")
    rows = [
        (m, float(metrics[m]), ci.get(m), *((champion.get(m),) if champion is not None else ()))
        for m in names
    ]
    parts += ["", "## Overall", "", _table(rows, header), "", f"![radar]({RADAR_PNG})", ""]
    if by_type:
        parts += ["## Per question type", "", _group_table(by_type, "question type"), ""]
        parts += [f"![per question type]({BARS_PNG})", ""]
    if by_organ:
        parts += ["## Per organ", "", _group_table(by_organ, "organ"), ""]
    if quarantine:
        parts += ["## Quarantined samples", ""]
        parts += [f"- `{q.get('id')}`: {q.get('reason')}" for q in quarantine]
        parts.append("")
    if examples:
        parts += [f"## Sample predictions ({len(examples)})", ""]
        for ex in examples:
            parts += _example(ex)
    return "\n".join(parts)


def write_all(
    out_dir: Path,
    *,
    checkpoint: str,
    metrics: Mapping[str, Any],
    ci: Mapping[str, Sequence[float]],
    by_type: Mapping[str, Mapping[str, Any]],
    by_organ: Mapping[str, Mapping[str, Any]],
    quarantine: Sequence[Mapping[str, str]],
    examples: Sequence[Mapping[str, Any]],
    champion: Mapping[str, Any] | None = None,
) -> Path:
    """radar.png, by_question_type.png and report.md in `out_dir`; returns report.md's path."""
    champion_axes = None
    if champion is not None:
        champion_axes = radar_axes(champion, champion.get("by_type") or {})
    plot_radar(radar_axes(metrics, by_type), out_dir / RADAR_PNG, champion_axes)
    plot_by_question_type(by_type, out_dir / BARS_PNG)
    text = render_report(
        checkpoint=checkpoint,
        metrics=metrics,
        ci=ci,
        by_type=by_type,
        by_organ=by_organ,
        quarantine=quarantine,
        examples=examples,
        champion=champion,
    )
    return atomic_write_text(out_dir / "report.md", text)
