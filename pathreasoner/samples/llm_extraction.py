"""`llm` extraction backend: an OpenAI-compatible model reads the report (JSON-schema output, see
`pathreasoner.samples.llm`), and what it returns is grounded, linked and normalised here before it can
become a sample.

Guards, so an LLM error never becomes a silently wrong sample:
- the diagnosis must link to a KG diagnosis entity and be stated in the report (the LLM's wording or a
  name/synonym of the linked entity found in the report text, fuzzy for OCR noise), else the report is
  quarantined with the reason;
- each finding must be supported by the report text (rapidfuzz partial ratio ≥ the grounding threshold);
  unsupported findings are dropped and listed in `Extraction.ungrounded`;
- grade, pT and pN are parsed by the same synoptic parsers as the rules backend, so only values the KG
  knows become facts; margin and LVI are schema enums.
The grounded findings and diagnosis are then tagged and assembled exactly as the rules backend does.
"""

from __future__ import annotations

from collections.abc import Callable

from rapidfuzz import fuzz

from pathreasoner.kg.lexicon import fold
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import (
    Extraction,
    StatedFacts,
    assemble_extraction,
    choose_organ,
    clean_report_text,
)
from pathreasoner.samples.llm import LLMBackendError, LLMClient, llm_extract
from pathreasoner.samples.mentions import tag_mentions
from pathreasoner.samples.reports import Report
from pathreasoner.samples.sections import split_sections
from pathreasoner.samples.synoptic import parse_grade, parse_grade_group, parse_pn, parse_pt

GROUNDING_THRESHOLD = 85.0


def is_grounded(phrase: str, folded_report: str, threshold: float = GROUNDING_THRESHOLD) -> bool:
    """Whether `phrase` (folded) occurs in the folded report text, exactly or with OCR-level differences."""
    key = fold(phrase)
    if not key:
        return False
    if key in folded_report:
        return True
    return fuzz.partial_ratio(key, folded_report, score_cutoff=threshold) >= threshold


def _diagnosis_wordings(stated: str, entity: str, ctx: KGContext) -> list[str]:
    """How the report may word the diagnosis: the LLM's wording, the entity's name and its synonyms."""
    node_id = ctx.node_id(entity)
    names = [stated, entity, *(ctx.kg.nodes[node_id].synonyms if node_id else ())]
    return [n for n in names if len(fold(n)) >= 4]


def _grade(value: str | None, organ: str | None) -> str | None:
    if not value:
        return None
    return parse_grade(f"Histologic grade: {value}", organ) or parse_grade(value, organ)


def _category(value: str | None, parse: Callable[[str], str | None]) -> str | None:
    if not value:
        return None
    text = str(value).strip()
    return parse(text) or parse("p" + text)  # "T2" as well as "pT2"


def link_diagnosis(phrase: str, ctx: KGContext) -> str | None:
    """The KG diagnosis a free-text diagnosis names: the most specific diagnosis term in it ("Adenocarcinoma
    of the cecum" → adenocarcinoma; the site is tagged separately), else the linking cascade over the
    whole phrase (normalised → fuzzy → embedding), restricted to diagnoses."""
    named = [m.canonical for m in ctx.matcher.find(phrase) if ctx.type_of(m.canonical) == "diagnosis"]
    if named:
        return max(named, key=lambda name: (ctx.depth(name), len(name)))
    link = ctx.linker.link(phrase, ("diagnosis",))
    return link.canonical if link.linked else None


def extract_with_llm(report: Report, client: LLMClient, ctx: KGContext) -> Extraction:
    """The report's findings, diagnosis and facts as read by the LLM, grounded and KG-linked;
    LLMBackendError (a ReportError: the caller quarantines the report) when it cannot be trusted."""
    text = clean_report_text(report.text)
    folded_report = fold(text)

    value = llm_extract(client, text, report.source, lambda name: link_diagnosis(name, ctx))
    primary = str(value["diagnosis_entity"])
    diagnosis_names = _diagnosis_wordings(str(value["diagnosis"]), primary, ctx)
    if not any(is_grounded(name, folded_report) for name in diagnosis_names):
        raise LLMBackendError(
            f"{report.source}: the LLM diagnosis {value['diagnosis']!r} ({primary}) is not stated in the report; "
            "report skipped rather than trusting it"
        )
    findings = [str(f).strip() for f in value["findings"] if str(f).strip()]
    grounded = [f for f in findings if is_grounded(f, folded_report)]
    ungrounded = [f for f in findings if f not in grounded]
    # the grounded statements as a small normalised report, tagged like any other report
    body = ".\n".join(f.rstrip(".") for f in grounded)
    mini = f"MICROSCOPIC DESCRIPTION:\n{body}.\nFINAL DIAGNOSIS:\n{value['diagnosis']}\n"
    sections = split_sections(mini)
    tagged = tag_mentions(mini, sections, ctx)
    organ = choose_organ(report, primary, tagged, ctx)
    grade_text = str(value.get("grade") or "")
    stated = StatedFacts(
        grade=_grade(grade_text, organ),
        grade_group=parse_grade_group(grade_text) if organ == "prostate" else None,
        pt=_category(value.get("pT"), parse_pt),
        pn=_category(value.get("pN"), parse_pn),
        margin=value.get("margin") if value.get("margin") in ("negative", "positive") else None,
        lvi=value.get("lvi") if value.get("lvi") in ("present", "absent") else None,
    )
    extraction = assemble_extraction(report, mini, sections, tagged, ctx, primary, organ, stated)
    extraction.diagnosis_link = "llm"
    extraction.ungrounded = ungrounded
    items = [("diagnosis", diagnosis_names, primary)]
    items += [("finding", [f], next(iter(sorted(ctx.matcher.entities(f))), "")) for f in grounded]
    extraction.evidence = _report_spans(text, items)
    return extraction


def _report_spans(text: str, items: list[tuple[str, list[str], str]]) -> list[dict[str, object]]:
    """Where in the report the LLM's statements are: for each (kind, wordings, entity) the first wording
    that aligns (rapidfuzz, at least the grounding threshold); offsets into the report text."""
    lowered = text.lower() if len(text.lower()) == len(text) else text
    spans = []
    for kind, wordings, entity in items:
        for wording in wordings:
            if len(fold(wording)) < 4:
                continue
            found = fuzz.partial_ratio_alignment(wording.lower(), lowered, score_cutoff=GROUNDING_THRESHOLD)
            if found is not None:
                start, end = found.dest_start, found.dest_end
                spans.append(
                    {"kind": kind, "entity": entity, "start": start, "end": end, "text": text[start:end]}
                )
                break
    return sorted(spans, key=lambda span: (span["start"], span["end"]))
