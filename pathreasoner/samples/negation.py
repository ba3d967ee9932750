"""NegEx-style assertion of a mention: negated ("no lymphovascular invasion", "LVI: not identified"),
affirmed ("perineural invasion: present", "CK20 positive") or unknown.

A pre-mention window (a few words back, inside the clause) is searched for negation triggers; a
post-mention window (up to the next comma/clause break) for status words, the first one deciding.
"""

from __future__ import annotations

import re
from typing import Literal

Assertion = Literal["negated", "affirmed", "unknown"]

PRE_WORDS = 6
POST_WORDS = 5


def _at_word_start(*alternatives: str) -> re.Pattern[str]:
    """`\\b(?:alternative|...)\\b` for alternatives that each open with a letter, written so that every branch
    opens with that literal letter (the regex engine then skips to those letters; the lookbehind is the
    word boundary): the same matches, alternatives of one letter tried in the same order."""
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        groups.setdefault(alternative[0], []).append(alternative[1:])
    return re.compile(
        "|".join(rf"{letter}(?<!\w{letter})(?:{'|'.join(rests)})\b" for letter, rests in groups.items())
    )


_PRE_TRIGGER = _at_word_start(
    *[
        r"no(?!\.\s?\d)",  # not the abbreviation of 'number' ("Brain, left frontal No.1,2,3, biopsy: ...")
        "not",
        "without",
        "negative for",
        "free of",
        "free from",
        "absence of",
        "absent",
        "no evidence of",
        "no residual",
        "rule out",
        "ruled out",
        "uninvolved by",
        "neither",
        "nor",
        "none of",
        "lack of",
        "lacks",
        "negative",
    ]
)
_PRE_POSITIVE = _at_word_start(
    "positive for", "positivity for", "with", "shows?", "showing", r"demonstrat\w*", "present", "identified"
)
_PSEUDO = _at_word_start(
    "not only",
    "no longer",
    "no change",
    "not excluded",
    "cannot be excluded",
    "not ruled out",
    "not specified",  # "BRAIN, SITE NOT SPECIFIED, EXCISION: GLIOBLASTOMA"
    "not provided",
)
_POST_STATUS = re.compile(
    r"\b(?P<neg>not identified|not seen|not present|not detected|not appreciated|not evident|not involved|"
    r"none identified|none seen|absent|negative|none|no(?![ \t]+data\b)|lost|loss)\b|"
    r"\b(?P<pos>identified|present|positive|seen|noted|yes|retained|expressed|diffuse(?:ly)?|strong(?:ly)?|focal(?:ly)?)\b"
)
_SIGN = re.compile(r"^[ \t]?(?:(?P<plus>\(\+\)|\+)|(?P<minus>\(-\)|-(?![\w-])))")
_DASH_BEFORE_WORD = re.compile(r"[ \t]?-[ \t]+[A-Za-z]{3}")
# clause breaks: sentence punctuation, a new enumerated/bulleted line, a line holding only a checklist answer
# ("NO" under "Bilateral Disease"), a line opening the next checklist field, or a contrastive conjunction.
# The punctuation/line breaks and the words are scanned apart (neither kind of match can start inside the
# other, so together they are the matches of the one alternation): the first pattern opens with rare
# characters the regex engine skips to, the second runs only when the window holds one of its words.
_CLAUSE_BREAK = re.compile(
    r"\.(?:\s|$)|;(?:\s|$)|!(?:\s|$)|\?(?:\s|$)"
    r"|\n(?:\s*(?:[-•*]|\d+[.)]|[A-Za-z][.:)])\s*|[ \t]*(?i:no|yes|none|n/a)[ \t]*(?=\n)"
    r"|(?=[ \t]*[A-Z][A-Za-z /()-]{1,40}:))"  # or a line opening a checklist field ("Tumor site:")
)
_FIELD_KEY_END = re.compile(r"[ \t]*:")
_BREAK_WORDS = ("but", "however", "except", "although", "whereas")
_BREAK_WORD = re.compile(rf"\b(?:{'|'.join(_BREAK_WORDS)})\b")
# a status word opening the next line still belongs to the mention ("Lymphovascular invasion:\nNot identified")
_NEXT_LINE_STATUS = re.compile(r"(?i:not|absent|present|negative|positive|no|yes|none)\b")
# where the post-mention window stops: punctuation, a line break not followed by a status word, or a
# conjunction (each alternative opens with a literal character, so the engine skips to those characters;
# the lookbehinds are the word boundary before the conjunction)
_POST_STOP = re.compile(
    r",|;|\.|!|\?|\(|\n(?!\s*(?:not|absent|present|negative|positive|no|yes)\b)"
    r"|a(?<!\wa)nd\b|b(?<!\wb)ut\b|w(?<!\ww)(?:ith|hile)\b"
)
_LEAD = re.compile(r"[\s:=\-]*")


