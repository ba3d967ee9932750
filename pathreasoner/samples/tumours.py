"""Several tumours in one report: split the final diagnosis into one block per tumour, tie each grade, size
and type to its own tumour, and pick the main one (the largest; else the one listed first).

A block starts at a diagnosis item ("1.", "A.", "-", after a blank line) that names a tumour; items
that name none (grade, margins, "the neoplasm is confined ...") belong to the block before them. A block
naming the same tumour as the one before, or a relative of it without a size of its own, continues it
("A. Lymph node: metastatic carcinoma" after "1. Kidney: renal cell carcinoma").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from pathreasoner.samples.context import GENERIC_DIAGNOSES, KGContext
from pathreasoner.samples.project_choice import renal_types
from pathreasoner.samples.synoptic import parse_grade

# a diagnosis item opens at a numbered/lettered/bulleted line or after a blank line
_ITEM = re.compile(r"\n\s*\n|\n(?=[ \t]*(?:\(?\d{1,2}[.)]|\(?[A-Ha-h][.)]|[-•*])\s)")
_SIZE = re.compile(r"(?P<dims>\d+(?:\.\d+)?(?:\s*(?:x|×|by)\s*\d+(?:\.\d+)?){0,2})\s*(?P<unit>cm|mm)\b", re.I)
# a renal type word turns a generic renal cell carcinoma block into the KG's named subtype
RENAL_SUBTYPES = {
    "KIRC": "clear cell renal cell carcinoma",
    "KIRP": "papillary renal cell carcinoma",
    "KICH": "chromophobe renal cell carcinoma",
}


@dataclass
class Tumour:
    """One tumour of the final diagnosis: its KG diagnosis, the report words, and its own facts."""

    diagnosis: str
    start: int  # the first mention of the diagnosis in the block
    end: int
    block: tuple[int, int]
    size_cm: float | None = None
    grade: str | None = None
    renal: set[str] = field(default_factory=set)

    def as_dict(self, main: bool) -> dict[str, object]:
        return {
            "diagnosis": self.diagnosis,
            "start": self.start,
            "end": self.end,
            "size_cm": self.size_cm,
            "grade": self.grade,
            "main": main,
        }


def block_size_cm(text: str) -> float | None:
    """The largest dimension (cm) stated in a tumour's block."""
    sizes = []
    for m in _SIZE.finditer(text):
        values = [float(v) for v in re.findall(r"\d+(?:\.\d+)?", m.group("dims"))]
        sizes.append(max(values) / (10.0 if m.group("unit").lower() == "mm" else 1.0))
    return max(sizes) if sizes else None


def _items(text: str, start: int, end: int) -> list[tuple[int, int]]:
    bounds = [start, *(m.end() for m in _ITEM.finditer(text, start, end)), end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if text[a:b].strip()]


def _related(a: str, b: str, ctx: KGContext) -> bool:
    return a == b or a in ctx.ancestors(b, ("is_a",)) or b in ctx.ancestors(a, ("is_a",))


def find_tumours(
    text: str,
    spans: list[tuple[int, int]],
    mentions: list[tuple[int, int, str]],
    ctx: KGContext,
    organ: str | None,
) -> list[Tumour]:
    """The tumours the diagnosis sections (`spans`) describe, from the diagnosis `mentions` (start, end,
    KG name) in them, in text order; one entry when the report describes a single tumour."""
    blocks: list[tuple[int, int, list[tuple[int, int, str]]]] = []
    for s_start, s_end in spans:
        for a, b in _items(text, s_start, s_end):
            named = [m for m in mentions if a <= m[0] < b and m[2] not in GENERIC_DIAGNOSES]
            if named or not blocks:
                blocks.append((a, b, named))
            else:
                blocks[-1] = (blocks[-1][0], b, blocks[-1][2])
    tumours: list[Tumour] = []
    for a, b, named in blocks:
        if not named:
            continue
        block_text = text[a:b]
        best = max(named, key=lambda m: (ctx.depth(m[2]), -m[0]))
        diagnosis = best[2]
        renal = renal_types(block_text) if organ == "kidney" else set()
        if len(renal) == 1 and "renal cell carcinoma" in (diagnosis, *ctx.ancestors(diagnosis, ("is_a",))):
            subtype = RENAL_SUBTYPES[next(iter(renal))]
            diagnosis = subtype if ctx.has(subtype) else diagnosis
        tumour = Tumour(
            diagnosis,
            best[0],
            best[1],
            (a, b),
            block_size_cm(block_text),
            parse_grade(block_text, organ),
            renal,
        )
        previous = tumours[-1] if tumours else None
        if (
            previous
            and _related(previous.diagnosis, diagnosis, ctx)
            and (previous.diagnosis == diagnosis or tumour.size_cm is None or previous.size_cm is None)
        ):
            previous.block = (previous.block[0], b)
            previous.size_cm = previous.size_cm or tumour.size_cm
            previous.grade = previous.grade or tumour.grade
            previous.renal |= renal
            if ctx.depth(diagnosis) > ctx.depth(previous.diagnosis):
                previous.diagnosis, previous.start, previous.end = diagnosis, best[0], best[1]
            continue
        tumours.append(tumour)
    return tumours


def main_tumour(tumours: list[Tumour]) -> tuple[Tumour, str]:
    """(the main tumour, why): the largest when every tumour states a size and one is largest, else the one
    listed first under the final diagnosis."""
    sizes = [t.size_cm for t in tumours]
    if all(s is not None for s in sizes):
        largest = max(tumours, key=lambda t: t.size_cm or 0.0)
        if sum(1 for t in tumours if t.size_cm == largest.size_cm) == 1:
            return largest, "largest"
    return tumours[0], "listed first"
