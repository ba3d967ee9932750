"""The project's organs (one per TCGA tissue of the 33 projects) and the organ a report's own text names.

Organ names are curated anatomic-site node names (pathreasoner/kg/data/curated.yaml). A report's organ comes
from its file name (the TCGA OCR CSVs are per organ) or from its text: a labelled primary site ("Site of
Primary: Uterus") or the specimen lines when they name a single organ. When both exist and disagree, the text
wins and the conflict is recorded (`resolve_organ`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathreasoner.samples.textscan import finditer_lines_at, scan_lower

ORGANS = (
    "head and neck",
    "colorectum",
    "kidney",
    "liver",
    "pancreas",
    "prostate",
    "bladder",
    "brain",
    "ovary",
    "cervix",
    "breast",
    "lung",
    "uterus",
    "pleura",
    "esophagus",
    "stomach",
    "thyroid gland",
    "skin",
    "soft tissue",
    "testis",
    "thymus",
    "adrenal gland",
    "eye",
    "lymph node",
    "bone marrow",
    "bile duct",
)

# file-name / label spellings (lower-case letters only) -> organ; TCGA project codes included
ORGAN_ALIASES: dict[str, str] = {
    **{
        key: "head and neck"
        for key in ("headandneck", "headnneck", "headneck", "hnsc", "hn", "oralcavity", "larynx")
    },
    **{key: "colorectum" for key in ("crc", "colorectal", "colon", "rectum", "coad", "read", "coadread")},
    **{key: "kidney" for key in ("renal", "kirc", "kirp", "kich")},
    **{key: "liver" for key in ("lihc", "hepatic")},
    "paad": "pancreas",
    "prad": "prostate",
    **{key: "bladder" for key in ("blca", "urinarybladder")},
    **{key: "brain" for key in ("gbm", "lgg", "cns", "gbmlgg")},
    **{key: "ovary" for key in ("ovarian", "ov", "ovaries")},
    **{key: "cervix" for key in ("cesc", "uterinecervix")},
    "brca": "breast",
    **{key: "lung" for key in ("luad", "lusc", "pulmonary")},
    **{key: "uterus" for key in ("ucec", "ucs", "uterine", "endometrium", "endometrial", "corpusuteri")},
    **{key: "pleura" for key in ("meso", "mesothelioma", "pleural")},
    **{key: "esophagus" for key in ("esca", "oesophagus", "esophageal", "oesophageal")},
    **{key: "stomach" for key in ("stad", "gastric")},
    **{key: "thyroid gland" for key in ("thca", "thyroid")},
    **{key: "skin" for key in ("skcm", "cutaneous")},
    **{key: "soft tissue" for key in ("sarc", "sarcoma", "softtissues")},
    **{key: "testis" for key in ("tgct", "testes", "testicular", "testicle")},
    **{key: "thymus" for key in ("thym", "thymic")},
    **{key: "adrenal gland" for key in ("acc", "pcpg", "adrenal", "adrenalglands")},
    **{key: "eye" for key in ("uvm", "uveal", "ocular", "uvea")},
    **{key: "lymph node" for key in ("dlbc", "lymphnodes", "lymphoma", "nodal")},
    **{key: "bone marrow" for key in ("laml", "marrow", "blood", "aml")},
    **{key: "bile duct" for key in ("chol", "bileducts", "biliary", "biliarytract")},
}

# organ named by report wording (procedures that resect several organs, such as a hysterectomy with
# salpingo-oophorectomy, name none): longer, more specific spellings first ("uterine cervix" is the cervix,
# "visceral pleura" the lung, "thyroid cartilage" the larynx). Each pattern is matched case-insensitively.
_ORGAN_WORDS: tuple[tuple[str, str], ...] = (
    ("cervix", r"uterine\s+cervix|cervix(?:\s+uteri)?|endocervi\w*|ectocervi\w*|exocervi\w*|trachelectomy"),
    ("lung", r"visceral\s+pleura\w*|lungs?|pulmonary|pneumonectomy|bronch\w*|(?:upper|middle|lower)\s+lobe"),
    (
        "head and neck",
        r"thyroid\s+cartilage|laryn\w*|tongue|glossectomy|oral\s+cavity|floor\s+of\s+(?:the\s+)?mouth"
        r"|tonsil\w*|oropharyn\w*|hypopharyn\w*|nasopharyn\w*|pharyn\w*|gingiva\w*|buccal|palate|mandib\w*|maxill\w*"
        r"|epiglott\w*|vocal\s+cords?|head\s+and\s+neck|neck\s+dissection|parotid",
    ),
    ("esophagus", r"gastro-?\s?o?esophageal\s+junction|o?esophag\w*"),
    ("stomach", r"stomach|gastric|gastrectomy|antrum|pylor\w*"),
    (
        "colorectum",
        r"(?:hepatic|splenic)\s+flexure|colon|colonic|colectomy|hemicolectomy|c(?:a)?ecum|sigmoid|rect(?:um|al)|rectosigmoid"
        r"|colorectal|large\s+(?:bowel|intestine)|anterior\s+resection|abdominoperineal",
    ),
    (
        "bile duct",
        r"(?:common\s+|extrahepatic\s+|hilar\s+|perihilar\s+)?bile\s+ducts?|(?:common\s+)?hepatic\s+duct|biliary",
    ),
    ("kidney", r"kidneys?|renal|nephrectomy|nephroureterectomy"),
    ("liver", r"liver|hepatic|hepatectomy"),
    ("pancreas", r"pancrea\w*|whipple|pancreaticoduodenectomy"),
    ("prostate", r"prostat\w*"),
    ("bladder", r"(?:urinary\s+)?bladder|cystectomy|turbt"),
    ("brain", r"brain|cerebr\w*|cerebell\w*|(?:frontal|temporal|parietal|occipital)\s+lobe|craniotomy"),
    ("ovary", r"ovary|ovaries|ovarian|adnexa\w*"),
    ("uterus", r"uterus|uterine|endometrium|endometrial|myometri\w*|corpus\s+uteri"),
    ("breast", r"breast|mastectomy|lumpectomy|mammary"),
    ("pleura", r"pleura|pleural|pleurectomy|decortication"),
    ("thyroid gland", r"thyroid\w*"),
    ("testis", r"testis|testes|testicle|testicular|orchi(?:d)?ectomy|spermatic\s+cord"),
    ("thymus", r"thymus|thymic|thymectomy|anterior\s+mediastin\w*"),
    ("adrenal gland", r"adrenal\w*|suprarenal"),
    ("eye", r"eye|globe|enucleation|choroid\w*|ciliary\s+body|uvea\w*|intraocular|ocular"),
    ("skin", r"skin|cutaneous|dermis|epidermis"),
    ("soft tissue", r"soft\s+tissue|retroperitone\w*"),
    ("lymph node", r"lymph\s+nodes?"),
    ("bone marrow", r"bone\s+marrow|peripheral\s+blood"),
)
_WORDS = re.compile(
    "|".join(rf"(?P<g{i}>\b(?:{pattern})\b)" for i, (_, pattern) in enumerate(_ORGAN_WORDS)), re.I
)
# organs that are named beside most primaries (nodes, the overlying skin, soft tissue, a staging marrow): a
# specimen line chooses them only when it names no other organ
CARRIER_ORGANS = frozenset({"lymph node", "skin", "soft tissue", "bone marrow"})
# organs that are also where other primaries spread or are staged (regional nodes, a staging marrow): a site
# there never tells the organ of the tumour (KGContext.organ_of_site skips them); a file name or a specimen
# line naming only them still does
STAGING_ORGANS = frozenset({"lymph node", "bone marrow"})
# a labelled primary site; its value is read up to the end of the line
_PRIMARY = re.compile(
    r"^[ \t]*(?:site\s+of\s+(?:the\s+)?primary(?:\s+tumou?r)?|primary\s+(?:tumou?r\s+)?site|tumou?r\s+site"
    r"|primary\s+site|anatomic(?:al)?\s+site|primary\s+organ|organ|tumou?r\s+location|location\s+of\s+tumou?r)"
    r"[ \t]*[:=\-][ \t]*(?P<value>[^\n]{1,160})",
    re.I | re.M,
)
# labelled specimen lines, "Specimen(s): A. Liver biopsy / B. Right hemicolectomy", with the lettered parts
# continued on the next lines
_SPECIMEN = re.compile(
    r"^[ \t]*(?:specimens?(?:\s*\(s\))?(?:\s+(?:type|site|source|submitted|received|labell?ed))?"
    r"|source\s+of\s+specimen|tissue\s+source)[ \t]*[:=\-][ \t]*"
    r"(?P<value>[^\n]{1,200}(?:\n[ \t]*[A-H1-9][ \t]*[.:)][^\n]{0,200}){0,8})",
    re.I | re.M,
)
# the operation ("Procedure: radical hysterectomy"): weaker, one operation often takes several organs
_PROCEDURE = re.compile(
    r"^[ \t]*(?:operative\s+)?procedure[ \t]*[:=\-][ \t]*(?P<value>[^\n]{1,200})", re.I | re.M
)
# specimen parts headed in capitals, "A. LEFT KIDNEY, RADICAL NEPHRECTOMY:" (weaker: lists number findings too)
_PART = re.compile(r"^[ \t]*(?:PART\s+)?[A-H1-9][.)][ \t]*(?P<value>[A-Z][A-Z ,/()\-]{3,160}):", re.M)
# the words each labelled line opens with (after spaces/tabs): the patterns are tried only on lines holding one
_PRIMARY_WORDS = ("site", "primary", "tumo", "anatomic", "organ", "location")
_LABEL_WORDS: dict[re.Pattern[str], tuple[str, ...]] = {
    _SPECIMEN: ("specimen", "source", "tissue"),
    _PROCEDURE: ("operative", "procedure"),
}
# sources strong enough to override a file name (a part heading or a carrier organ never does)
OVERRIDING_SOURCES = frozenset({"text:site_of_primary", "text:specimen"})


@dataclass(frozen=True, slots=True)
class OrganCall:
    """The organ of a report and where it came from.

    source: "file_name", "text:site_of_primary", "text:specimen", "text:specimen_part",
    "text:procedure" or "none"; span: the
    characters of the text that name the organ (None when the text does not); file_organ: the organ the file
    name gave; conflict: why the text overrode the file name (None when they agree or only one names one).
    """

    organ: str | None
    source: str
    span: tuple[int, int] | None = None
    file_organ: str | None = None
    conflict: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the extractions.jsonl `organ` fields)."""
        return {
            "organ": self.organ,
            "source": self.source,
            "span": list(self.span) if self.span else None,
            "file_organ": self.file_organ,
            "conflict": self.conflict,
        }


