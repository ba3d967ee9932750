"""Rule parsers for structured report facts: grade, pT/pN, margins, LVI/PNI, tumour size, depth of invasion.

Each parser reads report text (synoptic "Key: value" lines first, free-text sentences second) and returns a
canonical value — grade values are curated KG grade names — or None when the report does not state it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pathreasoner.samples.boilerplate import in_boilerplate, sentence_bounds
from pathreasoner.samples.textscan import finditer_at, finditer_near, scan_lower, search_at

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}

# ---------------------------------------------------------------- grade
_GLEASON = re.compile(
    r"gleason\s*(?:score|grade|sum|pattern)?\s*[:=]?\s*(?:\(?\s*)([3-5])\s*\+\s*([3-5])", re.I
)
_GRADE_GROUP = re.compile(r"grade\s*group\s*[:=]?\s*([1-5])\b", re.I)
_NUCLEAR = re.compile(
    r"(?:fuhrman|who\s*/\s*isup|isup)\s*(?:nuclear\s*)?grade\s*(?:\(of\s*4\))?\s*[:=\-]?\s*(?:grade\s*)?([1-4]|iv|iii|ii|i)\b"
    r"|nuclear\s+grade\s*[:=\-]?\s*([1-4]|iv|iii|ii|i)\b(?:\s*/\s*4|\s+of\s+4)?",
    re.I,
)
# (OCR reads the Roman numerals' 'I's as '1' or 'l': "WHO grade 111", "WHO grade ll"; or splits them: "WHO grade
# I I"); also "(WHO, grade III)", "(WHO III)" and the grade before the system: "grade IIWHO", "grade II (WHO)"
_WHO_LEVEL = r"(iv|i\s?i\s?i|i\s?i|i|[1-4]|[1l]{2,3}|[1l]v)"
_WHO_CNS = re.compile(
    rf"who\s*,?\s*(?:cns\s*)?grade\s*[:=\-]?\s*{_WHO_LEVEL}\b"
    rf"|cns\s*who\s*grade\s*[:=\-]?\s*{_WHO_LEVEL}\b"
    r"|\(\s*who\s+(iv|iii|ii)\s*\)"
    r"|\bgrade\s+(iv|iii|ii)\s*\(?\s*who\b",
    re.I,
)
# a grade named in a hypothesis ("difficult to exclude a ... (WHO grade IV)", "would be WHO grade IV", a
# differential diagnosis) is not the grade the report states
_HYPOTHESIS = re.compile(
    r"\b(?:exc\W?lud(?:e|es|ed|ing)(?![a-z])|(?:rule[sd]?\s+out|would\s+(?:be|represent|qualify)|differential|versus)\b)",
    re.I,
)
_NOTTINGHAM = re.compile(
    r"(?:nottingham|bloom[\s\-]*richardson|elston)[^\n]{0,40}?\b(?:(grade)|(score))\s*[:=\-]?\s*(?:grade\s*)?(iii|ii|i|[1-9])\b",
    re.I,
)
_DIFFERENTIATION = re.compile(
    r"\b(well|moderately|poorly)(?:\s+to\s+(?:moderately|poorly))?[\s\-]+differentiated\b|\bundifferentiated\b"
    r"|\b(?:histologic\s+)?grade\s*[:=]?\s*g([1-4])\b|\bG([1-4])\s*[:,\-]\s*(?:well|moderately|poorly|undifferentiated)",
    re.I,
)
_TWO_TIER = re.compile(r"\b(high|low)[\s\-]grade\b", re.I)
# FIGO grade of endometrioid carcinoma, FNCLCC grade of soft-tissue sarcoma ("FIGO grade 2", "FNCLCC grade: II")
_FIGO = re.compile(r"\bFIGO\s*(?:histologic(?:al)?\s*)?grade\s*[:=\-]?\s*(?:G\s*)?(iii|ii|i|[1-3])\b", re.I)
_FNCLCC = re.compile(
    r"\b(?:FNCLCC|French)\s*(?:histologic(?:al)?\s*)?grade\s*[:=\-]?\s*(?:G\s*)?(iii|ii|i|[1-3])\b", re.I
)

GRADE_SYSTEMS = (
    "gleason",
    "nuclear",
    "who_cns",
    "nottingham",
    "figo",
    "fnclcc",
    "two_tier",
    "differentiation",
)
ORGAN_GRADE_ORDER: dict[str, tuple[str, ...]] = {
    "prostate": ("gleason",),
    "kidney": ("nuclear",),
    "brain": ("who_cns",),
    "breast": ("nottingham", "differentiation"),
    "bladder": ("two_tier", "differentiation"),
    "ovary": ("two_tier", "differentiation"),
    "uterus": ("figo", "two_tier", "differentiation"),
    "soft tissue": ("fnclcc", "differentiation"),
}
DEFAULT_GRADE_ORDER = ("differentiation", "two_tier")


def _num(token: str) -> int:
    token = token.lower()
    if len(token) > 1:  # a Roman numeral, its 'I's read as '1' or 'l' by OCR ("111", "1v")
        token = token.replace("1", "i").replace("l", "i")
    return _ROMAN[token] if token in _ROMAN else int(token)


def _stated(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of `pattern` that is not inside a hypothesis, a differential diagnosis or boilerplate."""
    for m in pattern.finditer(text):
        left, right = sentence_bounds(text, m.start(), m.end())
        if not _HYPOTHESIS.search(text, left, right) and not in_boilerplate(text, m.start(), m.end()):
            return m
    return None


