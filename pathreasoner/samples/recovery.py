"""MedReason answer-recovery check (run when an LLM endpoint is configured): the LLM answers the question
from the sample's reasoning with the conclusion (the `<answer>` part) cut off; the sample is kept only if
that answer is the report's. A recovered answer that contains the report's answer, or names the same KG
entities, passes locally; otherwise an LLM judge decides (True/False), as in MedReason.

An endpoint failure for a sample fails the check for that sample (it is dropped and listed, never kept
unchecked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.response import parse_response
from pathreasoner.samples.llm import LLMBackendError, LLMClient
from pathreasoner.text_norm import normalize_answer

CHECK = "answer_recovered"
RECOVERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"correct": {"type": "boolean"}},
    "required": ["correct"],
    "additionalProperties": False,
}


@dataclass
class RecoveryResult:
    """Kept records, the check's {passed, failed} counts, the failures (id + why) and how passes were decided."""

    kept: list[dict[str, Any]]
    counts: dict[str, int]
    failures: list[dict[str, str]] = field(default_factory=list)
    decided_by: dict[str, int] = field(default_factory=dict)


def reasoning_without_conclusion(response: str) -> str:
    """The observation and reasoning of a response, its `<answer>` cut off."""
    parsed = parse_response(response)
    return f"Observation: {parsed.observe or ''}\nReasoning: {parsed.think or ''}".strip()


def answers_agree(recovered: str, reference: str, matcher: EntityMatcher) -> bool:
    """Local match: either answer contains the other (normalised), or the recovered answer names at least
    half of the KG entities of the reference (all of them when there is one)."""
    got, ref = normalize_answer(recovered), normalize_answer(reference)
    if not got or not ref:
        return False
    if f" {ref} " in f" {got} " or (len(got) >= 4 and f" {got} " in f" {ref} "):
        return True
    ref_entities = matcher.entities(reference)
    if not ref_entities:
        return False
    return len(ref_entities & matcher.entities(recovered)) * 2 >= len(ref_entities)


def _recover(client: LLMClient, record: dict[str, Any], matcher: EntityMatcher) -> str:
    """How the check passed ("local" or "judge") when the reasoning recovers the answer; raises LLMBackendError otherwise."""
    item = f"{record['id']} (answer recovery)"
    reasoning = reasoning_without_conclusion(str(record["response"]))
    messages = [
        {
            "role": "system",
            "content": "Answer the question using only the pathology reasoning given. Reply with the answer alone.",
        },
        {"role": "user", "content": f"Question: {record['question']}\n{reasoning}"},
    ]
    recovered = str(client.complete_json(messages, RECOVERY_SCHEMA, "answer_recovery", item)["answer"])
    if answers_agree(recovered, str(record["answer"]), matcher):
        return "local"
    judge = [
        {
            "role": "system",
            "content": "You judge pathology answers. Is the candidate answer correct given the reference answer?",
        },
        {
            "role": "user",
            "content": f"Question: {record['question']}\nReference answer: {record['answer']}\n"
            f"Candidate answer: {recovered}",
        },
    ]
    if client.complete_json(judge, JUDGE_SCHEMA, "answer_judge", item)["correct"] is True:
        return "judge"
    raise LLMBackendError(
        f"{record['id']}: the reasoning without its conclusion leads to {recovered!r}, not {record['answer']!r}"
    )


def check_answer_recovery(
    client: LLMClient, records: list[dict[str, Any]], matcher: EntityMatcher
) -> RecoveryResult:
    """Run the check over `records` with the client's bounded concurrency; failing records are dropped."""
    results = client.map(lambda record: _recover(client, record, matcher), records)
    out = RecoveryResult(kept=[], counts={"passed": 0, "failed": 0})
    for record, result in zip(records, results, strict=True):
        if isinstance(result, Exception):
            out.counts["failed"] += 1
            out.failures.append({"id": str(record["id"]), "check": CHECK, "reason": str(result)})
            continue
        out.counts["passed"] += 1
        out.decided_by[result] = out.decided_by.get(result, 0) + 1
        out.kept.append(record)
    return out
