"""The tumour site of a report, from its tagged anatomic-site mentions.

In order: the site a tumour-site field states ("Tumor site: Rectum", "Location of tumor: sigmoid colon",
"Tumor is located at the rectosigmoid junction"); else the site named with the diagnosis ("carcinoma of the
tongue", "Tongue, excision: SCC"); else the first site by section priority, the most specific one. A site
list that spans two neighbouring sites ("Rectum and sigmoid colon, excision") stands for the junction between
them, which cannot tell the two apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pathreasoner.samples.context import STAGING_LAYERS, KGContext
from pathreasoner.samples.mentions import Tagged

# sections searched for the tumour site, most trusted first
SITE_SECTION_ORDER = (
    "diagnosis",
    "synoptic",
    "specimen",
    "preamble",
    "microscopic",
    "gross",
    "comment",
    "intraop",
)
# a field or sentence that states where the tumour is; the site must follow it directly
_SITE_FIELD = re.compile(
    r"\b(?:tumou?r\s+(?:site|location)|location\s+of\s+(?:the\s+)?tumou?r|"
    r"(?:tumou?r|lesion|carcinoma|mass)\s+is\s+(?:located|situated)\s+(?:in|at|within))"
    r"(?:\s+the)?[\s:.\-]*",
    re.I,
)
# two sites named together, as one specimen ("rectum and sigmoid colon", "sigmoid colon, upper rectum")
_SITE_LIST_GAP = re.compile(
    r"\s*(?:,|and|&|\+|/)\s*(?:and\s+)?(?:(?:upper|lower|distal|proximal|mid)\s+)?", re.I
)
# neighbouring sites whose common specimen is the junction between them
SPANNED_JUNCTIONS: dict[frozenset[str], str] = {
    frozenset({"rectum", "sigmoid colon"}): "rectosigmoid junction",
    frozenset({"esophagus", "stomach"}): "gastroesophageal junction",
}
# a generic site word restated as a part of it: "colon (rectum)", "colon in the position of the rectum"
_RESTATED_SITES = {"colon": frozenset({"rectum", "rectosigmoid junction"})}
_RESTATING = re.compile(r"\s*(?:\(\s*|in the (?:position of the )?)")


def choose_site(
    organ: str | None, primary: str, tagged: Sequence[Tagged], ctx: KGContext, text: str = ""
) -> str | None:
    """The tumour site name (see the module docstring), else the organ; None when neither is known."""
    rank = {name: i for i, name in enumerate(SITE_SECTION_ORDER)}
    sites = sorted(
        (
            t
            for t in tagged
            if t.type == "anatomic_site"
            and t.section in rank
            and t.canonical not in STAGING_LAYERS
            and (not organ or ctx.organ_of_site(t.canonical) == organ)
        ),
        key=lambda t: t.mention.start,
    )
    site = _tumour_site(organ, primary, tagged, ctx, text, sites, rank)
    return _part_named_by_diagnosis(site, primary, tagged, ctx) if site else site


def _tumour_site(
    organ: str | None,
    primary: str,
    tagged: Sequence[Tagged],
    ctx: KGContext,
    text: str,
    sites: list[Tagged],
    rank: dict[str, int],
) -> str | None:
    if text:
        stated = _field_site(sites, text, rank)
        if stated is not None:
            return _as_named(stated, sites, text)
    for dx in (t for t in tagged if t.canonical == primary and t.section in ("diagnosis", "synoptic")):
        after = [s for s in sites if s.section == dx.section and 0 <= s.mention.start - dx.mention.end <= 40]
        if after:
            return _as_named(min(after, key=lambda s: s.mention.start), sites, text)
        before = [
            s for s in sites if s.section == dx.section and 0 <= dx.mention.start - s.mention.end <= 200
        ]
        if before:
            return _as_named(max(before, key=lambda s: s.mention.end), sites, text)
    candidates: list[str] = []
    for t in sorted(sites, key=lambda t: (rank[t.section], t.mention.start)):
        name = _restated(t, sites, text).canonical
        if name not in candidates:
            candidates.append(name)
    if not candidates:
        return organ
    chosen = candidates[0]
    for other in candidates[1:]:
        if chosen in ctx.ancestors(other):
            chosen = other
    return chosen


def _part_named_by_diagnosis(site: str, primary: str, tagged: Sequence[Tagged], ctx: KGContext) -> str:
    """The part of a generic site word that the diagnosis itself names ("Resected colon and rectosigmoid colon
    show a rectal carcinoma": rectum), unless another diagnosis of the report names the generic site ("colon
    carcinoma ... rectal adenocarcinoma": the report contradicts itself and the site stays)."""
    parts = _RESTATED_SITES.get(site)
    if parts is None:
        return site
    named = sorted(parts & ctx.sites_of(primary))
    if not named:
        return site
    for t in tagged:
        if (
            t.type == "diagnosis"
            and t.assertion != "negated"
            and t.section != "history"
            and t.canonical != primary
            and (site in ctx.sites_of(t.canonical) or site in t.canonical.lower().split())
        ):
            return site
    return named[0]


def _field_site(sites: list[Tagged], text: str, rank: dict[str, int]) -> Tagged | None:
    """The site right after a tumour-site field, from the most trusted section (first in it)."""
    stated = []
    for site in sites:
        lead = text[max(0, site.mention.start - 120) : site.mention.start]
        for m in _SITE_FIELD.finditer(lead):
            if m.end() == len(lead):
                stated.append(site)
                break
    if not stated:
        return None
    return min(stated, key=lambda s: (rank[s.section], s.mention.start))


def _as_named(site: Tagged, sites: list[Tagged], text: str) -> str:
    """The site's name, its restated part ("colon (rectum)"), or the junction a two-site list spans."""
    site = _restated(site, sites, text)
    if not text:
        return site.canonical
    i = next(k for k, s in enumerate(sites) if s is site)  # (`_restated` returns one of `sites`)
    for j in (i - 1, i + 1):
        if not 0 <= j < len(sites):
            continue
        first, second = (sites[j], site) if j < i else (site, sites[j])
        junction = SPANNED_JUNCTIONS.get(frozenset({first.canonical, second.canonical}))
        if junction and _SITE_LIST_GAP.fullmatch(text, first.mention.end, second.mention.start):
            return junction
    return site.canonical


def _restated(site: Tagged, sites: list[Tagged], text: str) -> Tagged:
    """The site mention a generic site word is restated as right after it, else the mention itself."""
    parts = _RESTATED_SITES.get(site.canonical)
    if parts is None or not text:
        return site
    for other in sites:
        gap = other.mention.start - site.mention.end
        if (
            other.canonical in parts
            and 0 <= gap <= 40
            and _RESTATING.fullmatch(text, site.mention.end, other.mention.start)
        ):
            return other
    return site
