"""Layout and OCR repairs before extraction, with an offset map back to the report text.

- Fields glued to the next heading ("Histologic type: AdenocarcinomaHistologic grade: ...") get a line
  break between the value and the heading.
- Words that OCR split into single letters ("Hepatoce l l u lar carcinoma") are joined again.

`repair_text(text)` returns a `RepairedText` whose `to_source(start, end)` maps a span of the repaired text
back to the span of the same words in the original text (evidence stays auditable).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# a value glued to the next "Heading words:" (a lower-case letter or ')' followed by a capitalised key)
_GLUED_HEADING = re.compile(r"(?<=[a-z)]{2})(?=[A-Z][a-z]+(?:[ \t]+[A-Za-z][a-z]*){0,4}[ \t]*:)")
# a word, then two or more single letters (not the words 'a'/'i'), then an optional short tail, all split by
# single spaces: "Hepatoce l l u lar"
_SPLIT_WORD = re.compile(r"\b([A-Za-z]{3,})((?: [b-hj-z]\b){2,})( [a-z]{1,4}\b)?")


@dataclass(frozen=True, slots=True)
class RepairedText:
    """The repaired text and its edits as (start, end) in the repaired text and (start, end) in the original."""

    text: str
    edits: list[tuple[int, int, int, int]] = field(default_factory=list)
    _ends: list[int] = field(default_factory=list)

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of the repaired-text span [start, end) (an edited word maps to all of it)."""
        return self._map(start, first=True), self._map(max(end - 1, start), first=False) + (end > start)

    def _map(self, pos: int, first: bool) -> int:
        i = bisect.bisect_right(self._ends, pos)  # the first edit ending after pos
        if i < len(self.edits) and self.edits[i][0] <= pos:
            _, _, orig_start, orig_end = self.edits[i]
            return orig_start if first else orig_end - 1
        if i == 0:
            return pos
        _, new_end, _, orig_end = self.edits[i - 1]
        return pos - new_end + orig_end


def repair_text(text: str) -> RepairedText:
    """Unglue fields from the next heading and join OCR-split words (see the module docstring)."""
    found: list[tuple[int, int, str]] = []  # (start, end, replacement) in the original text
    for m in _GLUED_HEADING.finditer(text):
        found.append((m.start(), m.start(), "\n"))
    for m in _SPLIT_WORD.finditer(text):
        found.append((m.start(), m.end(), m.group().replace(" ", "")))
    if not found:
        return RepairedText(text)
    found.sort()
    pieces: list[str] = []
    edits: list[tuple[int, int, int, int]] = []
    pos = new_len = 0
    for start, end, replacement in found:
        if start < pos:
            continue  # overlapping edits: the first one wins
        pieces.append(text[pos:start])
        new_len += start - pos
        pieces.append(replacement)
        edits.append((new_len, new_len + len(replacement), start, end))
        new_len += len(replacement)
        pos = end
    pieces.append(text[pos:])
    return RepairedText("".join(pieces), edits, [e[1] for e in edits])
