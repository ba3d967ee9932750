"""The dataset card as Markdown (card.md), rendered from the card dict build-samples writes as card.json."""

from __future__ import annotations

from typing import Any

SFT_TRAIN_FILE = "sft_train.jsonl"  # trajectory-augmented train split: load_split(samples_dir, "sft_train")


def _table(title: str, counts: dict[str, Any], key: str = "value") -> list[str]:
    lines = [f"### {title}", "", f"| {key} | records |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return [*lines, ""]


def card_markdown(card: dict[str, Any]) -> str:
    """Counts by organ, question type and split, entity coverage, quality checks, linking, augmentation."""
    ent = card.get("entities", {})
    lines = [
        "# PathReasoner samples — dataset card",
        "",
        f"- KG version: `{card.get('kg_version')}`; extractor: `{card.get('extractor', 'rules')}`; "
        f"writer: `{card.get('writer')}`; seed {card.get('seed')}",
        f"- {card.get('n_records')} records from {card.get('n_reports')} reports of {card.get('n_patients')} patients; "
        f"{card.get('quarantined')} items quarantined (see summary.json)",
        "- split by patient (no patient in two splits): "
        + ", ".join(f"{k} {v} patients" for k, v in card.get("patients_by_split", {}).items()),
        "",
        "## Counts",
        "",
        *_table("By split", card.get("records_by_split", {}), "split"),
        *_table("By organ", card.get("records_by_organ", {}), "organ"),
        *_table("By question type", card.get("records_by_question_type", {}), "question type"),
        "## Entity coverage",
        "",
        f"- distinct ground-truth entities: {ent.get('distinct_gt_entities')} of a lexicon of {ent.get('lexicon_size')} "
        f"(coverage {ent.get('lexicon_coverage')})",
        f"- records with entities: {ent.get('records_with_entities')}; with KG paths: {ent.get('records_with_kg_paths')}; "
        f"mean entities per record: {ent.get('mean_gt_entities_per_record')}",
        "",
        "## Quality checks",
        "",
        "| check | passed | failed |",
        "|---|---:|---:|",
        *(f"| {name} | {c['passed']} | {c['failed']} |" for name, c in card.get("checks", {}).items()),
        "",
    ]
    recovery = card.get("answer_recovery") or {}
    if recovery.get("run"):
        lines += [
            f"- answer recovery (MedReason): decided by {recovery.get('decided_by')}, "
            f"{recovery.get('llm_calls')} LLM calls",
            "",
        ]
    elif recovery:
        lines += [f"- answer recovery (MedReason) not run: {recovery.get('why')}", ""]
    linking = card.get("linking")
    if linking:
        lines += [
            "## Entity linking",
            "",
            "- primary diagnosis linked by: "
            + ", ".join(f"{k} {v}" for k, v in linking.get("diagnosis_link", {}).items()),
            f"- unlinked tumour-like mentions (reported, never turned into entities): {linking.get('unlinked_mentions')}",
            f"- LLM findings not supported by the report text (dropped): {linking.get('ungrounded_llm_findings', 0)}",
            *(f"  - `{m}` ×{n}" for m, n in linking.get("most_common_unlinked", [])[:10]),
            "",
        ]
    aug = card.get("trajectory_augmentation")
    if aug:
        lines += [
            "## Trajectory augmentation",
            "",
            f"- `{aug['file']}`: {aug['variants']} variants of {aug['train_records']} train records "
            f"(up to {aug['variants_per_sample']} each: the full trajectory plus step prefixes given as "
            "`response_prefix`; `loss_spans` mark the trained characters)",
            "",
        ]
    return "\n".join(lines)
