"""The deterministic `template` reasoning writer: findings → <observe>, KG paths walked in clinical order
(tumour characterisation, grade, T, N, margins/invasion) → <think>, the reference answer → <answer>."""

from __future__ import annotations

from pathreasoner.kg.schema import relation_phrase
from pathreasoner.response import compose_response
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import LVI, MARGIN, RESECTION, Extraction
from pathreasoner.samples.paths import ReasoningPath
from pathreasoner.samples.questions import Question

MAX_PATHS_PER_STEP = 3
STEPS_BY_QUESTION: dict[str, tuple[str, ...]] = {
    "diagnosis": ("tumour",),
    "subtype": ("tumour",),
    "grade": ("tumour", "grade"),
    "pT": ("tumour", "T"),
    "pN": ("tumour", "N"),
    "figo": ("tumour", "figo"),
    "margin": ("tumour", "margin"),
    "lvi": ("tumour", "lvi"),
    "report": ("tumour", "grade", "T", "N", "margin", "lvi"),
}


# reasoning steps that conclude a target category: step -> (target key, label, concluding sentence)
TARGET_STEPS = {
    "grade": ("grade", "Grade", "The tumour is graded as {}."),
    "T": ("pT", "T staging", "The primary tumour is therefore {}."),
    "N": ("pN", "N staging", "The nodal category is {}."),
}


def render_path(path: ReasoningPath) -> str:
    """'a is characteristic of b, which arises in c' for a path a -r1-> b -r2-> c."""
    text = f"{path.nodes[0]} {relation_phrase(path.relations[0])} {path.nodes[1]}"
    for relation, node in zip(path.relations[1:], path.nodes[2:], strict=True):
        text += f", which {relation_phrase(relation)} {node}"
    return text


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def observe_text(extraction: Extraction, ctx: KGContext) -> str:
    """The findings the slide shows, naming each finding entity by its canonical KG name."""
    groups: dict[str, list[str]] = {}
    for entity in extraction.finding_entities:
        kind = "nodes" if "lymph node" in entity else ctx.type_of(entity) or "other"
        groups.setdefault(kind, []).append(entity)
    sentences = []
    site = extraction.site
    histology = groups.get("histologic_finding", [])
    where = f"Sections from the {site}" if site else "The sections"
    if histology:
        sentences.append(f"{where} show {_join(histology)}.")
    else:
        sentences.append(f"{where} show an infiltrating neoplasm.")
    markers = groups.get("ihc_marker", [])
    if markers:
        sentences.append(
            "Immunohistochemistry: "
            + ", ".join(f"{m} {extraction.ihc.get(m, 'evaluated')}" for m in markers)
            + "."
        )
    invasion = groups.get("invasion", [])
    if invasion:
        sentences.append(_cap("; ".join(invasion)) + ".")
    extent = groups.get("staging_criterion", [])
    if extent:
        sentences.append("Extent: " + "; ".join(extent) + ".")
    nodes = groups.get("nodes", [])
    if nodes:
        sentences.append("Nodal status: " + "; ".join(nodes) + ".")
    margins = groups.get("margin_status", [])
    if margins:
        sentences.append("Margins: " + "; ".join(margins) + ".")
    return " ".join(sentences)


def _paths_to(paths: list[ReasoningPath], targets: set[str]) -> list[str]:
    return [render_path(p) for p in paths if p.target in targets][:MAX_PATHS_PER_STEP]


def think_text(extraction: Extraction, question: Question, paths: list[ReasoningPath]) -> str:
    """Numbered reasoning steps in clinical order, restricted to the steps the question needs."""
    targets = extraction.targets
    steps: list[str] = []
    for step in STEPS_BY_QUESTION[question.question_type]:
        if step == "tumour":
            dx = {e for e in (extraction.primary, extraction.refined) if e}
            evidence = _paths_to(paths, dx)
            text = "Tumour characterisation: " + ("; ".join(evidence) + ". " if evidence else "")
            text += f"These findings indicate {extraction.primary}"
            if extraction.refined:
                text += f", which at this site corresponds to {extraction.refined}"
            if extraction.subtype_of:
                text += f", a histologic subtype of {extraction.subtype_of}"
            steps.append(text + ".")
        elif step in TARGET_STEPS and TARGET_STEPS[step][0] in targets:
            key, label, conclusion = TARGET_STEPS[step]
            evidence = _paths_to(paths, {targets[key]})
            steps.append(
                f"{label}: "
                + ("; ".join(evidence) + ". " if evidence else "")
                + conclusion.format(targets[key])
            )
        elif step == "margin" and "margin" in extraction.facts:
            margin = MARGIN[extraction.facts["margin"]]
            evidence = _paths_to(paths, {RESECTION[extraction.facts["margin"]]})
            steps.append(
                "Margins: "
                + ("; ".join(evidence) + ". " if evidence else "")
                + f"The resection shows a {margin}."
            )
        elif step == "figo" and "figo" in extraction.facts:
            steps.append(f"FIGO staging: The report stages the tumour as {extraction.facts['figo']}.")
        elif step == "lvi" and "lvi" in extraction.facts:
            lvi = LVI[extraction.facts["lvi"]]
            related = [render_path(p) for p in paths if p.source == lvi][:MAX_PATHS_PER_STEP]
            steps.append(
                "Invasion: " + ("; ".join(related) + ". " if related else "") + f"The report shows {lvi}."
            )
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


def write_response(
    extraction: Extraction, question: Question, paths: list[ReasoningPath], ctx: KGContext
) -> str:
    """`<observe>…</observe>\\n<think>…</think>\\n<answer>…</answer>` for one question."""
    return compose_response(
        observe_text(extraction, ctx), think_text(extraction, question, paths), question.answer
    )
