"""Questions a report can answer: only question types whose answer the report states, 2-3 phrasings each,
chosen deterministically per report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pathreasoner.samples.extract import LVI, MARGIN, Extraction

QUESTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "diagnosis": (
        "What is the diagnosis for this whole-slide image?",
        "Based on the slide, what is the most likely pathologic diagnosis?",
        "What tumor is present in this slide, and where does it arise?",
    ),
    "subtype": (
        "What is the histologic subtype of this {family}?",
        "Which subtype of {family} does this slide show?",
    ),
    "grade": (
        "What is the histologic grade of this tumor?",
        "How would you grade the tumor in this slide?",
        "What grade should be assigned to this {diagnosis}?",
    ),
    "pT": (
        "What is the pathologic T category (pT) of the primary tumor?",
        "Based on the findings, what is the pT stage of this {diagnosis}?",
        "What is the T stage of the primary tumor in the slide?",
    ),
    "pN": (
        "What is the pathologic N category (pN) for this case?",
        "What is the regional lymph node status (pN) of this {diagnosis}?",
    ),
    "figo": (
        "What is the FIGO stage of this {diagnosis}?",
        "Which FIGO stage does the report assign to this tumor?",
    ),
    "margin": (
        "Are the surgical margins involved by tumor?",
        "What is the status of the resection margins?",
    ),
    "lvi": (
        "Is lymphovascular invasion present?",
        "What is the lymphovascular invasion status of this tumor?",
    ),
    "report": (
        "Describe the key histopathologic findings in this slide and give the final diagnosis.",
        "Write a brief pathology report for this slide: findings and diagnosis.",
        "Examine the slide, describe what you observe, and state the diagnosis.",
    ),
}


# the grade question names the grading system the report uses (answer prefix -> phrasings)
GRADE_SYSTEM_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Gleason score": (
        "What is the Gleason score of this {diagnosis}?",
        "Which Gleason score (primary + secondary pattern) does this tumor have?",
    ),
    "CNS WHO grade": (
        "What is the CNS WHO grade of this {diagnosis}?",
        "Which WHO grade does this glial tumor correspond to?",
    ),
    "Nottingham grade": (
        "What is the Nottingham histologic grade of this {diagnosis}?",
        "How would you grade this breast carcinoma with the Nottingham system?",
    ),
    "FIGO grade": (
        "What is the FIGO grade of this {diagnosis}?",
        "Which FIGO grade does the architecture of this endometrioid tumor give?",
    ),
    "Fuhrman/ISUP nuclear grade": (
        "What is the WHO/ISUP nuclear grade of this {diagnosis}?",
        "Which nuclear grade (Fuhrman/ISUP) does this renal tumor have?",
    ),
    "FNCLCC grade": (
        "What is the FNCLCC grade of this {diagnosis}?",
        "How would you grade this sarcoma with the FNCLCC system?",
    ),
}


@dataclass(frozen=True, slots=True)
class Question:
    """One question about a report, its reference answer, and the KG entities the answer rests on."""

    question_type: str
    question: str
    answer: str
    targets: tuple[str, ...]


def pick_template(key: str, question_type: str, answer: str = "") -> str:
    """Deterministic choice among the phrasings of a question type (stable across runs and machines); a
    grade answer in a named system (Gleason, CNS WHO, Nottingham, FIGO, ISUP, FNCLCC) gets that system's."""
    options = QUESTION_TEMPLATES[question_type]
    if question_type == "grade":
        options = next((t for p, t in GRADE_SYSTEM_TEMPLATES.items() if answer.startswith(p)), options)
    digest = hashlib.sha256(f"{key}|{question_type}".encode()).hexdigest()
    return options[int(digest[:8], 16) % len(options)]


def answer_for(extraction: Extraction, question_type: str) -> str | None:
    """The reference answer of a question type, or None when the report does not state it."""
    facts = extraction.facts
    if question_type == "diagnosis":
        return facts["diagnosis"]
    if question_type == "subtype":
        return facts["subtype"][0].upper() + facts["subtype"][1:] if "subtype" in facts else None
    if question_type == "grade":
        return facts.get("grade")
    if question_type in ("pT", "pN", "figo"):
        return facts.get(question_type)
    if question_type == "margin":
        return f"Margins {facts['margin']} ({MARGIN[facts['margin']]})" if "margin" in facts else None
    if question_type == "lvi":
        return LVI[facts["lvi"]][0].upper() + LVI[facts["lvi"]][1:] if "lvi" in facts else None
    if question_type == "report":
        parts = [extraction.diagnosis]
        if "margin" in facts:
            parts.append(f"margins {facts['margin']}")
        if "lvi" in facts:
            parts.append(LVI[facts["lvi"]])
        return "; ".join(parts) + "."
    raise ValueError(f"unknown question type {question_type!r}")


def build_questions(extraction: Extraction, question_types: list[str], key: str) -> list[Question]:
    """One question per requested type whose answer the report states, in the configured order."""
    questions = []
    targets = extraction.targets
    dx_name = (extraction.refined or extraction.primary).lower() if extraction.primary else "tumor"
    for qtype in question_types:
        answer = answer_for(extraction, qtype)
        if not answer:
            continue
        template = pick_template(key, qtype, answer)
        text = template.format(family=extraction.subtype_of or "tumor", diagnosis=dx_name)
        if qtype == "report":
            wanted = tuple(extraction.diagnosis_entities)
        elif qtype == "diagnosis":
            wanted = tuple(e for e in (extraction.primary, extraction.refined) if e)
        else:
            wanted = (targets[qtype],) if qtype in targets else ()
        questions.append(Question(qtype, text, answer, wanted))
    return questions
