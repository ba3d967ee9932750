"""Layout and OCR repairs before extraction, with an offset map back to the report text.

- Fields glued to the next heading ("Histologic type: AdenocarcinomaHistologic grade: ...") get a line
  break between the value and the heading.
- A tumour word glued to the next word ("SQUAMOUS CELL CARCINOMAGender:", "AdenocarcinomaJ", "carcinoma250")
  gets a space after it (its own suffixes, "carcinomas", "carcinomatous", "sarcomatoid", stay), and a stray
  capital glued before a capitalised tumour word ("FAdenocarcinoma") a space after the capital.
- Words that OCR split into single letters ("Hepatoce l l u lar carcinoma") are joined again.
- Misread tumour words ("caroinoma", "squamous call") are read as the pathology word they are one or two
  letters away from (`TUMOUR_WORDS`; "call" only after a word that precedes "cell").
- Tumour nouns garbled further ("caxainoma", "CARCIN.QMA", "carc i nom4a", "Hep.ato v'ellular"): up to three
  pieces split by spaces, read as letters with OCR's digit and symbol stand-ins (`ocr_fold`), within a small
  edit distance of one of `GARBLED_NOUNS` (2 for nouns of 9-12 letters, 3 for longer ones); real words that
  close ("carcinoid", "urothelium") and a noun glued to a following word ("carcinomano") are left alone.
- (deep pass, `repair_text(..., deep=True)`, run only when the typo pass reads no diagnosis either) the same
  nouns measured with OCR's letter confusions folded (l/i/j, c/e/o, a/n, rn/m: "urotbeiiai", "carcln",
  "cnrcinomn", "CARCJNmlA"), one more edit in nouns of 11+ letters whose first letter is read right
  ("ADEANOCARCIN i", "Aslrocylama"), a list number glued before the first piece skipped, "hepatocellular
  carcinoma" glued into one word read as two words, and a short noun spelled exactly once its digits are
  read as letters ("6lioma").

`repair_text(text)` returns a `RepairedText` whose `to_source(start, end)` maps a span of the repaired text
back to the span of the same words in the original text (evidence stays auditable).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

# a value glued to the next "Heading words:" (a lower-case letter or ')' followed by a capitalised key); the
# match is the key's capital (m.start() is where the line break goes): a pattern opening with a character class
# lets the regex engine skip to the capitals instead of trying the lookbehind at every position
_GLUED_HEADING = re.compile(r"[A-Z](?<=[a-z)]{2}[A-Z])(?=[a-z]+(?:[ \t]+[A-Za-z][a-z]*){0,4}[ \t]*:)")
# a word, then two or more single letters (not the words 'a'/'i'), then an optional short tail, all split by
# single spaces: "Hepatoce l l u lar"
_SPLIT_WORD = re.compile(r"\b([A-Za-z]{3,})((?: [b-hj-z]\b){2,})( [a-z]{1,4}\b)?")


# the pathology words OCR typos are corrected to (8+ letters: shorter words are too close to other words)
TUMOUR_WORDS = [
    "carcinoma",
    "adenocarcinoma",
    "squamous",
    "urothelial",
    "hepatocellular",
    "cholangiocarcinoma",
    "glioblastoma",
    "astrocytoma",
    "oligodendroglioma",
    "oligoastrocytoma",
    "differentiated",
    "papillary",
    "transitional",
    "endometrioid",
    "mucinous",
    "invasive",
    "infiltrating",
    "keratinizing",
    "neoplasm",
    "malignant",
    "metastatic",
    "sarcomatoid",
    "chromophobe",
    "carcinosarcoma",
    "leiomyosarcoma",
    "melanoma",
    "lymphoma",
    "mesothelioma",
    "neuroendocrine",
]
_CALL = re.compile(
    r"\b(squamous|clear|giant|transitional|renal|small|large|spindle|germ|basal)(\s+)[c0ot][ae0o][l1I]{2}\b",
    re.I,
)
# "oma" glued to a letter or digit (on the lower-cased text; a literal search, cheap), kept where it ends one of
# these tumour-word stems and is not one of their own suffixes ("carcinomas", "carcinomatous", "sarcomatoid",
# OCR's "Sarcomaatons": a blank checklist's option 'Sarcomatous' is no sarcoma)
_GLUED_OMA = re.compile(r"oma(?!s\b|a?t(?:ous|osis|oid|a|ons))(?=[a-z0-9])")
_TUMOUR_STEMS = ("carcin", "sarc", "melan", "lymph", "blast", "gli", "cyt", "theli")
# a stray capital glued before a capitalised tumour word ("FAdenocarcinoma")
_STRAY_CAPITAL = re.compile(r"[A-Z][A-Z][a-z]+oma\b")
_GLUED_CELL = re.compile(r"(?:cell|squamous)(?=carcinoma)", re.I)  # also "Squamou ncellcarcinoma"
# (typo pass) a capitalised tumour word glued to the end of the previous word in a table row
# ("maleCaucasianGlioma Blood", "SurgeryRenal cell \ncarcinoma"): a capital after three lower-case letters
# (a pattern opening with a character class, as _GLUED_HEADING), then the tumour word from there
_CAPITAL_AFTER_WORD = re.compile(r"[A-Z](?<=[a-z]{3}[A-Z])")
_GLUED_TUMOUR_WORD = re.compile(
    r"[A-Z][a-z]+oma\b|(?:Renal|Squamous|Hepatocellular|Urothelial|Papillary)\s+(?:cell|carcinoma)\b"
)
# (typo pass) 'ca' / 'car' for carcinoma after a tumour word ("Papillary renal ca., eosinophilic type")
_CA_ABBREVIATION = re.compile(
    r"\b(?:renal|cell|papillary|squamous|urothelial|hepatocellular)\s+(ca|car)\b(?=\.|,|\s|$)", re.I
)
_BY_AFFIX: dict[str, list[str]] = {}
for _word in TUMOUR_WORDS:
    _BY_AFFIX.setdefault("^" + _word[:3], []).append(_word)
    _BY_AFFIX.setdefault("$" + _word[-3:], []).append(_word)
_PREFIXES = "|".join(sorted({w[:3] for w in TUMOUR_WORDS}))
_SUFFIXES = "|".join(sorted({w[-3:] for w in TUMOUR_WORDS}))
# 8+ letter words starting or ending like a tumour word (matched on the lower-cased text)
_AFFIX_WORD = re.compile(rf"\b(?:(?:{_PREFIXES})[a-z]{{5,}}|[a-z]{{5,}}(?:{_SUFFIXES}))\b")
_SPLIT_GATE = re.compile(r" [b-hj-z] [b-hj-z]\b")
_CELL_VARIANTS = (" call", " coll", " toll", " 0e11", " ce11", " ce1l", " cel1", " oell", " cal1", " col1")
_KNOWN = frozenset(TUMOUR_WORDS)
# distinctive tumour nouns read through heavier OCR damage (edit distance on the letters-only form)
GARBLED_NOUNS = (
    "carcinoma",
    "adenocarcinoma",
    "cholangiocarcinoma",
    "hepatocellular",
    "urothelial",
    "glioblastoma",
    "astrocytoma",
    "oligodendroglioma",
    "chromophobe",
)
# real words within that distance of a noun (nor are they one-letter typos of a tumour word)
_NOT_GARBLED = frozenset(
    {
        "urothelium",
        "astrocytes",
        "astrocytic",
        "oligodendroglial",
        "oligodendroglia",
        "hypocellular",
        "hypercellular",
        "adenocarcinoid",
        "sarcoma",  # "Clear cell sarcoma"
        "sarcomas",
        "carcinosis",  # "serous carcinosis"
    }
)
_GARBLED_BY_AFFIX: dict[str, list[str]] = {}
for _word in GARBLED_NOUNS:
    _GARBLED_BY_AFFIX.setdefault("^" + _word[:2], []).append(_word)
    _GARBLED_BY_AFFIX.setdefault("$" + _word[-2:], []).append(_word)
_PIECE = re.compile(r"[^\s]+")
# four-letter stretches of the nouns that survive most OCR damage: only pieces near one are tried
_NOUN_ANCHOR = re.compile(
    "carc|arci|rcin|cino|inom|noma|ocel|cell|ellu|llul|ular|urot|roth|othe|thel|blas|last|stom|stro|troc|ocyt|ytom"
    "|dend|drog|glio|liom|chro|hrom|moph|phob|hobe|angi|ngio|deno|enoc|noca|ocar"
)
# (deep pass) also the middle of 'astrocytoma' read with its 't's as 'l's ("Aslrocylama")
_DEEP_ANCHOR = re.compile(f"{_NOUN_ANCHOR.pattern}|rocy")
# OCR digit/symbol stand-ins read as letters (as kg.linking.ocr_fold)
_OCR_DIGITS = {"1": "l", "0": "o", "5": "s", "4": "a", "3": "e"}
_OCR_LETTERS = str.maketrans({**_OCR_DIGITS, "|": "l", "!": "l", "$": "s"})
# whole words inside a run that make it no garbled noun
_WHOLE_WORDS = (*GARBLED_NOUNS, "carcinoid")
# words that precede 'carcinoma' in a diagnosis
_BEFORE_CARCINOMA = frozenset(
    {
        "cell",
        "hepatocellular",
        "squamous",
        "urothelial",
        "renal",
        "papillary",
        "serous",
        "ductal",
        "transitional",
    }
)
# nouns that end in another noun, with that tail ("adeno|carcinoma")
_HEADED_NOUNS = [(n, t) for n in GARBLED_NOUNS for t in GARBLED_NOUNS if n != t and n.endswith(t)]
_LETTERS_ONLY = re.compile(r"[^a-z]+")
_MAX_PIECES = 3


def _typo_fix(word: str) -> str | None:
    """The tumour word `word` is an OCR misreading of, or None: same length, one letter substituted (two in
    words of 10+ letters); other forms of a word ("oligodendroglial", "differentiation") are not typos."""
    lowered = word.lower()
    if lowered in _KNOWN or lowered in _NOT_GARBLED:
        return None
    allowed = 2 if len(lowered) >= 10 else 1
    for candidate in {*_BY_AFFIX.get("^" + lowered[:3], ()), *_BY_AFFIX.get("$" + lowered[-3:], ())}:
        if (
            len(candidate) == len(lowered)
            and sum(a != b for a, b in zip(candidate, lowered, strict=True)) <= allowed
        ):
            return (
                candidate.upper()
                if word.isupper()
                else candidate.capitalize()
                if word[0].isupper()
                else candidate
            )
    return None


def _allowed_edits(noun: str, deep: bool = False) -> int:
    """Edits allowed in a garbled `noun`; `deep`: one more in a noun of 11+ letters (its first letter read right,
    see `_best_noun`)."""
    return (2 if len(noun) <= 12 else 3) + (deep and len(noun) >= 11)


# (deep pass) OCR's letter confusions folded to one letter each: l/i/j (and 1, I, '|' once ocr-folded), c/e/o,
# a/n, rn/m
_CONFUSIONS = str.maketrans({"i": "l", "j": "l", "e": "c", "o": "c", "a": "n"})
# (deep pass) a short tumour noun with a digit standing in for a letter ("(6lioma"): read only when the digits,
# read as letters, spell the noun exactly (too short for an edit distance)
_DIGIT_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]*[0-9][A-Za-z0-9]*(?![A-Za-z0-9])")
_DIGIT_LETTERS = (
    str.maketrans({**_OCR_DIGITS, "6": "g"}),
    str.maketrans({**_OCR_DIGITS, "6": "b", "8": "b"}),
)
_SHORT_NOUNS = frozenset(
    {"glioma", "sarcoma", "lymphoma", "melanoma", "seminoma", "thymoma", "carcinoma", "blastoma"}
)


def _confusion_fold(letters: str) -> str:
    return letters.replace("rn", "m").translate(_CONFUSIONS)


# (deep pass) two nouns OCR glued into one word, read as the two words
_GLUED_NOUNS = {"hepatocellularcarcinoma": "hepatocellular carcinoma"}
_DEEP_BY_AFFIX = {key: list(nouns) for key, nouns in _GARBLED_BY_AFFIX.items()}
for _word in _GLUED_NOUNS:
    _DEEP_BY_AFFIX.setdefault("^" + _word[:2], []).append(_word)
    _DEEP_BY_AFFIX.setdefault("$" + _word[-2:], []).append(_word)
_FOLDED_NOUNS = {noun: _confusion_fold(noun) for noun in (*GARBLED_NOUNS, *_GLUED_NOUNS)}
for _word, _folded in _FOLDED_NOUNS.items():  # (deep pass) looked up by the folded letters' ends too
    _DEEP_BY_AFFIX.setdefault("f^" + _folded[:2], []).append(_word)
    _DEEP_BY_AFFIX.setdefault("f$" + _folded[-2:], []).append(_word)


def _garbled_nouns(text: str, deep: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, noun) for each run of 1-3 space-separated pieces whose letters (`ocr_fold`) are a garbled
    tumour noun of `GARBLED_NOUNS`: the fewest pieces with the smallest edit distance win. Only pieces near a
    four-letter stretch of a noun are tried; a run whose letters hold a whole noun ("NOCARCINOMA", "of
    carcinoma", "adenocarcinoid") or a real word near one is left alone."""
    folded = text.lower().translate(_OCR_LETTERS)  # same length as text
    anchors = [m.start() for m in (_DEEP_ANCHOR if deep else _NOUN_ANCHOR).finditer(folded)]
    if not anchors:
        return []
    pieces = [(m.start(), m.end()) for m in _PIECE.finditer(text)]
    starts = [p[0] for p in pieces]
    tried: set[int] = set()
    found: list[tuple[int, int, str]] = []
    done = -1  # pieces up to this index are taken by a repair
    for pos in anchors:
        at = bisect.bisect_right(starts, pos) - 1
        for i in range(max(at - _MAX_PIECES + 1, done + 1, 0), at + 1):
            if i in tried:
                continue
            tried.add(i)
            best = _best_noun(text, folded, pieces, i, deep)
            if best is None:
                continue
            _, count, noun = best
            first = _after_list_number(text, *pieces[i]) if deep else pieces[i][0]
            start, end = _trim(text, first, pieces[i + count - 1][1])
            raw = text[start:end]
            noun = _GLUED_NOUNS.get(noun, noun)
            if raw.lower() != noun:
                upper = sum(c.isupper() for c in raw) > sum(c.islower() for c in raw)
                found.append(
                    (start, end, noun.upper() if upper else noun.capitalize() if raw[:1].isupper() else noun)
                )
            done = i + count - 1
            break
    return found


