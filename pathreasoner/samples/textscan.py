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


_LAST: tuple[str, str | None] = ("", "")  # the last text asked for and its answer (parsers share a text)


def scan_lower(text: str) -> str | None:
    """`text.lower()` when a substring test on it finds every place a case-insensitive regex of ASCII
    words can match, at the same offsets; None when it cannot (then scan the text with the regex)."""
    global _LAST
    last = _LAST  # one tuple read and one tuple write: safe across threads
    if last[0] is text:
        return last[1]
    lowered: str | None = text.lower()
    if len(lowered) != len(text) or any(c in text for c in _CASE_ODDITIES):
        lowered = None
    _LAST = (text, lowered)
    return lowered


def search_at(
    pattern: re.Pattern[str], text: str, lowered: str | None, words: tuple[str, ...]
) -> re.Match[str] | None:
    """`pattern.search(text)` for a pattern whose every match starts with one of `words` (lower-case),
    tried only where `lowered` (`scan_lower(text)`) has one of them, leftmost first."""
    if lowered is None:
        return pattern.search(text)
    for pos in sorted(_occurrences(lowered, words)):
        match = pattern.match(text, pos)
        if match is not None:
            return match
    return None


def _occurrences(lowered: str, words: tuple[str, ...]) -> set[int]:
    found = set()
    for word in words:
        pos = lowered.find(word)
        while pos >= 0:
            found.add(pos)
            pos = lowered.find(word, pos + 1)
    return found


def finditer_lines_at(
    pattern: re.Pattern[str], text: str, lowered: str | None, words: tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a line-anchored pattern (`^...` with re.M) whose every match opens,
    after spaces or tabs, with one of `words` (lower-case): tried only at the starts of the lines where
    `lowered` (`scan_lower(text)`) has one of them."""
    if lowered is None:
        yield from pattern.finditer(text)
        return
    end = 0
    for pos in sorted({lowered.rfind("\n", 0, q) + 1 for q in _occurrences(lowered, words)}):
        if pos >= end:
            match = pattern.match(text, pos)
            if match is not None:
                yield match
                end = match.end()


def finditer_near(
    pattern: re.Pattern[str], anchor: re.Pattern[str], text: str, back: int
) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern each match of which starts at most `back` characters before
    a match of `anchor` (a cheap pattern the regex engine can skip through) and covers it: the pattern is
    tried only at those starts, in order."""
    end = 0
    tried = -1
    for hit in anchor.finditer(text):
        for pos in range(max(hit.start() - back, end, tried + 1), hit.start() + 1):
            tried = pos
            match = pattern.match(text, pos)
            if match is not None:
                yield match
                end = match.end()
                break


def finditer_at(
    pattern: re.Pattern[str], text: str, lowered: str | None, words: str | tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern whose every match starts with one of `words` (lower-case;
    matched case-insensitively or exactly), tried only where `lowered` (`scan_lower(text)`) has one."""
    if lowered is None:
        yield from pattern.finditer(text)
        return
    end = 0
    for pos in sorted(_occurrences(lowered, (words,) if isinstance(words, str) else words)):
        if pos >= end:
            match = pattern.match(text, pos)  # (lookbehinds and \b still see the text before pos)
            if match is not None:
                yield match
                end = match.end()


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