def gleason_name(primary: int, secondary: int) -> str:
    """Curated KG name of a Gleason score."""
    total = primary + secondary
    if total <= 6:
        return "Gleason score 6 (3+3)"
    if total == 7:
        return f"Gleason score 7 ({primary}+{secondary})"
    return f"Gleason score {total}"


def parse_grade_system(text: str, system: str) -> str | None:
    """The first grade of one grading system stated in the text, as a curated KG grade name."""
    if system == "gleason":
        m = _GLEASON.search(text)
        return gleason_name(int(m.group(1)), int(m.group(2))) if m else None
    if system == "nuclear":
        m = _NUCLEAR.search(text)
        return f"Fuhrman/ISUP nuclear grade {_num(m.group(1) or m.group(2))}" if m else None
    if system == "who_cns":
        m = _stated(_WHO_CNS, text)
        if m:
            level = _num(re.sub(r"\s", "", next(g for g in m.groups() if g)))
            return f"CNS WHO grade {level}" if level >= 2 else None
        return None
    if system == "nottingham":
        m = _NOTTINGHAM.search(text)
        if not m:
            return None
        value = _num(m.group(3))
        if m.group(2):  # a total score 3-9
            value = 1 if value <= 5 else 2 if value <= 7 else 3
        return f"Nottingham grade {value}" if 1 <= value <= 3 else None
    if system in ("figo", "fnclcc"):
        m = (_FIGO if system == "figo" else _FNCLCC).search(text)
        return f"{system.upper()} grade {_num(m.group(1))}" if m else None
    if system == "two_tier":
        m = _TWO_TIER.search(text)
        return f"{m.group(1).lower()} grade" if m else None
    if system == "differentiation":
        m = _DIFFERENTIATION.search(text)
        if not m:
            return None
        if m.group(1):
            return {
                "well": "well differentiated",
                "moderately": "moderately differentiated",
                "poorly": "poorly differentiated",
            }[m.group(1).lower()]
        level = m.group(2) or m.group(3)
        if level:
            return (
                "well differentiated",
                "moderately differentiated",
                "poorly differentiated",
                "undifferentiated",
            )[int(level) - 1]
        return "undifferentiated"
    raise ValueError(f"unknown grading system {system!r}; valid: {GRADE_SYSTEMS}")


def parse_grade(text: str, organ: str | None) -> str | None:
    """The report's grade in the organ's grading system (falling back to differentiation / two-tier)."""
    order = ORGAN_GRADE_ORDER.get(organ or "", ()) + DEFAULT_GRADE_ORDER
    if organ is None:
        order = GRADE_SYSTEMS
    for system in dict.fromkeys(order):
        value = parse_grade_system(text, system)
        if value:
            return value
    return None


def parse_grade_group(text: str) -> str | None:
    m = _GRADE_GROUP.search(text)
    return f"ISUP grade group {m.group(1)}" if m else None


