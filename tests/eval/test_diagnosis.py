"""Diagnosis accuracy: KG-linked diagnoses of the predicted and reference answers, and its chance level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathreasoner.errors import DatasetError
from pathreasoner.eval.diagnosis import DiagnosisChecker, diagnosis_scores, diagnosis_verdicts
from pathreasoner.eval.hierarchy import ANCESTORS_FILE, diagnosis_ancestors, load_ancestors
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.kg.schema import Node

LEXICON = {
    "adenocarcinoma": [],
    "mucinous adenocarcinoma": [],
    "hepatocellular carcinoma": ["HCC"],
    "cecum": [],
    "liver": [],
    "rectum": [],
    "rectal adenocarcinoma": ["adenocarcinoma of the rectum"],
}
TYPES = {
    "adenocarcinoma": "diagnosis",
    "mucinous adenocarcinoma": "diagnosis",
    "hepatocellular carcinoma": "diagnosis",
    "cecum": "anatomic_site",
    "liver": "anatomic_site",
    "rectum": "anatomic_site",
    "rectal adenocarcinoma": "diagnosis",
}


def _response(answer: str) -> str:
    return f"<observe>o</observe>\n<think>t</think>\n<answer>{answer}</answer>"


RECORDS = [
    {"question_type": "diagnosis", "answer": "Adenocarcinoma of the cecum"},
    {"question_type": "diagnosis", "answer": "Mucinous adenocarcinoma of the cecum"},
    {"question_type": "diagnosis", "answer": "Hepatocellular carcinoma of the liver"},
    {"question_type": "diagnosis", "answer": "Hepatocellular carcinoma of the liver"},
    {"question_type": "grade", "answer": "moderately differentiated"},
]


def test_site_does_not_matter_but_the_diagnosis_does() -> None:
    matcher = EntityMatcher.from_lexicon(LEXICON)
    predictions = [
        _response("Adenocarcinoma of the liver"),  # right diagnosis, wrong site: right
        _response("Adenocarcinoma of the cecum"),  # mucinous missed: wrong
        _response("HCC"),  # synonym: right
        _response("Adenocarcinoma"),  # wrong
        _response("moderately differentiated"),  # not a diagnosis question: not scored
    ]
    assert diagnosis_verdicts(RECORDS, predictions, matcher, TYPES) == [True, False, True, False, None]
    scores = diagnosis_scores(RECORDS, predictions, matcher, TYPES)
    assert scores == {
        "diagnosis_accuracy": 0.5,
        "diagnosis_items": 4.0,
        "diagnosis_chance": 1 / 3,
        "diagnosis_majority": 0.5,
    }
    # the diagnosis is read from <answer> only: naming it in the reasoning does not count
    hedged = "<observe>adenocarcinoma</observe>\n<think>t</think>\n<answer>unclear</answer>"
    assert diagnosis_verdicts(RECORDS[:1], [hedged], matcher, TYPES) == [False]
    assert diagnosis_scores(RECORDS, predictions, matcher, {}) == {}


def test_checker_reads_the_samples_dir(tmp_path: Path) -> None:
    (tmp_path / "entity_lexicon.json").write_text(json.dumps(LEXICON))
    (tmp_path / "entity_types.json").write_text(json.dumps(TYPES))
    checker = DiagnosisChecker.for_samples(tmp_path)
    assert checker.verdict(RECORDS[4], "moderately differentiated") is None  # not a diagnosis question
    assert checker.verdict(RECORDS[2], "HCC of the liver") is True
    assert checker.verdict(RECORDS[1], "Adenocarcinoma") is False


def test_a_site_specific_synonym_at_another_site_is_the_same_diagnosis() -> None:
    matcher = EntityMatcher.from_lexicon(LEXICON)
    # "adenocarcinoma of the rectum" is also the KG's site-specific "rectal adenocarcinoma": the trailing
    # site phrase is left out before linking, so the diagnosis is compared, not the site
    assert diagnosis_verdicts(RECORDS[:1], [_response("Adenocarcinoma of the rectum")], matcher, TYPES) == [
        True
    ]
    assert diagnosis_verdicts(RECORDS[:1], [_response("Rectal adenocarcinoma")], matcher, TYPES) == [False]


@pytest.mark.parametrize(
    "answer",
    [
        "No evidence of hepatocellular carcinoma",
        "Negative for hepatocellular carcinoma.",
        "not HCC",
        "Hepatocellular carcinoma is excluded",
        "HCC: absent",
    ],
)
def test_a_negated_diagnosis_is_not_a_match(answer: str) -> None:
    matcher = EntityMatcher.from_lexicon(LEXICON)
    assert diagnosis_verdicts(RECORDS[2:3], [_response(answer)], matcher, TYPES) == [False]


def test_negation_of_another_diagnosis_does_not_hide_the_answer() -> None:
    matcher = EntityMatcher.from_lexicon(LEXICON)
    answer = _response("Hepatocellular carcinoma; no evidence of adenocarcinoma")
    assert diagnosis_verdicts(RECORDS[2:3], [answer], matcher, TYPES) == [True]


# mucinous adenocarcinoma is_a adenocarcinoma (a child of the reference "adenocarcinoma")
ANCESTORS = {"mucinous adenocarcinoma": frozenset({"adenocarcinoma"})}


@pytest.mark.parametrize(
    ("rule", "child_for_parent", "parent_for_child"),
    [("exact", False, False), ("child", True, False), ("parent_or_child", True, True)],
)
def test_hierarchy_rule(rule: str, child_for_parent: bool, parent_for_child: bool) -> None:
    matcher = EntityMatcher.from_lexicon(LEXICON)
    # reference "adenocarcinoma", answer its child "mucinous adenocarcinoma"
    got = diagnosis_verdicts(
        RECORDS[:1], [_response("Mucinous adenocarcinoma")], matcher, TYPES, ANCESTORS, rule
    )
    assert got == [child_for_parent]
    # reference "mucinous adenocarcinoma", answer its parent "adenocarcinoma"
    got = diagnosis_verdicts(RECORDS[1:2], [_response("Adenocarcinoma")], matcher, TYPES, ANCESTORS, rule)
    assert got == [parent_for_child]
    # an unrelated diagnosis never counts, nor a negated child
    assert diagnosis_verdicts(RECORDS[:1], [_response("HCC")], matcher, TYPES, ANCESTORS, rule) == [False]
    negated = _response("no mucinous adenocarcinoma")
    assert diagnosis_verdicts(RECORDS[:1], [negated], matcher, TYPES, ANCESTORS, rule) == [False]


def test_ancestors_come_from_the_kg_and_reach_the_checker(tmp_path: Path) -> None:
    nodes = [
        Node("D:1", "carcinoma", "diagnosis"),
        Node("D:2", "adenocarcinoma", "diagnosis"),
        Node("D:3", "mucinous adenocarcinoma", "diagnosis"),
        Node("D:4", "neoplasm", "diagnosis"),  # not in the lexicon: left out
        Node("S:1", "liver", "anatomic_site"),
    ]
    edges = [
        ("D:3", "is_a", "D:2"),
        ("D:2", "is_a", "D:1"),
        ("D:1", "is_a", "D:4"),
        ("D:3", "part_of", "S:1"),
    ]
    kg = KnowledgeGraph(nodes, edges)
    lexicon = {"carcinoma": [], "adenocarcinoma": [], "mucinous adenocarcinoma": [], "liver": []}
    types = {n.name: n.type for n in nodes if n.name in lexicon}
    ancestors = diagnosis_ancestors(kg, lexicon, types)
    assert ancestors == {
        "mucinous adenocarcinoma": ["adenocarcinoma", "carcinoma"],
        "adenocarcinoma": ["carcinoma"],
    }

    (tmp_path / "entity_lexicon.json").write_text(json.dumps(lexicon))
    (tmp_path / "entity_types.json").write_text(json.dumps(types))
    (tmp_path / ANCESTORS_FILE).write_text(json.dumps(ancestors))
    record = {"question_type": "diagnosis", "answer": "Carcinoma"}
    assert (
        DiagnosisChecker.for_samples(tmp_path).verdict(record, "Mucinous adenocarcinoma") is True
    )  # grandchild
    assert (
        DiagnosisChecker.for_samples(tmp_path, rule="exact").verdict(record, "Mucinous adenocarcinoma")
        is False
    )
    parent = {"question_type": "diagnosis", "answer": "Adenocarcinoma"}
    assert DiagnosisChecker.for_samples(tmp_path).verdict(parent, "Carcinoma") is False
    assert DiagnosisChecker.for_samples(tmp_path, rule="parent_or_child").verdict(parent, "Carcinoma") is True
    assert load_ancestors(tmp_path)["mucinous adenocarcinoma"] == frozenset({"adenocarcinoma", "carcinoma"})
    (tmp_path / ANCESTORS_FILE).write_text("[")
    with pytest.raises(DatasetError, match=r"entity_ancestors\.json is not valid JSON"):
        load_ancestors(tmp_path)
