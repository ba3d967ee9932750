"""The diagnosis a report is about, from its tagged mentions: section weights, is_a support, the report's
organ; then, for reports whose diagnosis sections name none, exact mentions in the specimen and gross sections
and fuzzy matches of garbled OCR lines."""

from __future__ import annotations

import functools
import re
from collections import defaultdict

from pathreasoner.errors import ReportError
from pathreasoner.kg.lexicon import Mention
from pathreasoner.kg.linking import fuzzy_scan, ocr_fuzzy_scan
from pathreasoner.samples.boilerplate import in_boilerplate
from pathreasoner.samples.context import GENERIC_DIAGNOSES, KGContext
from pathreasoner.samples.mentions import Tagged
from pathreasoner.samples.negation import assess, has_negation_trigger
from pathreasoner.samples.organs import organs_named
from pathreasoner.samples.sections import Section, section_at
from pathreasoner.samples.tcga import ORGAN_PROJECTS

DX_SECTION_WEIGHTS = {
    "diagnosis": 3.0,
    "synoptic": 2.0,
    "comment": 1.0,
    "microscopic": 1.0,
    "preamble": 1.0,
    "intraop": 0.5,
}
# a report naming its diagnosis only in the specimen list or gross description (OCR lost the headers)
FALLBACK_DX_WEIGHTS = {**DX_SECTION_WEIGHTS, "specimen": 0.5, "gross": 0.25}
# precursors and in-situ lesions are never the main tumour beside an invasive one
PRECURSOR = re.compile(r"in situ|intraepithelial|dysplasia|adenoma\b|\bpin\b", re.I)
MALIGNANT = re.compile(
    r"carcinoma|sarcoma|cancer|malignant|glioma|blastoma|melanoma|lymphoma|leuka?emia|mesothelioma|"
    r"seminoma|astrocytoma|oligodendroglioma|ependymoma",
    re.I,
)
# tumours of tissues found in every organ (a synovial sarcoma of the kidney, a lymphoma of the stomach)
_ANY_ORGAN = frozenset({"soft tissue", "lymph node", "bone marrow"})


def choose_diagnosis(
    tagged: list[Tagged],
    ctx: KGContext,
    organ: str | None,
    weights: dict[str, float] = DX_SECTION_WEIGHTS,
    firm_organ: str | None = None,
) -> str:
    """The diagnosis the report is about: mention weight by section, supported by mentions of its is_a
    ancestors, favouring the report's organ; then the most specific named descendant of it. With a
    `firm_organ` (the file name's or the stated site of primary), a primary of another organ (a prostate
    adenocarcinoma found in a cystoprostatectomy) and a benign tumour beside a malignant one never win."""
    own: dict[str, float] = defaultdict(float)
    first: dict[str, int] = {}
    for t in tagged:
        if t.type != "diagnosis" or t.section not in weights:
            continue
        own[t.canonical] += weights[t.section]
        first.setdefault(t.canonical, t.mention.start)
    if not own:
        raise ReportError(
            "no diagnosis found (no KG diagnosis name or synonym in its diagnosis/synoptic sections); check the "
            "report text (OCR quality) or add the wording as a synonym in pathreasoner/kg/data/curated.yaml"
        )

    def score(d: str) -> float:
        total = own[d] + sum(own.get(a, 0.0) for a in ctx.ancestors(d, ("is_a",)))
        where = ctx.organ_of_diagnosis(d)
        if organ and where:
            total *= 1.5 if where == organ else 0.5
        return total

    @functools.cache
    def fits(d: str) -> bool:  # not a primary of another organ than the report's (nor named as one)
        where = ctx.organ_of_diagnosis(d) or _organ_in_name(d) or _organ_named_below(d)
        return (
            not firm_organ
            or where in (None, firm_organ)
            or where in _ANY_ORGAN
            or bool(ORGAN_PROJECTS.get(where, frozenset()) & ORGAN_PROJECTS.get(firm_organ, frozenset()))
        )

    def _organ_named_below(d: str) -> str | None:  # "adenocarcinoma" beside "prostatic adenocarcinoma"
        if d in GENERIC_DIAGNOSES:  # ("carcinoma" stands for any of them)
            return None
        return next(
            (o for e in own if d in ctx.ancestors(e, ("is_a",)) and (o := _organ_in_name(e))),
            None,
        )

    def malignant(d: str) -> bool:
        return firm_organ is not None and is_malignant(d, ctx)

    best = max(
        own,
        key=lambda d: (
            fits(d),
            malignant(d),
            d not in GENERIC_DIAGNOSES,
            not PRECURSOR.search(d),
            score(d),
            ctx.depth(d),
            -first[d],
        ),
    )
    # a precursor (CIS, HSIL, adenoma) yields to the invasive tumour it leads to when the report names both
    invasive = [d for d in own if d != best and progresses_to(best, d, ctx) and fits(d)]
    if invasive:
        best = max(invasive, key=lambda d: (score(d), ctx.depth(d), -first[d]))
    # prefer a more specific diagnosis the report also names (e.g. 'keratinizing SCC' under 'SCC')
    # (never an in-situ lesion or other precursor for an invasive tumour)
    specific = [
        d
        for d in own
        if best in ctx.ancestors(d, ("is_a",))
        and fits(d)
        and (PRECURSOR.search(best) or not PRECURSOR.search(d))
    ]
    if specific:
        best = max(specific, key=lambda d: (ctx.depth(d), own[d], -first[d]))
    return _site_specific_form(best, tagged, weights)


