"""Diagnosis accuracy: the KG diagnosis named in the predicted <answer> against the reference's.

Both answers are linked to KG entities with the samples' entity matcher; only entities whose KG type is
`diagnosis` count (so "Adenocarcinoma of the cecum" and "adenocarcinoma of the sigmoid colon" are the same
diagnosis, while "mucinous adenocarcinoma" is another). A negated mention ("no evidence of X", "negative
for X", "not X", "X is excluded") names no diagnosis. An item is correct when the linked diagnoses match
the reference's under the hierarchy rule (`eval.hierarchy_match`, see `eval.hierarchy`: by default a more
specific is_a child of the reference diagnosis counts); items whose reference links to no diagnosis are
not scored. The chance level is reported beside it: 1/K for the K distinct reference diagnoses, and the
majority-class share.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pathreasoner.dataset import load_entity_types, load_lexicon
from pathreasoner.eval.hierarchy import HierarchyRule, diagnoses_match, load_ancestors
from pathreasoner.response import answer_text
from pathreasoner.samples.negation import is_negated

DIAGNOSIS_TYPE = "diagnosis"
SITE_TYPE = "anatomic_site"
DIAGNOSIS_QUESTIONS = frozenset({"diagnosis", "subtype"})


class EntityFinder(Protocol):
    def entities(self, text: str) -> set[str]: ...


_SITE_SUFFIX = re.compile(
    r"\s+(?:of the|of|in the)\s+(?P<site>[^,;()]+?)\s*$|\s*\((?P<paren>[^()]+)\)\s*$", re.I
)


def without_site(text: str, matcher: EntityFinder, types: Mapping[str, str]) -> str:
    """`text` without a trailing site phrase ("... of the sigmoid colon", "... (upper lobe of lung)") when
    that phrase names an anatomic site: site-specific diagnosis synonyms ("adenocarcinoma of the rectum")
    must not make the same diagnosis at another site look different."""
    match = _SITE_SUFFIX.search(text.strip())
    if not match:
        return text
    phrase = match.group("site") or match.group("paren") or ""
    if any(types.get(e) == SITE_TYPE for e in matcher.entities(phrase)):
        return text.strip()[: match.start()]
    return text


_EXCLUDED_AFTER = re.compile(r"^[\s,:]*(?:is |was |has been |are |were )?(?:excluded|ruled out)\b", re.I)


def negated_at(text: str, start: int, end: int) -> bool:
    """Whether the mention text[start:end] is negated (NegEx window, plus a trailing "is excluded")."""
    return is_negated(text, start, end) or _EXCLUDED_AFTER.match(text[end : end + 40]) is not None


def linked_diagnoses(text: str, matcher: EntityFinder, types: Mapping[str, str]) -> frozenset[str]:
    """The KG diagnoses named and not negated in `text` (a trailing site phrase left out).

    Negation needs the matcher's mention spans (`find`, as kg.lexicon.EntityMatcher has); a matcher with
    only `entities` links every mention."""
    text = without_site(text, matcher, types)
    find = getattr(matcher, "find", None)
    if find is None:
        return frozenset(e for e in matcher.entities(text) if types.get(e) == DIAGNOSIS_TYPE)
    return frozenset(
        m.canonical
        for m in find(text)
        if types.get(m.canonical) == DIAGNOSIS_TYPE and not negated_at(text, m.start, m.end)
    )


def reference_diagnoses(
    record: Mapping[str, Any], matcher: EntityFinder, types: Mapping[str, str]
) -> frozenset[str]:
    """The diagnoses of a diagnosis question's reference answer (empty for other questions)."""
    if not types or record.get("question_type") not in DIAGNOSIS_QUESTIONS:
        return frozenset()
    return linked_diagnoses(str(record.get("answer") or ""), matcher, types)


def verdict(
    record: Mapping[str, Any],
    answer: str,
    matcher: EntityFinder,
    types: Mapping[str, str],
    ancestors: Mapping[str, frozenset[str]] | None = None,
    rule: HierarchyRule = "exact",
) -> tuple[bool | None, frozenset[str]]:
    """(right or wrong, or None when not scorable; the reference's diagnoses) for one `<answer>` span;
    `ancestors` (is_a, see eval.hierarchy) and `rule` decide whether parents/children count."""
    reference = reference_diagnoses(record, matcher, types)
    if not reference:
        return None, reference
    predicted = linked_diagnoses(answer, matcher, types)
    return diagnoses_match(predicted, reference, ancestors or {}, rule), reference


def diagnosis_verdicts(
    records: Sequence[Mapping[str, Any]],
    predictions: Sequence[str],
    matcher: EntityFinder,
    types: Mapping[str, str],
    ancestors: Mapping[str, frozenset[str]] | None = None,
    rule: HierarchyRule = "exact",
) -> list[bool | None]:
    """Per item: True/False for scorable diagnosis questions, None otherwise."""
    return [
        verdict(r, answer_text(p), matcher, types, ancestors, rule)[0]
        for r, p in zip(records, predictions, strict=True)
    ]


def diagnosis_scores(
    records: Sequence[Mapping[str, Any]],
    predictions: Sequence[str],
    matcher: EntityFinder,
    types: Mapping[str, str],
    ancestors: Mapping[str, frozenset[str]] | None = None,
    rule: HierarchyRule = "exact",
) -> dict[str, float]:
    """`diagnosis_accuracy`, `diagnosis_items`, `diagnosis_chance` (1/K) and `diagnosis_majority` over the
    diagnosis questions; empty when there is no scorable item (or no entity types)."""
    judged = [
        verdict(r, answer_text(p), matcher, types, ancestors, rule)
        for r, p in zip(records, predictions, strict=True)
    ]
    scored = [(right, reference) for right, reference in judged if right is not None]
    if not scored:
        return {}
    counts = Counter(reference for _, reference in scored)
    return {
        "diagnosis_accuracy": sum(right for right, _ in scored) / len(scored),
        "diagnosis_items": float(len(scored)),
        "diagnosis_chance": 1.0 / len(counts),
        "diagnosis_majority": counts.most_common(1)[0][1] / len(scored),
    }


@dataclass(frozen=True)
class DiagnosisChecker:
    """The samples dir's entity matcher, KG types and is_a ancestors, to judge one diagnosis answer."""

    matcher: EntityFinder
    types: Mapping[str, str]
    ancestors: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rule: HierarchyRule = "child"

    @classmethod
    def for_samples(cls, samples_dir: Path, rule: HierarchyRule = "child") -> DiagnosisChecker:
        from pathreasoner.kg.lexicon import EntityMatcher

        return cls(
            EntityMatcher.from_lexicon(load_lexicon(samples_dir)),
            load_entity_types(samples_dir),
            load_ancestors(samples_dir),
            rule,
        )

    def verdict(self, record: Mapping[str, Any], answer: str) -> bool | None:
        """Whether `answer` (an <answer> span) names the reference's KG diagnoses (not negated; relatives as
        `rule` allows); None when the record is not a scorable diagnosis question."""
        return verdict(record, answer, self.matcher, self.types, self.ancestors, self.rule)[0]
