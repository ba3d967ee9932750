"""Trajectory augmentation (step prefixes + loss spans) and the quality checks, table-driven."""

from __future__ import annotations

import pytest

from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.samples.augment import augment, pick_boundaries, step_boundaries, trajectory_variants
from pathreasoner.samples.card import card_markdown
from pathreasoner.samples.quality import CHECKS, check_records
from pathreasoner.train.data import sft_row

RESPONSE = (
    "<observe>Tumour cells form glands. Necrosis is present.</observe>\n<think>1. Tumour characterisation: "
    "gland formation suggests adenocarcinoma. These findings indicate adenocarcinoma.\n2. T staging: invasion "
    "into subserosa defines pT3. The primary tumour is therefore pT3.</think>\n<answer>pT3</answer>"
)


def test_step_boundaries_follow_steps_and_sentences() -> None:
    bounds = step_boundaries(RESPONSE)
    prefixes = [RESPONSE[:b] for b in bounds]
    assert prefixes[0].endswith("</observe>\n<think>")  # observation given, all reasoning trained
    # then after each sentence and each numbered step of the reasoning
    assert [p[-16:] for p in prefixes[1:]] == ["adenocarcinoma. ", "adenocarcinoma.\n", "sa defines pT3. "]
    assert len(bounds) == 4
    assert all(b < RESPONSE.index("</think>") for b in bounds)  # never inside the answer
    assert not any(RESPONSE[b - 3 : b] == "1. " for b in bounds)  # never right after a step number
    assert step_boundaries("<answer>x</answer>") == []


def test_variants_have_prefix_and_loss_spans() -> None:
    record = {"id": "P1:pT", "response": RESPONSE, "question": "q", "images": ["a.png"]}
    variants = trajectory_variants(record, 10)
    assert [v["id"] for v in variants] == [f"P1:pT#t{k}" for k in range(5)]
    assert variants[0]["response_prefix"] == "" and variants[0]["loss_spans"] == [[0, len(RESPONSE)]]
    for v in variants[1:]:
        ((start, end),) = v["loss_spans"]
        assert v["response"] == RESPONSE and end == len(RESPONSE)
        assert v["response_prefix"] == RESPONSE[:start] and RESPONSE[start:].endswith("<answer>pT3</answer>")
        # the SFT stage trains exactly the loss span
        message = sft_row(v)["messages"][-1]
        assert message["prefix"] == v["response_prefix"] and message["content"][0]["text"] == RESPONSE[start:]
    assert len(trajectory_variants(record, 3)) == 3 and len(trajectory_variants(record, 1)) == 1
    assert len(augment([record, {**record, "id": "P2:pT"}], 10)) == 10


@pytest.mark.parametrize(
    ("bounds", "n", "expected"),
    [([1, 2, 3], 5, [1, 2, 3]), ([1, 2, 3, 4, 5], 3, [1, 3, 5]), ([1, 2], 0, []), ([], 4, [])],
)
def test_pick_boundaries(bounds: list[int], n: int, expected: list[int]) -> None:
    assert pick_boundaries(bounds, n) == expected


GOOD = {
    "id": "P1:pT",
    "patient_id": "P1",
    "question": "What is the pT category?",
    "response": RESPONSE,
    "answer": "pT3",
    "kg_paths": [{"nodes": ["gland formation", "adenocarcinoma"], "relations": ["suggests"]}],
}
KG_NAMES = {"gland formation", "adenocarcinoma", "necrosis", "pT3", "subserosa"}


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({}, None),
        ({"response": RESPONSE.replace("<think>", "<thinking>")}, "tags_in_order"),
        ({"response": RESPONSE.replace("</answer>", "")}, "tags_in_order"),
        ({"response": "<think>x</think><observe>y</observe><answer>pT3</answer>"}, "tags_in_order"),
        ({"response": RESPONSE.replace("Necrosis", "Koilocytosis")}, "entities_in_kg"),
        (
            {"kg_paths": [{"nodes": ["made-up node", "adenocarcinoma"], "relations": ["suggests"]}]},
            "entities_in_kg",
        ),
        ({"answer": "pT2"}, "answer_agrees"),
        ({"answer": ""}, "answer_agrees"),
        (
            {"response": RESPONSE.replace("These findings", "As the provided answer says, these findings")},
            "no_leakage",
        ),
        ({"response": RESPONSE.replace("1. Tumour", "1. This aligns with the given tumour")}, "no_leakage"),
    ],
)
def test_quality_checks(change: dict, failed: str | None) -> None:
    matcher = EntityMatcher.from_lexicon({n: [] for n in [*KG_NAMES, "koilocytosis"]})
    kept, counts, failures = check_records([{**GOOD, **change}], KG_NAMES.__contains__, matcher)
    assert list(counts) == list(CHECKS)
    if failed is None:
        assert kept and not failures and all(c == {"passed": 1, "failed": 0} for c in counts.values())
    else:
        assert not kept and [f["check"] for f in failures] == [failed]
        assert counts[failed] == {"passed": 0, "failed": 1}
        before = CHECKS[: CHECKS.index(failed)]
        assert all(counts[c]["passed"] == 1 for c in before)


def test_duplicates_removed_and_card_renders() -> None:
    matcher = EntityMatcher.from_lexicon({n: [] for n in KG_NAMES})
    records = [GOOD, {**GOOD, "id": "dup"}, {**GOOD, "id": "other", "patient_id": "P2"}]
    kept, counts, failures = check_records(records, KG_NAMES.__contains__, matcher)
    assert [r["id"] for r in kept] == ["P1:pT", "other"]
    assert counts["not_duplicate"] == {"passed": 2, "failed": 1} and failures[0]["id"] == "dup"
    card = {
        "kg_version": "abc",
        "n_records": 2,
        "records_by_split": {"train": 2},
        "records_by_organ": {"colorectum": 2},
        "records_by_question_type": {"pT": 2},
        "checks": counts,
        "linking": {
            "diagnosis_link": {"exact": 2},
            "unlinked_mentions": 1,
            "most_common_unlinked": [("x oma", 1)],
        },
        "trajectory_augmentation": {
            "file": "sft_train.jsonl",
            "variants": 8,
            "train_records": 2,
            "variants_per_sample": 10,
        },
    }
    text = card_markdown(card)
    assert "| not_duplicate | 2 | 1 |" in text and "| colorectum | 2 |" in text and "`abc`" in text
    assert "sft_train.jsonl" in text and "`x oma` ×1" in text
