"""Faster scans of report text with the same results as the plain regex calls (throughput helpers).

A case-insensitive regex every match of which starts with a known ASCII word can skip the regex scan of
the text between the places where that word occurs: `str.find` on the lower-cased text finds them, and the
regex is tried there only (`finditer_at`). This is exact when lower-casing keeps every offset and no
character that `re.IGNORECASE` matches to an ASCII letter lower-cases to something else (İ and ı match
'i', ſ matches 's'); `scan_lower` returns None for the rare text where that does not hold, and the callers
then run the plain regex.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# non-ASCII letters re.IGNORECASE matches to an ASCII letter that str.lower() does not turn into it
# (the Kelvin sign K lower-cases to 'k' and needs no exception)
_CASE_ODDITIES = ("\u0130", "\u0131", "\u017f")


def scan_lower(text: str) -> str | None:
    """`text.lower()` when a substring test on it finds every place a case-insensitive regex of ASCII
    words can match, at the same offsets; None when it cannot (then scan the text with the regex)."""
    lowered = text.lower()
    if len(lowered) != len(text) or any(c in text for c in _CASE_ODDITIES):
        return None
    return lowered


def finditer_at(
    pattern: re.Pattern[str], text: str, lowered: str | None, word: str
) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern whose every match starts with `word` (lower-case; matched
    case-insensitively or exactly), tried only where `lowered` (`scan_lower(text)`) has that word."""
    if lowered is None:
        yield from pattern.finditer(text)
        return
    pos = lowered.find(word)
    while pos >= 0:
        match = pattern.match(text, pos)  # (lookbehinds and \b still see the text before pos)
        if match is not None:
            yield match
            pos = lowered.find(word, max(match.end(), pos + 1))
        else:
            pos = lowered.find(word, pos + 1)


def blank_matches(text: str, matches: Iterable[re.Match[str]]) -> str:
    """`text` with each of these (non-overlapping, in order) matches replaced by as many spaces."""
    pieces: list[str] = []
    pos = 0
    for match in matches:
        pieces.append(text[pos : match.start()])
        pieces.append(" " * (match.end() - match.start()))
        pos = match.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)
