"""Quality checks on generated records, each counted for the dataset card; failing records are dropped.

Checks, in order: the three tags in order; every entity named in observe/think (lexicon matches) and on
the KG paths exists in the KG; the answer in the response is the report's answer; no leakage phrases;
no duplicate (question, response) per patient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.response import is_well_formed, parse_response

CHECKS = ("tags_in_order", "entities_in_kg", "answer_agrees", "no_leakage", "not_duplicate")
LEAKAGE_PHRASES = (
    "the provided answer",
    "aligns with the given",
    "the given answer",
    "as the answer states",
    "the expected answer",
    "the reference answer",
    "consistent with the provided",
)


def has_leakage(text: str) -> str | None:
    """The first leakage phrase in `text` (case-insensitive), or None."""
    lowered = text.lower()
    return next((p for p in LEAKAGE_PHRASES if p in lowered), None)


def check_records(
    records: list[dict[str, Any]], kg_has: Callable[[str], bool], matcher: EntityMatcher
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], list[dict[str, str]]]:
    """Records passing every check, per-check {passed, failed} counts, and the failures (id + check + why)."""
    counts = {c: {"passed": 0, "failed": 0} for c in CHECKS}
    kept: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for record in records:
        problem = _first_problem(record, kg_has, matcher, seen)
        for check in CHECKS:
            if problem and check == problem[0]:
                counts[check]["failed"] += 1
                break
            counts[check]["passed"] += 1
        if problem:
            failures.append({"id": str(record.get("id")), "check": problem[0], "reason": problem[1]})
        else:
            kept.append(record)
    return kept, counts, failures


def _first_problem(
    record: dict[str, Any],
    kg_has: Callable[[str], bool],
    matcher: EntityMatcher,
    seen: set[tuple[str, str, str]],
) -> tuple[str, str] | None:
    response = str(record.get("response") or "")
    if not is_well_formed(response):
        return "tags_in_order", "response is not <observe>…</observe><think>…</think><answer>…</answer>"
    parsed = parse_response(response)
    named = matcher.entities(f"{parsed.observe}\n{parsed.think}")
    named |= {n for p in record.get("kg_paths") or [] for n in p.get("nodes", [])}
    missing = sorted(n for n in named if not kg_has(n))
    if missing:
        return "entities_in_kg", f"not in the KG: {missing[:3]}"
    answer = str(record.get("answer") or "").strip()
    if not answer or (parsed.answer or "").strip() != answer:
        return "answer_agrees", f"response answer {parsed.answer!r} differs from the report's {answer!r}"
    leak = has_leakage(response) or has_leakage(str(record.get("question") or ""))
    if leak:
        return "no_leakage", f"leakage phrase {leak!r}"
    key = (str(record.get("patient_id")), str(record.get("question")), response)
    if key in seen:
        return "not_duplicate", "same patient, question and response as an earlier record"
    seen.add(key)
    return None
