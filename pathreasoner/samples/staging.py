"""Readers for staging systems other than AJCC pT/pN: the FIGO stage of gynaecological reports.

AJCC pT/pN are read by `synoptic.parse_pt` / `parse_pn` for every organ; the FIGO stage is read only where a
report states it ("FIGO stage: IB", "Stage (FIGO): IIIC1", "FIGO IA"), never derived from pT.
"""

from __future__ import annotations

import re

GYNAECOLOGICAL_ORGANS = frozenset({"uterus", "cervix", "ovary"})
_FIGO_STAGE = re.compile(
    r"\bFIGO\b[ \t]*(?:\(\d{4}\))?[ \t]*(?:stage|staging)?[ \t]*(?:\(\d{4}\))?[ \t]*[:=\-]?[ \t]*"
    r"(?:stage[ \t]*)?(?P<stage>IV|I{1,3})[ \t]*(?P<sub>[ABC][12]?)?(?![A-Za-z0-9])"
    r"|\bstage[ \t]*\(FIGO\)[ \t]*[:=\-]?[ \t]*(?P<stage2>IV|I{1,3})[ \t]*(?P<sub2>[ABC][12]?)?(?![A-Za-z0-9])",
    re.I,
)


def parse_figo_stage(text: str) -> str | None:
    """The FIGO stage a report states, as "FIGO stage IIIC1"; None when it states none. A FIGO *grade* is
    not a stage ("FIGO grade 2" is skipped)."""
    m = _FIGO_STAGE.search(text)
    if m is None:
        return None
    stage = m.group("stage") or m.group("stage2")
    sub = m.group("sub") or m.group("sub2") or ""
    return f"FIGO stage {stage.upper()}{sub.upper()}"