def organs_named(text: str, start: int = 0, end: int | None = None) -> list[tuple[str, int, int]]:
    """(organ, start, end) for every organ word in text[start:end], in text order."""
    stop = len(text) if end is None else end
    found = []
    for m in _WORDS.finditer(text, start, stop):
        index = int(m.lastgroup[1:]) if m.lastgroup else -1
        found.append((_ORGAN_WORDS[index][0], m.start(), m.end()))
    return found


def organ_from_text(text: str) -> OrganCall:
    """The organ the report text names: a labelled primary site first, else labelled specimen lines, else
    capitalised specimen part headings, else the procedure, that name one organ (carriers such as lymph nodes or skin count only
    when nothing else is named); else no call."""
    lowered = scan_lower(text)
    for m in finditer_lines_at(_PRIMARY, text, lowered, _PRIMARY_WORDS):
        named = organs_named(text, m.start("value"), m.end("value"))
        if named:
            organ, start, end = named[0]
            return OrganCall(organ, "text:site_of_primary", (start, end))
    for pattern, source in (
        (_SPECIMEN, "text:specimen"),
        (_PART, "text:specimen_part"),
        (_PROCEDURE, "text:procedure"),
    ):
        words = _LABEL_WORDS.get(pattern)
        matches = finditer_lines_at(pattern, text, lowered, words) if words else pattern.finditer(text)
        named = [hit for m in matches for hit in organs_named(text, m.start("value"), m.end("value"))]
        organs = {organ for organ, _, _ in named}
        chosen = (organs - CARRIER_ORGANS) or organs
        if len(chosen) == 1:
            organ = chosen.pop()
            start, end = next((s, e) for o, s, e in named if o == organ)
            return OrganCall(organ, source, (start, end))
        if chosen:  # several organs named: the specimen lines cannot decide
            break
    return OrganCall(None, "none")


def resolve_organ(file_organ: str | None, text: str) -> OrganCall:
    """The report's organ from its file name and its text. A text that names another organ in a primary-site
    or specimen label wins (a part heading or a carrier organ such as lymph nodes never does), and the call
    records the conflict with both organs and the words that decided it."""
    from_text = organ_from_text(text)
    overrides = from_text.source in OVERRIDING_SOURCES and from_text.organ not in CARRIER_ORGANS
    if from_text.organ is None or from_text.organ == file_organ or (file_organ and not overrides):
        if file_organ is None:
            return from_text
        same = from_text.organ == file_organ
        return OrganCall(file_organ, "file_name", from_text.span if same else None, file_organ)
    if file_organ is None:
        return OrganCall(from_text.organ, from_text.source, from_text.span)
    start, end = from_text.span or (0, 0)
    reason = (
        f"file name says {file_organ!r} but the text names {from_text.organ!r} "
        f"({from_text.source.split(':', 1)[1]} {text[start:end]!r} at {start}-{end}); the text wins"
    )
    return OrganCall(from_text.organ, from_text.source, from_text.span, file_organ, reason)
