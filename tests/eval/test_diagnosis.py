"""Diagnosis accuracy: KG-linked diagnoses of the predicted and reference answers, and its chance level."""

from __future__ import annotations

import json
from pathlib import Path

from pathreasoner.eval.diagnosis import DiagnosisChecker, diagnosis_scores, diagnosis_verdicts
from pathreasoner.kg.lexicon import EntityMatcher

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
    assert diagnosis_verdicts(RECORDS[:1], [_response("Adenocarcinoma of the rectum")], matcher, TYPES) == [True]
    assert diagnosis_verdicts(RECORDS[:1], [_response("Rectal adenocarcinoma")], matcher, TYPES) == [False]