def _digit_nouns(text: str) -> list[tuple[int, int, str]]:
    """(deep pass) (start, end, noun) for each word with a digit in it that spells a short tumour noun once its
    digits are read as letters ("6lioma": glioma)."""
    found = []
    for m in _DIGIT_WORD.finditer(text):
        word = m.group()
        if word.isdigit() or not 5 <= len(word) <= 9:
            continue
        for table in _DIGIT_LETTERS:
            noun = word.lower().translate(table)
            if noun in _SHORT_NOUNS:
                found.append((m.start(), m.end(), noun.capitalize() if word[1:2].islower() else noun.upper()))
                break
    return found


def _garbled_head(letters: str) -> tuple[int, int, str] | None:
    """(edit distance, 1, noun) when one piece spells a noun ending in another whole noun after a head at most
    one edit from the noun's ("adfnocarcinoma", "cholanciocarcinoma"); none for other words glued before a
    noun ("nocarcinoma", "andcarcinoma", "ofadenocarcinoma")."""
    for noun, tail in _HEADED_NOUNS:
        if letters.endswith(tail) and not letters.endswith(noun):
            dist = Levenshtein.distance(letters[: -len(tail)], noun[: -len(tail)], score_cutoff=1)
            if dist <= 1:
                return dist, 1, noun
    return None


