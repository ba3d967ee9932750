"""Checks on a report's text before extraction: the language it is written in, and the patient barcode it
prints (which wins over a file name)."""

from __future__ import annotations

import re

# OCR sometimes drops the leading T ("CGA-A6-3810"); the barcode is rebuilt with it
_TEXT_BARCODE = re.compile(r"(?<![A-Z0-9])T?CGA-([A-Z0-9]{2})-([A-Z0-9]{4})(?![A-Z0-9])", re.I)
_WORD = re.compile(r"[^\W\d_]{2,}")
ENGLISH_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "with",
        "in",
        "is",
        "are",
        "no",
        "not",
        "to",
        "for",
        "was",
        "were",
        "by",
        "or",
        "from",
        "at",
        "on",
        "this",
        "there",
    ]
)
# frequent function words of languages pathology reports also come in (none is an English word)
OTHER_WORDS = {
    "German": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "mit",
            "nicht",
            "ist",
            "ein",
            "eine",
            "im",
            "vom",
            "zur",
            "des",
            "den",
            "dem",
            "keine",
        ]
    ),
    "French": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "des",
            "du",
            "une",
            "est",
            "avec",
            "sans",
            "dans",
            "pas",
            "sur",
            "aux",
            "au",
        ]
    ),
    "Spanish": frozenset(["el", "los", "las", "y", "del", "con", "sin", "una", "por", "para", "se", "es"]),
    "Dutch": frozenset(["het", "een", "van", "en", "met", "niet", "geen", "zijn", "bij", "uit"]),
    "Italian": frozenset(["il", "della", "delle", "degli", "con", "senza", "una", "sono", "per", "nel"]),
    "Portuguese": frozenset(["os", "das", "dos", "com", "sem", "uma", "não", "em"]),
}
MIN_LATIN_FRACTION = 0.7
MIN_FOREIGN_WORDS = 6


def barcode_in_text(text: str) -> str | None:
    """The first TCGA patient barcode printed in the text ("TCGA-XX-XXXX"), or None."""
    m = _TEXT_BARCODE.search(text)
    return f"TCGA-{m.group(1)}-{m.group(2)}".upper() if m else None


def language_problem(text: str) -> str | None:
    """Why the text is not an English report (another script, or another language's function words), else
    None. Only English reports can be read: the KG lexicon and the section headings are English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    if latin / len(letters) < MIN_LATIN_FRACTION:
        return (
            f"unknown language or script ({1 - latin / len(letters):.0%} of its letters are not Latin); only "
            "English reports can be read: translate it first"
        )
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(1 for w in words if w in ENGLISH_WORDS)
    foreign = {lang: sum(1 for w in words if w in vocab) for lang, vocab in OTHER_WORDS.items()}
    language, count = max(foreign.items(), key=lambda kv: kv[1])
    if count >= MIN_FOREIGN_WORDS and count > 2 * english:
        return (
            f"unknown language (reads as {language}: {count} {language} function words, {english} English "
            "ones); only English reports can be read: translate it first"
        )
    return None
