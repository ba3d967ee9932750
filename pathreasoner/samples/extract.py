"""Rules backend of report extraction: sections → KG entity mentions (with negation) → findings, diagnosis, facts.

`extract_report(report, ctx)` returns an `Extraction`; a report with no (non-negated) diagnosis raises
`ReportError` so the caller can quarantine it.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from pathreasoner.errors import ReportError
from pathreasoner.samples.context import GENERIC_DIAGNOSES, KGContext
from pathreasoner.samples.diagnosis_choice import (
    DX_SECTION_WEIGHTS,
    PRECURSOR,
    choose_diagnosis,
    fallback_diagnosis,
    invasive_form,
    is_malignant,
)
from pathreasoner.samples.mentions import Tagged, tag_mentions
from pathreasoner.samples.ocr_fix import RepairedText, repair_text
from pathreasoner.samples.organs import OrganCall, resolve_organ
from pathreasoner.samples.project_choice import renal_types_stated
from pathreasoner.samples.reports import ORGANS, Report
from pathreasoner.samples.sections import Section, section_text, split_sections
from pathreasoner.samples.staging import GYNAECOLOGICAL_ORGANS, parse_figo_stage
from pathreasoner.samples.synoptic import (
    parse_doi_mm,
    parse_grade,
    parse_grade_group,
    parse_lvi,
    parse_margin,
    parse_pn,
    parse_pni,
    parse_pt,
    parse_size_cm,
)
from pathreasoner.samples.textscan import blank_matches, finditer_at, scan_lower
from pathreasoner.samples.tumour_site import choose_site
from pathreasoner.samples.tumours import Tumour, find_tumours, main_tumour

FINDING_SECTIONS = frozenset({"diagnosis", "microscopic", "synoptic", "comment", "preamble"})
_STAGING_ORGANS = frozenset({"lymph node"})
_STATED_SITE_SECTIONS = frozenset({"diagnosis", "synoptic", "specimen"})
FACT_SECTIONS = ("synoptic", "diagnosis", "comment", "microscopic", "preamble")
FINDING_TYPE_ORDER = (
    "histologic_finding",
    "ihc_marker",
    "invasion",
    "staging_criterion",
    "margin_status",
    "anatomic_site",
)
MAX_FINDINGS = 8
MAX_FINDING_CHARS = 220

LVI = {"present": "lymphovascular invasion present", "absent": "lymphovascular invasion absent"}
PNI = {"present": "perineural invasion present", "absent": "perineural invasion absent"}
MARGIN = {"negative": "negative surgical margin", "positive": "positive surgical margin"}
RESECTION = {"negative": "R0 resection", "positive": "R1 resection"}

_BARCODE = re.compile(r"\bTCGA-[A-Z0-9]{2}-[A-Z0-9]{4}(?:-[A-Z0-9]{2,4})*\b", re.I)
_UUID = re.compile(r"\bUUID\s*:?\s*[0-9A-Za-z\-]{20,}", re.I)
# TCGA page header "TCGA-XX-XXXX-01A-PR Redacted": found by its literal tail, then extended back over the barcode
_REDACTED_TAIL = re.compile(r"\s?-\s?PR\s+Redacted", re.I)
# an unticked checklist option ("___ pT3: Tumor more than 4 cm") up to the next option or the ticked one ("X pT2")
_BOX = r"(?<!_)_{2,5}(?!_)"  # a blank checkbox; longer underscore runs are separator lines
_UNTICKED = re.compile(rf"{_BOX}[^_\n]{{0,400}}?(?={_BOX}|X\s|\n|$)")
# a finding sentence ends at '. ', a blank line, or a line break not followed by a lower-case continuation
_SENTENCE_BREAK = re.compile(r"\.(?=\s)|\n\s*\n|\n(?=\s*[^a-z\s])")


@dataclass
class Extraction:
    """What one report states: findings (phrases + KG entities), the diagnosis (line + KG entities) and facts."""

    report_id: str
    organ: str | None
    site: str | None
    diagnosis: str
    diagnosis_entities: list[str]
    findings: list[str]
    finding_entities: list[str]
    facts: dict[str, str]
    primary: str
    refined: str | None = None
    subtype_of: str | None = None
    ihc: dict[str, str] = field(default_factory=dict)
    diagnosis_display: str = ""
    context_entities: list[str] = field(default_factory=list)  # lineage of the diagnosis and site
    unlinked: list[str] = field(default_factory=list)  # tumour-like phrases no linking stage could resolve
    # found by: "exact" (lexicon), "fuzzy"/"ocr-fuzzy" (OCR noise), "llm", or "staged" (a precursor lesion read
    # as the invasive tumour the report stages, `diagnosis_choice.invasive_form`)
    diagnosis_link: str = "exact"
    ungrounded: list[str] = field(default_factory=list)  # llm findings the report does not support
    # where the report says it: {"kind": "finding"|"diagnosis", "entity", "start", "end", "text", "section"}
    # with offsets into the report text (cleaning is length-preserving)
    evidence: list[dict[str, object]] = field(default_factory=list)
    primary_span: dict[str, object] | None = None  # the evidence span the primary diagnosis is read from
    organ_source: str = ""  # "file_name" | "text:..." | "diagnosis" | "sites named" (organ_with_source)
    organ_conflict: str | None = None  # why the text overrode the file name's organ
    organ_span: tuple[int, int] | None = None  # the report words that name the organ
    stated: StatedFacts | None = None  # the facts as parsed (before KG normalisation)
    tumours: list[dict[str, object]] = field(default_factory=list)  # every tumour when there are several
    stated_sites: list[str] = field(default_factory=list)  # sites the diagnosis sections name, in text order
    renal_types: set[str] = field(default_factory=set)  # RCC projects whose type words the diagnosis names

    def path_nodes_allowed(self) -> set[str]:
        """Entities a reasoning path may pass through: what the report states plus its diagnosis/site lineage."""
        return {*self.finding_entities, *self.diagnosis_entities, *self.context_entities}

    def entity(self, question_type: str) -> str | None:
        """The KG entity that answers a question type (None when the report does not state it)."""
        return self.targets.get(question_type)

    @property
    def targets(self) -> dict[str, str]:
        table = {
            "diagnosis": self.refined or self.primary,
            "subtype": self.primary if self.subtype_of else "",
        }
        for entity in self.diagnosis_entities:
            if entity.startswith("pT"):
                table["pT"] = entity
            elif entity.startswith("pN"):
                table["pN"] = entity
        table["grade"] = self.facts.get("grade", "")
        table["margin"] = MARGIN.get(self.facts.get("margin", ""), "")
        table["lvi"] = LVI.get(self.facts.get("lvi", ""), "")
        return {k: v for k, v in table.items() if v}


def clean_report_text(text: str) -> str:
    """Blank out barcodes and UUIDs (they hold letter pairs such as 'PR' that look like markers) and
    unticked checklist options (they list every category the report did not choose); unify newlines.
    Length-preserving: every offset into the cleaned text is the same offset into the report."""
    text = text.replace("\r\n", " \n").replace("\r", "\n")
    # each pass blanks (never adds) characters: the words looked up in `lowered` still sit at the same offsets
    lowered = scan_lower(text)
    if lowered is None or "uuid" in lowered:
        text = blank_matches(text, finditer_at(_UUID, text, lowered, "uuid"))
    if lowered is None or "redacted" in lowered:
        text = _drop_redacted_headers(text)
    if "__" in text:
        text = blank_matches(text, _unticked_options(text))
    if lowered is None or "tcga-" in lowered:
        text = blank_matches(text, finditer_at(_BARCODE, text, lowered, "tcga-"))
    return text


_UNDERSCORES = re.compile(r"_{2,}")


def _unticked_options(text: str) -> Iterator[re.Match[str]]:
    """`_UNTICKED.finditer(text)`, tried only where a run of underscores starts (a box is a whole run)."""
    end = 0
    for run in _UNDERSCORES.finditer(text):
        if run.start() >= end:
            match = _UNTICKED.match(text, run.start())
            if match is not None:
                end = match.end()
                yield match


def _drop_redacted_headers(text: str) -> str:
    """Each "<non-space run>[ ]-[ ]PR Redacted" blanked out (what `\\S*\\s?-\\s?PR\\s+Redacted` matches,
    without that pattern's per-position backtracking), keeping the text's length."""
    pieces: list[str] = []
    pos = 0
    for match in _REDACTED_TAIL.finditer(text):
        start = match.start()
        while start > pos and not text[start - 1].isspace():
            start -= 1
        pieces.append(text[pos:start])
        pieces.append(" " * (match.end() - start))
        pos = match.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


_TUMOUR_HEAD_WORDS = (
    "carcinoma",
    "sarcoma",
    "lymphoma",
    "melanoma",
    "adenoma",
    "glioma",
    "blastoma",
    "cytoma",
)
_TUMOUR_HEAD = re.compile(rf"(?:{'|'.join(_TUMOUR_HEAD_WORDS)})\b", re.I)
_TUMOUR_HEAD_LENGTHS = sorted({len(w) for w in _TUMOUR_HEAD_WORDS}, reverse=True)
_LEAD_WORD = re.compile(r"[a-z][a-z\-]+", re.I)
MAX_LEAD_WORDS = 3


def _unlinked_phrases(text: str, sections: list[Section], ctx: KGContext) -> list[str]:
    """Tumour-like phrases (a tumour noun and up to 3 words before it) in the diagnosis sections that no
    lexicon term covers and the linking cascade (normalised, fuzzy, embedding) cannot resolve either:
    reported, never turned into entities."""
    dx_text = section_text(text, sections, tuple(DX_SECTION_WEIGHTS))
    found: list[str] = []
    for m in _tumour_heads(dx_text):
        before = dx_text[max(0, m.start() - 60) : m.start()]
        cut = len(before)
        while cut and before[cut - 1].isalpha():  # the rest of the word the head ends ("adeno|carcinoma")
            cut -= 1
        if ctx.link_phrase((before[cut:] + m.group()).lower()).linked:
            continue  # the tumour word itself is a KG term ('carcinoma', 'adenocarcinoma'): covered
        lead: list[str] = []
        for word in reversed(before[:cut].split()[-MAX_LEAD_WORDS:]):
            if not _LEAD_WORD.fullmatch(word):
                break
            lead.insert(0, word)
        phrase = " ".join([*lead, before[cut:] + m.group()]).lower()
        if phrase not in found and not ctx.link_phrase(phrase).linked:
            found.append(phrase)
    return found


def _tumour_heads(text: str) -> Iterator[re.Match[str]]:
    """`_TUMOUR_HEAD.finditer(text)`, tried only where the text has 'oma': every head word ends with it, none
    holds it elsewhere and none ends another, so each 'oma' ends at most one match and matches never overlap."""
    lowered = scan_lower(text)
    if lowered is None:
        yield from _TUMOUR_HEAD.finditer(text)
        return
    oma = lowered.find("oma")
    while oma >= 0:
        end = oma + 3
        for length in _TUMOUR_HEAD_LENGTHS:
            match = _TUMOUR_HEAD.match(text, end - length) if end >= length else None
            if match is not None and match.end() == end:
                yield match
                break
        oma = lowered.find("oma", oma + 1)


def choose_organ(report: Report, primary: str, tagged: list[Tagged], ctx: KGContext) -> str | None:
    """The report's organ: the file name's, else the diagnosis's, else the most named organ site."""
    call = OrganCall(report.organ, "file_name") if report.organ in ORGANS else None
    return organ_with_source(call, primary, tagged, ctx)[0]


def organ_with_source(
    call: OrganCall | None, primary: str, tagged: list[Tagged], ctx: KGContext
) -> tuple[str | None, str, str | None]:
    """(organ, where it came from, the conflict with the file name's organ or None): the organ the file name
    or the text names (`organs.resolve_organ`: a text naming another organ wins), else the diagnosis's
    organ ("diagnosis"), else the most named organ site ("sites named")."""
    if call is not None and call.organ:
        return call.organ, call.source, call.conflict
    from_diagnosis = ctx.organ_of_diagnosis(primary)
    if from_diagnosis:
        return from_diagnosis, "diagnosis", None
    votes: dict[str, int] = defaultdict(int)
    for t in tagged:
        if t.type == "anatomic_site" and t.section not in {"history"}:
            found = ctx.organ_of_site(t.canonical)
            if found:
                votes[found] += 1
    if votes:
        # lymph nodes are where a carcinoma is staged, not its organ, unless nothing else is named
        organ = max(votes, key=lambda o: (o not in _STAGING_ORGANS, votes[o], o))
        return organ, "sites named", None
    return None, "", None


def _subtype_parent(primary: str, ctx: KGContext) -> str | None:
    """The family a diagnosis is a histologic subtype of (not merely a site-specific form of)."""
    parent = ctx.parent_diagnosis(primary)
    if parent is None:
        return None
    organ = ctx.organ_of_diagnosis(parent)
    if organ is None or ctx.organ_of_diagnosis(primary) != organ:
        return None
    node = ctx.node_id(primary)
    parent_sites = {ctx.kg.name(s) for s in ctx.kg.successors(ctx.node_id(parent) or "", "occurs_in")}
    own_sites = [ctx.kg.name(s) for s in ctx.kg.successors(node or "", "occurs_in")]
    narrowing = [s for s in own_sites if s not in parent_sites and parent_sites & set(ctx.ancestors(s))]
    if narrowing:
        return None
    return parent


def _sentence(text: str, start: int, end: int) -> str:
    left = 0
    for m in _SENTENCE_BREAK.finditer(text, max(0, start - 300), start + 1):
        left = m.end()
    right_match = _SENTENCE_BREAK.search(text, end)
    right = (
        right_match.start() + (1 if right_match and text[right_match.start()] == "." else 0)
        if right_match
        else len(text)
    )
    sentence = " ".join(text[left:right].split()).strip(" -•*:")
    if len(sentence) > MAX_FINDING_CHARS:
        cut = sentence[:MAX_FINDING_CHARS].rsplit(" ", 1)[0]
        sentence = cut + " …"
    return sentence


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _display(primary: str, refined: str | None, site: str | None, ctx: KGContext) -> str:
    """'Squamous cell carcinoma of the oral tongue'; a name that already names the site's region keeps it."""
    name = refined if primary in GENERIC_DIAGNOSES and refined else primary
    if site and not _words(site) <= _words(name):
        if any(_words(s) <= _words(name) for s in ctx.ancestors(site)):
            name = f"{name} ({site})"
        else:
            name = f"{name} of the {site}"
    return name[0].upper() + name[1:]


@dataclass(frozen=True, slots=True)
class StatedFacts:
    """The facts a report states, normalised: grade as a KG name, pT/pN categories, statuses, measures."""

    grade: str | None = None
    grade_group: str | None = None
    pt: str | None = None
    pn: str | None = None
    margin: str | None = None  # "negative" | "positive"
    lvi: str | None = None  # "present" | "absent"
    pni: str | None = None  # "present" | "absent"
    size_cm: float | None = None
    doi_mm: float | None = None
    figo: str | None = None  # "FIGO stage IIIC1", gynaecological organs only


def extract_report(report: Report, ctx: KGContext) -> Extraction:
    """Findings, diagnosis and stated facts of one report; ReportError when it names no diagnosis. OCR typos
    in tumour words are corrected (a second pass) only when the first reads no diagnosis or a generic one; a
    third (deep) pass reads heavier OCR damage only when neither reads a diagnosis, or the second only a
    generic one ("urotbeiiai carcina": carcinoma, then urothelial carcinoma)."""
    cleaned = clean_report_text(report.text)
    first = repair_text(cleaned, typos=False)
    try:
        extraction = _extract(report, first, ctx)
    except ReportError as exc:
        return _extract_repaired(report, cleaned, first.text, ctx, exc)
    if extraction.primary not in GENERIC_DIAGNOSES:
        return extraction
    second = repair_text(cleaned)
    if second == first:
        return extraction  # no typo to correct: the second pass would read the same text
    try:
        return _extract(report, second, ctx)
    except ReportError:
        return extraction


def _extract_repaired(
    report: Report, cleaned: str, unrepaired: str, ctx: KGContext, error: ReportError
) -> Extraction:
    """The typo pass, then the deep pass (each only where it changes the text): the first to read a specific
    diagnosis, else the first to read a generic one; the last pass's error (`error`: the first pass's) when
    neither reads any."""
    generic: Extraction | None = None
    previous = unrepaired
    for deep in (False, True):
        repaired = repair_text(cleaned, deep=deep)
        if repaired.text == previous:
            continue  # nothing corrected: this pass would read the same text as the one before
        previous = repaired.text
        try:
            found = _extract(report, repaired, ctx)
        except ReportError as exc:
            error = exc
            continue
        if found.primary not in GENERIC_DIAGNOSES:
            return found
        generic = generic or found
    if generic is None:
        raise error
    return generic


def _extract(report: Report, repaired: RepairedText, ctx: KGContext) -> Extraction:
    """One extraction pass over the repaired report text."""
    text = repaired.text
    sections = split_sections(text)
    tagged = tag_mentions(text, sections, ctx)
    organ_call = resolve_organ(report.organ, text)
    firm = organ_call.source in ("file_name", "text:site_of_primary")
    try:
        primary = choose_diagnosis(
            tagged, ctx, organ_call.organ, firm_organ=organ_call.organ if firm else None
        )
        diagnosis_link = "exact"
    except ReportError as exc:
        primary, diagnosis_link, extra = fallback_diagnosis(text, sections, tagged, ctx, organ_call.organ)
        if not primary:
            raise ReportError(f"report {report.source} ({report.patient_id}): {exc}") from None
        tagged = sorted([*tagged, *extra], key=lambda t: t.mention.start)
    organ, organ_source, organ_conflict = organ_with_source(organ_call, primary, tagged, ctx)
    tumours = _tumours(text, sections, tagged, ctx, organ)
    tumours = _separate_tumours(tumours, organ_call.organ, ctx)
    main = _main_tumour(report, tumours, organ_call.organ, ctx) if len(tumours) > 1 else None
    if main is not None and main.diagnosis != primary:
        primary = main.diagnosis
        organ, organ_source, organ_conflict = organ_with_source(organ_call, primary, tagged, ctx)
    fact_text = section_text(text, sections, FACT_SECTIONS)
    stated = StatedFacts(
        grade=(main.grade if main else None) or parse_grade(fact_text, organ),
        grade_group=parse_grade_group(fact_text) if organ == "prostate" else None,
        pt=parse_pt(fact_text),
        pn=parse_pn(fact_text),
        margin=parse_margin(fact_text) or _margin_from_mentions(tagged),
        lvi=parse_lvi(fact_text) or _status_from_mentions(tagged, LVI),
        pni=parse_pni(fact_text) or _status_from_mentions(tagged, PNI),
        size_cm=(main.size_cm if main else None)
        or parse_size_cm(fact_text + "\n" + section_text(text, sections, ("gross",))),
        doi_mm=parse_doi_mm(fact_text),
        figo=parse_figo_stage(fact_text) if organ in GYNAECOLOGICAL_ORGANS else None,
    )
    invasive = invasive_form(primary, stated.pt, ctx)
    if invasive:
        primary, diagnosis_link = invasive, "staged"
    extraction = assemble_extraction(report, text, sections, tagged, ctx, primary, organ, stated)
    extraction.stated = stated
    extraction.diagnosis_link = diagnosis_link
    extraction.organ_source, extraction.organ_conflict = organ_source, organ_conflict
    if organ_call.span and organ == organ_call.organ:
        extraction.organ_span = repaired.to_source(*organ_call.span)
    extraction.unlinked = _unlinked_phrases(text, sections, ctx)
    extraction.evidence = evidence_spans(tagged, extraction, repaired, report.text)
    extraction.primary_span = primary_span(extraction.evidence, primary)
    extraction.stated_sites = list(
        dict.fromkeys(
            t.canonical for t in tagged if t.type == "anatomic_site" and t.section in _STATED_SITE_SECTIONS
        )
    )
    if organ == "kidney":
        extraction.renal_types = (main.renal if main else set()) or renal_types_stated(
            text, tagged, primary, fact_text
        )
    if tumours:
        extraction.tumours = [_tumour_line(t, t is main, repaired, ctx) for t in tumours]
    if main is not None:
        start, end = repaired.to_source(main.start, main.end)
        extraction.primary_span = {
            "kind": "diagnosis",
            "entity": main.diagnosis,
            "start": start,
            "end": end,
            "text": report.text[start:end],
            "section": "diagnosis",
        }
    return extraction


def _tumours(
    text: str, sections: list[Section], tagged: list[Tagged], ctx: KGContext, organ: str | None
) -> list[Tumour]:
    """The tumours the final diagnosis sections describe (see samples/tumours.py)."""
    spans = [(s.start, s.end) for s in sections if s.name == "diagnosis"]
    mentions = [
        (t.mention.start, t.mention.end, t.canonical)
        for t in tagged
        if t.type == "diagnosis" and t.section == "diagnosis" and t.assertion != "negated"
    ]
    return find_tumours(text, spans, mentions, ctx, organ) if spans and len(mentions) > 1 else []


def _separate_tumours(tumours: list[Tumour], organ: str | None, ctx: KGContext) -> list[Tumour]:
    """The malignant, invasive tumours of the report's organ (when it has one) among the blocks: precursors,
    in-situ lesions and benign tumours never compete with them; empty unless two of them are different
    tumours (neither an is_a ancestor of the other)."""
    kept = [
        t
        for t in tumours
        if not PRECURSOR.search(t.diagnosis)
        and is_malignant(t.diagnosis, ctx)
        and (not organ or ctx.organ_of_diagnosis(t.diagnosis) in (organ, None))
    ]
    unrelated = any(
        a.diagnosis not in (b.diagnosis, *ctx.ancestors(b.diagnosis, ("is_a",)))
        and b.diagnosis not in ctx.ancestors(a.diagnosis, ("is_a",))
        for a, b in itertools.combinations(kept, 2)
    )
    return (
        kept if unrelated else []
    )  # relatives ('urothelial carcinoma', 'bladder urothelial carcinoma'): one


def _main_tumour(report: Report, tumours: list[Tumour], organ: str | None, ctx: KGContext) -> Tumour | None:
    """The largest of several tumours when their sizes decide; None when they do not (the diagnosis chooser
    stands: the tumour listed first, weighted by section). ReportError when they are primaries of different
    organs and nothing tells them apart (no organ for the report, no sizes that decide)."""
    main, why = main_tumour(tumours)
    if why == "largest":
        return main
    organs = {ctx.organ_of_diagnosis(t.diagnosis) for t in tumours} - {None}
    if not organ and len(organs) > 1:
        names = ", ".join(dict.fromkeys(t.diagnosis for t in tumours))
        raise ReportError(
            f"report {report.source} ({report.patient_id}): two primaries ({names}) of different organs "
            f"({', '.join(sorted(o for o in organs if o))}) with no way to choose (no organ for the report, "
            "no sizes that decide); review it by hand or split it into one report per primary"
        )
    return None


def _tumour_line(tumour: Tumour, main: bool, repaired: RepairedText, ctx: KGContext) -> dict[str, object]:
    line = tumour.as_dict(main)
    line["start"], line["end"] = repaired.to_source(tumour.start, tumour.end)
    line["kg_id"] = ctx.node_id(tumour.diagnosis)
    return line


def primary_span(evidence: list[dict[str, object]], primary: str) -> dict[str, object] | None:
    """The mention the primary diagnosis is read from: its first mention in the most weighted section."""
    mentions = [e for e in evidence if e["kind"] == "diagnosis" and e["entity"] == primary]
    if not mentions:
        return None
    return max(
        mentions, key=lambda e: (DX_SECTION_WEIGHTS.get(str(e["section"]), 0.0), -int(str(e["start"])))
    )


def evidence_spans(
    tagged: list[Tagged],
    extraction: Extraction,
    repaired: RepairedText | None = None,
    source_text: str | None = None,
) -> list[dict[str, object]]:
    """The report's own words behind the extraction, in text order: every mention of a finding entity in a
    finding section and every mention of the diagnosis (primary or site-refined), with character spans
    into the report text (mapped back through `repaired`, quoting `source_text`, when layout was repaired)."""
    findings, diagnoses = set(extraction.finding_entities), {extraction.primary, extraction.refined}
    spans: dict[tuple[int, int], dict[str, object]] = {}
    for t in tagged:
        if t.type == "diagnosis" and t.canonical in diagnoses:
            kind = "diagnosis"
        elif t.canonical in findings and t.section in FINDING_SECTIONS:
            kind = "finding"
        else:
            continue
        start, end = t.mention.start, t.mention.end
        surface = t.mention.surface
        if repaired is not None and repaired.edits and source_text is not None:
            start, end = repaired.to_source(start, end)
            surface = source_text[start:end]
        spans.setdefault(
            (start, end),
            {
                "kind": kind,
                "entity": t.canonical,
                "start": start,
                "end": end,
                "text": surface,
                "section": t.section,
            },
        )
    return [spans[k] for k in sorted(spans)]


def assemble_extraction(
    report: Report,
    text: str,
    sections: list[Section],
    tagged: list[Tagged],
    ctx: KGContext,
    primary: str,
    organ: str | None,
    stated: StatedFacts,
) -> Extraction:
    """The Extraction from a chosen diagnosis, the tagged mentions and the stated facts (shared by the
    rules and llm extractors): site and subtype lineage, finding entities, the diagnosis line and targets."""
    site = choose_site(organ, primary, tagged, ctx, text)
    refined = ctx.refine(primary, [site] if site else ([organ] if organ else []))
    subtype_of = _subtype_parent(primary, ctx)
    grade, grade_group, pt, pn = stated.grade, stated.grade_group, stated.pt, stated.pn
    margin, lvi, pni = stated.margin, stated.lvi, stated.pni
    facts: dict[str, str] = {}
    sites_for_tnm = [s for s in (site, organ) if s]
    pt_node = ctx.tnm_node(pt, sites_for_tnm) if pt else None
    pn_node = ctx.tnm_node(pn, sites_for_tnm) if pn else None

    facts["diagnosis"] = _display(primary, refined, site, ctx)
    if subtype_of:
        facts["subtype"] = primary
    if grade and ctx.has(grade):
        facts["grade"] = grade
    if pt:
        facts["pT"] = pt
    if pn:
        facts["pN"] = pn
    if margin:
        facts["margin"] = margin
    if lvi:
        facts["lvi"] = lvi
    if stated.figo:
        facts["figo"] = stated.figo

    # ---- finding entities: stated findings (negation-resolved), then what the facts imply
    by_type: dict[str, list[str]] = defaultdict(list)
    ihc: dict[str, str] = {}
    finding_spans: list[tuple[int, int]] = []
    for t in tagged:
        if (
            t.section not in FINDING_SECTIONS
            or t.type not in FINDING_TYPE_ORDER
            or t.type in {"margin_status", "anatomic_site"}
        ):
            continue
        if t.type == "ihc_marker" and t.assertion != "unknown":
            ihc.setdefault(t.canonical, "negative" if t.assertion == "negated" else "positive")
        opposite = ctx.negations.get(t.canonical)
        if t.canonical not in by_type[t.type] and opposite not in by_type[t.type]:
            by_type[t.type].append(t.canonical)
        finding_spans.append((t.mention.start, t.mention.end))
    implied: list[str] = []
    if lvi:
        implied.append(LVI[lvi])
    if pni:
        implied.append(PNI[pni])
    if pn:
        implied.append(
            {
                "pN0": "no regional lymph node metastasis",
                "pNX": "regional lymph nodes cannot be assessed",
            }.get(pn, "regional lymph node metastasis")
        )
    if pt_node and stated.size_cm is not None:
        implied.extend(ctx.criteria_for("size_cm", stated.size_cm, pt_node))
    if pt_node and stated.doi_mm is not None:
        implied.extend(ctx.criteria_for("doi_mm", stated.doi_mm, pt_node))
    if margin:
        implied.append(MARGIN[margin])
    for name in implied:
        kind = ctx.type_of(name)
        if kind is None:
            continue
        opposite = ctx.negations.get(name)
        for values in by_type.values():
            if opposite in values:
                values.remove(opposite)
        if name not in by_type[kind]:
            by_type[kind].append(name)
    if site and site not in by_type["anatomic_site"]:
        by_type["anatomic_site"].append(site)
    finding_entities = [e for kind in FINDING_TYPE_ORDER for e in by_type.get(kind, [])]

    findings: list[str] = []
    for start, end in sorted(finding_spans):
        sentence = _sentence(text, start, end)
        if sentence and sentence not in findings and len(findings) < MAX_FINDINGS:
            findings.append(sentence)
    if not findings:
        findings = [", ".join(finding_entities)] if finding_entities else []

    diagnosis_entities = [primary]
    if refined and refined != primary:
        diagnosis_entities.append(refined)
    if "grade" in facts:
        diagnosis_entities.append(facts["grade"])
    if grade_group and ctx.has(grade_group):
        diagnosis_entities.append(grade_group)
    for node in (pt_node, pn_node):
        if node and ctx.has(node):
            diagnosis_entities.append(node)
    if margin and ctx.has(RESECTION[margin]):
        diagnosis_entities.append(RESECTION[margin])

    parts = [facts["diagnosis"]]
    if "grade" in facts:
        parts.append(facts["grade"] + (f" ({grade_group})" if grade_group else ""))
    stage = " ".join(v for v in (pt, pn) if v)
    if stage:
        parts.append(stage)
    return Extraction(
        report_id=report.slide_id or report.patient_id,
        organ=organ,
        site=site,
        diagnosis=", ".join(parts),
        diagnosis_entities=diagnosis_entities,
        findings=findings,
        finding_entities=finding_entities,
        facts=facts,
        primary=primary,
        refined=refined if refined != primary else None,
        subtype_of=subtype_of,
        ihc=ihc,
        diagnosis_display=facts["diagnosis"],
        context_entities=list(
            dict.fromkeys(
                [
                    *ctx.ancestors(primary, ("is_a",)),
                    *(ctx.ancestors(refined, ("is_a",)) if refined else []),
                    *(ctx.ancestors(site) if site else []),
                    *([subtype_of] if subtype_of else []),
                ]
            )
        ),
    )


def _margin_from_mentions(tagged: list[Tagged]) -> str | None:
    found = {t.canonical for t in tagged if t.section in FACT_SECTIONS and t.type == "margin_status"}
    if MARGIN["positive"] in found:
        return "positive"
    return "negative" if MARGIN["negative"] in found or "close surgical margin" in found else None


def _status_from_mentions(tagged: list[Tagged], names: dict[str, str]) -> str | None:
    lookup = {v: k for k, v in names.items()}
    for t in tagged:
        if t.section in FACT_SECTIONS and t.canonical in lookup:
            return lookup[t.canonical]
    return None