def _after_carcinoma_word(text: str, pieces: list[tuple[int, int]], i: int) -> bool:
    """Whether the piece before piece `i` (same line) is a word that precedes 'carcinoma' ("Renal cell
    caroino", "hepatocellular carciaoina"): there one more edit is read as 'carcinoma'."""
    if not i or "\n" in text[pieces[i - 1][1] : pieces[i][0]]:
        return False
    return _LETTERS_ONLY.sub("", text[slice(*pieces[i - 1])].lower()) in _BEFORE_CARCINOMA


def _best_noun(
    text: str, folded: str, pieces: list[tuple[int, int]], i: int, deep: bool = False
) -> tuple[int, int, str] | None:
    """(edit distance, pieces, noun) of the garbled noun the pieces from `i` on spell, or None. The deep pass
    (`deep`) measures the distance on the letters with OCR's confusions folded (`_confusion_fold`) and allows
    one more edit in nouns of 11+ letters."""
    best: tuple[int, int, str] | None = None
    letters = first = ""
    for k in range(min(_MAX_PIECES, len(pieces) - i)):
        start, end = pieces[i + k]
        if deep and not k:
            start = _after_list_number(text, start, end)
        if k and "\n" in text[pieces[i + k - 1][1] : start]:
            break
        # (trimmed: the '!' ending "carcinomct!" is punctuation, not an 'l')
        letters += _LETTERS_ONLY.sub("", folded[slice(*_trim(text, start, end))])
        if not k:
            first = letters
            if len(first) < 2:
                return None
        plain = _LETTERS_ONLY.sub("", text[start:end].lower())
        if plain in _NOT_GARBLED:
            break
        if not k and letters in GARBLED_NOUNS:  # the noun itself, split by a symbol ("ADE:NOCARCINOMA")
            return 0, 1, letters
        if any(n in plain for n in _WHOLE_WORDS):  # a piece holding a word of its own ends the run ...
            return (best or _garbled_head(letters)) if not k else best  # ... but "ADf<:NOCARCINOMA"
        by_affix = _DEEP_BY_AFFIX if deep else _GARBLED_BY_AFFIX
        candidates = {*by_affix.get("^" + letters[:2], ()), *by_affix.get("$" + letters[-2:], ())}
        if deep:
            folded_letters = _confusion_fold(letters)
            candidates |= {
                *by_affix.get("f^" + folded_letters[:2], ()),
                *by_affix.get("f$" + folded_letters[-2:], ()),
            }
        for noun in candidates:
            limit = _allowed_edits(noun, deep and letters[0] == noun[0]) + (
                noun == "carcinoma" and not k and _after_carcinoma_word(text, pieces, i)
            )
            if abs(len(noun) - len(letters)) > limit:
                continue
            if k and _prefix_distance(first, noun, deep) > 1 + deep * (len(first) // 8):
                continue  # the pieces of a split noun: the first one begins it ("CARCI NOMA", "car ci norm")
            dist = Levenshtein.distance(letters, noun, score_cutoff=limit)
            if deep and dist > limit:
                dist = Levenshtein.distance(_confusion_fold(letters), _FOLDED_NOUNS[noun], score_cutoff=limit)
            if dist <= limit and (best is None or dist < best[0]) and not _nearer_real_word(letters, dist):
                best = (dist, k + 1, noun)
    return best


def _nearer_real_word(letters: str, dist: int) -> bool:
    """Whether the letters are nearer a real word that is no tumour noun ("oligodaeadroglial": oligodendroglial)."""
    return dist > 0 and any(
        Levenshtein.distance(letters, word, score_cutoff=dist) < dist for word in _NOT_GARBLED
    )


def _prefix_distance(first: str, noun: str, deep: bool) -> int:
    """Edit distance of the first piece's letters to the start of `noun` (`deep`: with OCR's confusions folded)."""
    if deep:
        first, noun = _confusion_fold(first), _FOLDED_NOUNS[noun]
    return Levenshtein.distance(first, noun[: len(first)])


_LIST_NUMBER = re.compile(r"\d{1,2}[.)]")


def _after_list_number(text: str, start: int, end: int) -> int:
    """(deep pass) The start of a piece after a list number glued to it ("1.Heoatace11uIarcarc")."""
    m = _LIST_NUMBER.match(text, start, end)
    return m.end() if m and m.end() < end else start


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing punctuation (kept in the text around the repaired noun)."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


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


def repair_text(text: str, typos: bool = True, deep: bool = False) -> RepairedText:
    """Unglue fields from the next heading, join OCR-split words and (with `typos`) correct misread tumour
    words (see the module docstring); `deep` (a third pass, for reports the second one reads no diagnosis in)
    reads garbled nouns through OCR's letter confusions with one more edit in long nouns."""
    found: list[tuple[int, int, str]] = []  # (start, end, replacement) in the original text
    for m in _GLUED_HEADING.finditer(text):
        found.append((m.start(), m.start(), "\n"))
    if _SPLIT_GATE.search(text):  # the full pattern only where two single letters follow each other
        for m in _SPLIT_WORD.finditer(text):
            found.append((m.start(), m.end(), m.group().replace(" ", "")))
    lowered = text.lower()
    words = _AFFIX_WORD.finditer(lowered if len(lowered) == len(text) else text) if typos else ()
    for m in words:  # only words sharing a first or last three letters with a tumour word
        fixed = _typo_fix(text[m.start() : m.end()])
        if fixed:
            found.append((m.start(), m.end(), fixed))
    if typos:
        found.extend(_garbled_nouns(text, deep))
        if deep:
            found.extend(_digit_nouns(text))
        for m in _CAPITAL_AFTER_WORD.finditer(text):
            if _GLUED_TUMOUR_WORD.match(text, m.start()):
                found.append((m.start(), m.start(), " "))
        if " ca" in lowered:
            for m in _CA_ABBREVIATION.finditer(text):
                found.append((m.start(1), m.end(1), "CARCINOMA" if m.group(1).isupper() else "carcinoma"))
    for m in _STRAY_CAPITAL.finditer(text) if "oma" in text else ():
        if m.start() == 0 or not text[m.start() - 1].isalpha():
            found.append((m.start() + 1, m.start() + 1, " "))
    breaks = {start for start, _, _ in found}
    if len(lowered) == len(text):
        for m in _GLUED_OMA.finditer(lowered):
            if lowered.endswith(_TUMOUR_STEMS, 0, m.start()) and m.end() not in breaks:
                found.append((m.end(), m.end(), " "))  # (a glued heading already gets its line break there)
    if "cellcarcinoma" in lowered or "squamouscarcinoma" in lowered:
        for m in _GLUED_CELL.finditer(text):
            found.append((m.end(), m.end(), " "))
    if any(variant in lowered for variant in _CELL_VARIANTS):
        for m in _CALL.finditer(text):
            if m.group()[-4:].lower() != "cell":
                cell = "CELL" if m.group()[-4:].isupper() else "cell"
                found.append((m.end() - 4, m.end(), cell))
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