# ---------------------------------------------------------------- TNM
_END = r"(?:(?![A-Za-z0-9])|(?=[NM]))"
_PT = re.compile(
    rf"(?<![A-Za-z0-9])(?:y|r|yr)?[pP]\s?T\s?(is|IS|x|X|a|[0-4][a-dA-D]?){_END}(?:\s*\(m\))?\s*"
    rf"(?:N\s?([0-3][a-cA-C]?|x|X){_END})?"
)
_PN = re.compile(r"(?<![A-Za-z0-9])(?:y|r|yr)?[pP]\s?N\s?([0-3][a-cA-C]?|x|X)(?![A-Za-z0-9])")


def _category(prefix: str, value: str) -> str:
    value = value.strip()
    if value.lower() in {"is", "x", "a"}:
        value = {"is": "is", "x": "X", "a": "a"}[value.lower()]
    else:
        value = value[0] + value[1:].lower()
    return f"{prefix}{value}"


# every _PT / _PN match holds '[pP]\s?T' / '[pP]\s?N' at most 2 characters ('yr') after its start: the
# patterns are tried only there (the anchors open with a character class the regex engine skips through)
_PT_ANCHOR = re.compile(r"[pP]\s?T")
_PN_ANCHOR = re.compile(r"[pP]\s?N")


def _pt_matches(text: str) -> Iterator[re.Match[str]]:
    """`_PT.finditer(text)`."""
    return finditer_near(_PT, _PT_ANCHOR, text, 2)


def parse_pt(text: str) -> str | None:
    """First pathologic T category (pT0-4 with subcategory, pTis, pTa, pTX); 'y'/'r' prefixes dropped."""
    m = next(_pt_matches(text), None)
    return _category("pT", m.group(1)) if m else None


def parse_pn(text: str) -> str | None:
    """First pathologic N category (pN0-3 with subcategory, pNX), also from 'pT2N0' style strings."""
    candidates = []
    m = next(finditer_near(_PN, _PN_ANCHOR, text, 2), None)
    if m:
        candidates.append((m.start(), _category("pN", m.group(1))))
    for t in _pt_matches(text):
        if t.group(2):
            candidates.append((t.start(), _category("pN", t.group(2))))
            break
    return min(candidates)[1] if candidates else None


# ---------------------------------------------------------------- margins, LVI, PNI
_MARGIN_KV = re.compile(
    r"^[ \t\-]*(?:surgical\s+|resection\s+|overall\s+)?margins?(?:\s+status)?(?:\s*\([^)\n]*\))?\s*[:\-]\s*(?P<value>[^\n]+)",
    re.I | re.M,
)
_MARGIN_NEG = re.compile(
    r"\b(?:uninvolved|negative|free|clear|not involved|no (?:invasive )?(?:tumou?r|carcinoma|malignancy)|not identified|clean|widely)\b",
    re.I,
)
_MARGIN_POS = re.compile(
    r"\b(?:involv(?:ed|es|ing)|positive|present at|extends? to|transect\w*|at the inked|tumou?r at|focally involv\w*)\b",
    re.I,
)
_STATEMENT_BREAK = re.compile(r"[.;\n]")
_MARGIN_WORD = re.compile(r"\bmargins?\b", re.I)
_MARGIN_SKIP = re.compile(
    r"\b(?:closest|distance|nearest|from the|away from|close to|cm to|mm to|not applicable|cannot be assessed)\b",
    re.I,
)


def classify_margin(value: str) -> str | None:
    """'negative' / 'positive' for a margin statement (negative words are checked first)."""
    if _MARGIN_NEG.search(value):
        return "negative"
    if _MARGIN_POS.search(value):
        return "positive"
    return None


def parse_margin(text: str) -> str | None:
    """Margin status: the synoptic 'Margins:' value, else any involved margin → positive, else negative."""
    lowered = scan_lower(text)
    if lowered is not None and "margin" not in lowered:
        return None  # both readings need the word
    for m in _MARGIN_KV.finditer(text):
        value = classify_margin(m.group("value"))
        if value:
            return value
    statements = []
    # each '.', ';' or line-delimited statement naming a margin (the lower-cased text splits at the same
    # places: a statement without the letters 'margin' is skipped before the word-boundary regex)
    sentences = _STATEMENT_BREAK.split(text)
    gates = _STATEMENT_BREAK.split(lowered) if lowered is not None else sentences
    for sentence, gate in zip(sentences, gates, strict=True):
        if (lowered is not None and "margin" not in gate) or not _MARGIN_WORD.search(sentence):
            continue
        if _MARGIN_SKIP.search(sentence) and not re.search(
            r"\binvolv|\bpositive|\bnegative|\bfree\b", sentence, re.I
        ):
            continue
        value = classify_margin(sentence)
        if value:
            statements.append(value)
    if "positive" in statements:
        return "positive"
    return "negative" if statements else None