def _pre_window(text: str, start: int) -> str:
    window = text[max(0, start - 120) : start]
    cut = 0  # the end of the last clause break
    for match in _CLAUSE_BREAK.finditer(window):
        cut = match.end()
    if (  # (plain substring tests: cheaper than a generator over _BREAK_WORDS)
        "but" in window
        or "however" in window
        or "except" in window
        or "although" in window
        or "whereas" in window
    ):
        for match in _BREAK_WORD.finditer(window):
            cut = max(cut, match.end())
    if cut:
        window = window[cut:]
    words = window.lower().split()
    return " ".join(words[-PRE_WORDS:])


def _post_window(text: str, end: int) -> str:
    window = text[end : end + 80]
    offset = _LEAD.match(window).end()  # type: ignore[union-attr]  # (it matches the empty string)
    # the mention ends its line and the next line is another field ("Sarcomatoid features: absent")
    if "\n" in window[:offset] and not _NEXT_LINE_STATUS.match(window, offset):
        return ""
    stop = _POST_STOP.search(window, offset)
    window = window[offset : stop.start()] if stop else window[offset:]
    return " ".join(window.lower().split()[:POST_WORDS])


def assess(text: str, start: int, end: int, dash_before_word_is_sign: bool = True) -> Assertion:
    """Whether the mention text[start:end] is negated, affirmed, or neither, judging by its context. With
    `dash_before_word_is_sign` False (diagnoses), a dash before a word ("SQUAMOUS CELL CARCINOMA - SEE
    COMMENT", "Renal cell carcinoma- Conventional type") separates the next words instead of reading as a '-'
    sign."""
    sign = _SIGN.match(text[end : end + 4])
    if sign and sign.group("minus") and not dash_before_word_is_sign and _DASH_BEFORE_WORD.match(text, end):
        sign = None
    if sign:
        return "affirmed" if sign.group("plus") else "negated"
    post = _post_window(text, end)
    status = _POST_STATUS.search(post)
    opening = status is not None and status.start() == 0
    if opening and status.group("neg"):
        return "negated"
    # a mention opening a checklist field ("...: Absent\nHigh grade PIN: Present") has no words before it
    opens_field = (
        _FIELD_KEY_END.match(text, end) is not None
        and not text[text.rfind("\n", 0, start) + 1 : start].strip()
    )
    before = None if opens_field else _pre_assertion(_pre_window(text, start))
    if opening:
        # a status that only confirms ("seen", "identified") does not undo a trigger before the mention:
        # "No carcinoma seen", "no necrosis identified"
        return "negated" if before == "negated" else "affirmed"
    if before:
        return before
    if status:
        return "negated" if status.group("neg") else "affirmed"
    return "unknown"


def _pre_assertion(pre: str) -> Assertion | None:
    """What the last trigger in the pre-mention window says: negated, affirmed, or None (no trigger)."""
    if not pre or _PSEUDO.search(pre):
        return None
    negative = list(_PRE_TRIGGER.finditer(pre))
    positive = list(_PRE_POSITIVE.finditer(pre))
    last_neg = negative[-1].start() if negative else -1
    last_pos = positive[-1].start() if positive else -1
    if last_neg > last_pos:
        return "negated"
    if last_pos > last_neg:
        return "affirmed"
    return None


def is_negated(text: str, start: int, end: int) -> bool:
    """True when the mention text[start:end] is negated in context."""
    return assess(text, start, end) == "negated"


def has_negation_trigger(text: str) -> bool:
    """Whether `text` (e.g. one OCR line whose mention span is unknown) contains a negation trigger."""
    return _PRE_TRIGGER.search(text.lower()) is not None
