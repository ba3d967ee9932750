"""KG entity mentions of a report, tagged with their section and assertion (negated, affirmed, unknown)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathreasoner.kg.lexicon import Mention
from pathreasoner.samples.boilerplate import in_boilerplate
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.negation import assess
from pathreasoner.samples.sections import Section, section_at

_KEY_COLON = re.compile(r"[ \t]*(?:\([^)\n]{0,40}\))?[ \t]*:")
_CHECKLIST_TYPES = frozenset({"histologic_finding", "invasion", "staging_criterion"})


@dataclass(frozen=True, slots=True)
class Tagged:
    """A KG mention in a report: its span, section, canonical name (negated findings as their 'absent'
    node), entity type and assertion."""

    mention: Mention
    section: str
    canonical: str
    type: str
    assertion: str


def tag_mentions(text: str, sections: list[Section], ctx: KGContext) -> list[Tagged]:
    """Every KG mention of the text with its section and assertion, less negated findings without an
    'absent' node, empty checklist keys and diseases named in boilerplate."""
    tagged = []
    for m in ctx.matcher.find(text):
        kind = ctx.type_of(m.canonical) or ""
        assertion = assess(text, m.start, m.end, dash_before_word_is_sign=kind != "diagnosis")
        canonical = m.canonical
        if assertion == "negated" and kind != "ihc_marker":
            if canonical not in ctx.negations:
                continue  # a negated finding without an 'absent' node carries no information
            canonical = ctx.negations[canonical]
            assertion = "affirmed"
        if kind in _CHECKLIST_TYPES and assertion == "unknown" and _KEY_COLON.match(text, m.end):
            continue  # a checklist key ("Renal vein invasion:") with an empty or 'not applicable' value
        if kind == "diagnosis" and in_boilerplate(text, m.start, m.end):
            continue  # a disease named as an example in a test description or comment
        tagged.append(Tagged(m, section_at(sections, m.start), canonical, kind, assertion))
    return tagged