def is_malignant(diagnosis: str, ctx: KGContext) -> bool:
    """Whether the diagnosis or one of its is_a ancestors names a malignant tumour."""
    return any(MALIGNANT.search(n) for n in (diagnosis, *ctx.ancestors(diagnosis, ("is_a",))))


@functools.lru_cache(maxsize=4096)
def _organ_in_name(diagnosis: str) -> str | None:
    """The one organ a diagnosis name names ("prostate cancer"), for KG diagnoses without an occurs_in site."""
    named = {organ for organ, _, _ in organs_named(diagnosis)}
    return named.pop() if len(named) == 1 else None


# a diagnosis named by a site word that also means the whole organ, and the form of a part of it that the same
# sentence names: "adenocarcinoma of the colon (rectal carcinoma)", "rectal carcinoma (adenocarcinoma of the
# colon)" ('colon' is also the whole large bowel; 'rectum' never is)
_GENERIC_SITE_FORMS = {"colon adenocarcinoma": "rectal adenocarcinoma"}
_SAME_SENTENCE_CHARS = 100


def _site_specific_form(best: str, tagged: list[Tagged], weights: dict[str, float]) -> str:
    part = _GENERIC_SITE_FORMS.get(best)
    if part is None:
        return best
    named = [t.mention for t in tagged if t.section in weights and t.assertion != "negated"]
    generic = [m.start for m in named if m.canonical == best]
    return (
        part
        if any(
            m.canonical == part and any(abs(m.start - g) <= _SAME_SENTENCE_CHARS for g in generic)
            for m in named
        )
        else best
    )


def fallback_diagnosis(
    text: str, sections: list[Section], tagged: list[Tagged], ctx: KGContext, organ: str | None
) -> tuple[str, str, list[Tagged]]:
    """For reports whose diagnosis sections name no KG diagnosis: exact mentions in the specimen/gross
    sections, then fuzzy (rapidfuzz) matches of the organ's diagnosis terms line by line (OCR typos such as
    'Astrocitoma'); returns (diagnosis, link method, added mentions) or ('', '', []) when nothing links."""
    try:
        return choose_diagnosis(tagged, ctx, organ, FALLBACK_DX_WEIGHTS), "exact", []
    except ReportError:
        pass
    terms = ctx.diagnosis_terms(organ)
    for method, scan in (("fuzzy", fuzzy_scan), ("ocr-fuzzy", ocr_fuzzy_scan)):
        extra: list[Tagged] = []
        for start, end, term, _score in scan(text, list(terms), ctx.link.fuzzy_threshold):
            canonical = terms[term]
            section = section_at(sections, start)
            negated = (
                has_negation_trigger(text[start:end])  # the span is the whole line: judge that line only
                if method == "ocr-fuzzy"
                else assess(text, start, end) == "negated"
            )
            if section == "history" or negated or in_boilerplate(text, start, end):
                continue
            if not _TUMOUR_FRAGMENT.search(text, start, end):
                continue  # aligned on the term's qualifiers only ("... Not Otherwise Specified")
            mention = Mention(start, end, text[start:end], canonical, ctx.node_id(canonical))
            extra.append(Tagged(mention, section, canonical, "diagnosis", "affirmed"))
        try:
            return choose_diagnosis(extra, ctx, organ, FALLBACK_DX_WEIGHTS), method, extra
        except ReportError:
            continue
    return "", "", []


# a fuzzy diagnosis match must cover part of a tumour word, not only the term's qualifiers
# (of its OCR-garbled forms: "gliama", "CA NCE", "CAR-", "cnrcinomn")
_TUMOUR_FRAGMENT = re.compile(r"om|am|ma\b|ca\s?[nr]|cin|tum|neopl|leuk", re.I)


def progresses_to(precursor: str, candidate: str, ctx: KGContext) -> bool:
    """Whether `precursor` is a precursor_of `candidate`, of one of its ancestors, or of one of its subtypes."""
    node_id = ctx.node_id(precursor)
    if node_id is None:
        return False
    targets = {ctx.kg.name(t) for t in ctx.kg.successors(node_id, "precursor_of")}
    if not targets:
        return False
    lineage = {candidate, *ctx.ancestors(candidate, ("is_a",))}
    return bool(targets & lineage) or any(candidate in ctx.ancestors(t, ("is_a",)) for t in targets)


_INVASIVE_PT = re.compile(r"pT[1-4]")


def invasive_form(precursor: str, pt: str | None, ctx: KGContext) -> str | None:
    """The invasive tumour a precursor lesion chosen as the diagnosis stands for when the report stages an
    invasive tumour (pT1-4): its single `precursor_of` target ("High-grade PIN: Present" in a prostatectomy
    checklist whose histologic type OCR lost, staged pT3a: prostate adenocarcinoma); else None."""
    node_id = ctx.node_id(precursor)
    if node_id is None or not pt or not _INVASIVE_PT.match(pt):
        return None
    targets = {ctx.kg.name(t) for t in ctx.kg.successors(node_id, "precursor_of")}
    return targets.pop() if len(targets) == 1 else None