_ABSENT = re.compile(
    r"^\W*(?:not identified|not seen|not present|absent|negative|none|no\b|not detected|indeterminate|cannot)",
    re.I,
)
_PRESENT = re.compile(
    r"^\W*(?:present|identified|positive|yes|seen|focal|extensive|suspicious|\d+\s*(?:focus|foci))", re.I
)
_LVI_KEY = re.compile(
    r"(?:lymph(?:o)?[\s\-/]*vascular(?:\s+space)?|angio[\s\-]*lymphatic|venous\s*/\s*lymphatic|lymphatic\s*/\s*vascular|"
    r"lymphatic(?:\s+and|\s*/)?\s*(?:vascular|venous)?|small\s+vessel)\s*(?:invasion|involvement)?"
    r"(?:\s*\([^)\n]{0,40}\))?(?:\s+invasion)?\s*(?:\([^)\n]{0,20}\))?\s*[:\-]?\s*(?P<value>[^\n]{0,40})",
    re.I,
)
_PNI_KEY = re.compile(
    r"perineural\s*(?:invasion|infiltration|spread)?\s*[:\-]?\s*(?P<value>[^\n]{0,40})", re.I
)


_NEGATED_KEY = re.compile(r"\b(?:no|without|negative for|absence of|free of)\s*$", re.I)


_LVI_WORDS = ("lymph", "angio", "venous", "small")  # every _LVI_KEY match starts with one of them
_PNI_WORDS = ("perineural",)


def _status_from_key(regex: re.Pattern[str], text: str, words: tuple[str, ...]) -> str | None:
    for m in finditer_at(regex, text, scan_lower(text), words):
        if _NEGATED_KEY.search(text[max(0, m.start() - 24) : m.start()]):
            return "absent"
        value = m.group("value")
        if _ABSENT.match(value):
            if re.match(r"^\W*(?:indeterminate|cannot)", value, re.I):
                continue
            return "absent"
        if _PRESENT.match(value):
            return "present"
    return None


def parse_lvi(text: str) -> str | None:
    """'present' / 'absent' from a 'Lymphovascular invasion: ...' style statement."""
    return _status_from_key(_LVI_KEY, text, _LVI_WORDS)


def parse_pni(text: str) -> str | None:
    """'present' / 'absent' from a 'Perineural invasion: ...' style statement."""
    return _status_from_key(_PNI_KEY, text, _PNI_WORDS)


# ---------------------------------------------------------------- size and depth
_SIZE = re.compile(
    r"(?:tumou?r\s+(?:size|dimension|measures?|measuring)|size\s+of\s+(?:the\s+)?tumou?r|maximum\s+tumou?r\s+(?:dimension|size)|"
    r"greatest\s+(?:tumou?r\s+)?dimension|largest\s+tumou?r\s+dimension)[^0-9\n]{0,30}"
    r"(?P<dims>\d+(?:\.\d+)?(?:\s*(?:x|×|by)\s*\d+(?:\.\d+)?){0,2})\s*(?P<unit>cm|mm)\b",
    re.I,
)
_SIZE_WORDS = ("tumo", "size", "maximum", "greatest", "largest")  # every _SIZE match starts with one of them
_DOI = re.compile(
    r"depth\s+of\s+(?:tumou?r\s+)?invasion[^0-9\n]{0,20}(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>mm|cm)\b", re.I
)


def parse_size_cm(text: str) -> float | None:
    """Greatest tumour dimension in cm from 'Tumor size: 2.5 x 2.4 x 0.6 cm' style statements."""
    m = search_at(_SIZE, text, scan_lower(text), _SIZE_WORDS)
    if not m:
        return None
    values = [float(v) for v in re.findall(r"\d+(?:\.\d+)?", m.group("dims"))]
    size = max(values)
    return size / 10.0 if m.group("unit").lower() == "mm" else size


def parse_doi_mm(text: str) -> float | None:
    """Depth of invasion in mm."""
    m = search_at(_DOI, text, scan_lower(text), ("depth",))
    if not m:
        return None
    value = float(m.group("value"))
    return value * 10.0 if m.group("unit").lower() == "cm" else value
