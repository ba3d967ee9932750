"""Text normalisation shared by sample building and evaluation (neither imports the other for it)."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ARTICLES = frozenset({"a", "an", "the"})


def normalize_answer(text: str) -> str:
    """Unicode NFKC, lower-case, every run of non-[0-9a-z] characters -> one space, drop a/an/the tokens.

    ``"The tumour is pT2 (N0)."`` -> ``"tumour is pt2 n0"``.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    tokens = [t for t in _NON_ALNUM.split(folded) if t and t not in _ARTICLES]
    return " ".join(tokens)
