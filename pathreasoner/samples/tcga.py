"""Map a linked diagnosis (and its organ) to the TCGA project codes it is compatible with.

Used to measure extraction against the patients' TCGA project labels: a diagnosis that names a subtype
(clear cell RCC, cholangiocarcinoma, glioblastoma) maps to one project; a generic one (carcinoma of the
kidney) maps to every project of its organ. An unmappable diagnosis maps to the empty set.

`candidate_projects` then narrows a multi-project set with what else the report states: the CNS WHO grade
(GBM vs LGG), the site (rectum vs colon, oesophagus vs stomach), the histology (squamous vs adenocarcinoma of
the lung, carcinosarcoma vs carcinoma of the uterus) or the organ (a melanoma of the eye is UVM).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pathreasoner.samples.context import KGContext

ORGAN_PROJECTS: dict[str, frozenset[str]] = {
    "head and neck": frozenset({"HNSC"}),
    "colorectum": frozenset({"COAD", "READ"}),
    "kidney": frozenset({"KIRC", "KIRP", "KICH"}),
    "liver": frozenset({"LIHC", "CHOL"}),
    "pancreas": frozenset({"PAAD"}),
    "prostate": frozenset({"PRAD"}),
    "bladder": frozenset({"BLCA"}),
    "brain": frozenset({"GBM", "LGG"}),
    "ovary": frozenset({"OV"}),
    "cervix": frozenset({"CESC"}),
    "breast": frozenset({"BRCA"}),
    "lung": frozenset({"LUAD", "LUSC"}),
    "uterus": frozenset({"UCEC", "UCS"}),
    "pleura": frozenset({"MESO"}),
    "esophagus": frozenset({"ESCA"}),
    "stomach": frozenset({"STAD"}),
    "thyroid gland": frozenset({"THCA"}),
    "skin": frozenset({"SKCM"}),
    "soft tissue": frozenset({"SARC"}),
    "testis": frozenset({"TGCT"}),
    "thymus": frozenset({"THYM"}),
    "adrenal gland": frozenset({"ACC", "PCPG"}),
    "eye": frozenset({"UVM"}),
    "lymph node": frozenset({"DLBC"}),
    "bone marrow": frozenset({"LAML"}),
    "bile duct": frozenset({"CHOL"}),
}
TCGA_PROJECTS = frozenset().union(*ORGAN_PROJECTS.values())

# (pattern on the diagnosis name or one of its is_a ancestors, projects); first match wins. Tumours that
# are not carcinomas of their organ's usual project come first: a lymphoma of the brain is DLBC, a
# paraganglioma of the neck PCPG, a leiomyosarcoma of the uterus SARC.
SUBTYPE_PROJECTS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(p), frozenset(codes))
    for p, codes in (
        (r"lymphoma", {"DLBC"}),
        (r"myeloid leuk", {"LAML"}),
        (r"paraganglioma|pheochromocytoma", {"PCPG"}),
        (r"adrenocortical", {"ACC"}),
        (r"mesothelioma", {"MESO"}),
        (r"thymoma|thymic", {"THYM"}),
        (r"germ cell|seminoma|embryonal carcinoma|yolk sac|teratoma|choriocarcinoma", {"TGCT"}),
        (r"uveal|choroidal|ciliary body|ocular melanoma", {"UVM"}),
        (r"cutaneous|nodular melanoma|superficial spreading|lentigo maligna|acral", {"SKCM"}),
        (r"melanoma", {"SKCM", "UVM"}),
        (r"\bsarcoma\b|leiomyosarcoma|liposarcoma|myxofibrosarcoma|nerve sheath", {"SARC"}),
        (r"thyroid", {"THCA"}),
        (r"uterine carcinosarcoma", {"UCS"}),
        (r"endometrial|uterine", {"UCEC"}),
        (r"glioblastoma|gliosarcoma", {"GBM"}),
        (r"clear cell renal", {"KIRC"}),
        (r"papillary renal", {"KIRP"}),
        (r"chromophobe", {"KICH"}),
        (
            r"combined hepatocellular|mixed hepatocellular|hepatocholangio",
            {"LIHC", "CHOL"},
        ),  # both components
        (r"cholangiocarcinoma|bile duct", {"CHOL"}),
        (r"hepatocellular|fibrolamellar|hepatoblastoma", {"LIHC"}),
        (r"astrocytoma|oligodendroglioma|oligoastrocytoma|glioma", {"GBM", "LGG"}),
        (r"\bcolon\b", {"COAD"}),
        (r"\brect(al|um)\b", {"READ"}),
        (r"colorectal", {"COAD", "READ"}),
        (r"urothelial|bladder", {"BLCA"}),
        (r"prostat", {"PRAD"}),
        (r"pancrea", {"PAAD"}),
        (r"ovar|serous tubal|high-grade serous|low-grade serous", {"OV"}),
        (r"cervi", {"CESC"}),
        (r"breast|ductal carcinoma in situ|lobular carcinoma", {"BRCA"}),
        (r"lung adenocarcinoma", {"LUAD"}),
        (r"lung squamous", {"LUSC"}),
        (r"gastroesophageal|esophagogastric", {"ESCA", "STAD"}),
        (r"esophag|oesophag", {"ESCA"}),
        (r"gastric|stomach", {"STAD"}),
        (r"laryn|oral|tongue|pharyn|tonsil|head and neck", {"HNSC"}),
        (r"renal|kidney", {"KIRC", "KIRP", "KICH"}),
    )
)


@dataclass(frozen=True, slots=True)
class ProjectCall:
    """The TCGA projects a diagnosis is compatible with, and what decided it."""

    projects: frozenset[str]
    basis: str  # "subtype" (the diagnosis names it), "organ" (organ of the diagnosis) or "none"


def projects_for(diagnosis: str, organ: str | None, ctx: KGContext) -> ProjectCall:
    """TCGA projects compatible with a linked diagnosis; `organ` is used when the diagnosis is generic."""
    for name in (diagnosis, *ctx.ancestors(diagnosis, ("is_a",))):
        lowered = name.lower()
        for pattern, codes in SUBTYPE_PROJECTS:
            if pattern.search(lowered):
                return ProjectCall(codes, "subtype")
    where = ctx.organ_of_diagnosis(diagnosis) or organ
    if where in ORGAN_PROJECTS:
        return ProjectCall(ORGAN_PROJECTS[where], "organ")
    return ProjectCall(frozenset(), "none")


# sites that decide between the projects of one organ (site name or one of its part_of/is_a ancestors)
SITE_PROJECTS: tuple[tuple[str, str], ...] = (
    ("rectosigmoid junction", ""),  # staged as rectum or colon by different centres: the site cannot decide
    ("rectum", "READ"),
    ("colon", "COAD"),
    ("gastroesophageal junction", ""),  # TCGA has GEJ adenocarcinomas in both ESCA and STAD
    ("esophagus", "ESCA"),
    ("stomach", "STAD"),
    ("uvea", "UVM"),
    ("eye", "UVM"),
    ("skin", "SKCM"),
)
# histology (a word of the diagnosis name or its is_a ancestors) that decides between an organ's projects
HISTOLOGY_PROJECTS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(pair), re.compile(pattern), code)
    for pair, pattern, code in (
        ({"LUAD", "LUSC"}, r"squamous", "LUSC"),
        ({"LUAD", "LUSC"}, r"adenocarcinoma", "LUAD"),
        ({"UCEC", "UCS"}, r"carcinosarcoma|mixed m[uü]llerian", "UCS"),
        ({"UCEC", "UCS"}, r"carcinoma", "UCEC"),
        ({"GBM", "LGG"}, r"glioblastoma|gliosarcoma", "GBM"),
        ({"ESCA", "STAD"}, r"squamous", "ESCA"),
        ({"ACC", "PCPG"}, r"adrenocortical|cortical", "ACC"),
        ({"ACC", "PCPG"}, r"pheochromocytoma|paraganglioma", "PCPG"),
    )
)
_CNS_GRADE = re.compile(r"CNS WHO grade ([1-4])")
_LOWER_GRADE_GLIOMA = re.compile(
    r"oligodendroglioma|oligoastrocytoma|diffuse astrocytoma|anaplastic|low[- ]grade (?:glioma|astrocytoma)"
)


def candidate_projects(
    organ: str | None,
    diagnosis: str | None,
    grade: str | None = None,
    site: str | Sequence[str] | None = None,
    ctx: KGContext | None = None,
) -> tuple[frozenset[str], str]:
    """The TCGA projects a report is compatible with and the basis for them, narrowed to one project where
    the report decides it: histology, the CNS WHO grade (2-3: LGG, 4: GBM), the site, the organ.

    `grade` is a curated grade name ("CNS WHO grade 4"); `site` an anatomic-site name, or several (the tumour
    site first, then other sites the diagnosis names: the first that decides wins); with `ctx` the is_a
    ancestors of the diagnosis and the part_of ancestors of the site are used too. The basis names each
    deciding step ("subtype: glioma; grade: CNS WHO grade 4"); "none" when nothing maps.
    """
    if diagnosis and ctx is not None:
        call = projects_for(diagnosis, organ, ctx)
        lineage = [diagnosis, *ctx.ancestors(diagnosis, ("is_a",))]
    else:
        call = _projects_without_kg(diagnosis, organ)
        lineage = [diagnosis] if diagnosis else []
    projects = call.projects
    if not projects:
        return projects, "none"
    steps = [f"{call.basis}: {diagnosis}" if call.basis == "subtype" else f"organ: {organ}"]
    sites = [site] if isinstance(site, str) else list(site or [])
    if call.basis == "subtype" and sites and organ in ORGAN_PROJECTS and projects < ORGAN_PROJECTS[organ]:
        # a site-named subtype ("rectal adenocarcinoma") whose stated tumour site says otherwise
        code = _site_code(sites[0], ctx)
        if code and code not in projects:  # a junction ("") does not contradict either side
            steps.append(f"site: {sites[0]} (contradicts it)")
            return ORGAN_PROJECTS[organ] & (projects | {code}), "; ".join(steps)
    if len(projects) > 1:
        projects, step = _narrow(projects, organ, lineage, grade, sites, ctx)
        if step:
            steps.append(step)
    return projects, "; ".join(steps)


def _projects_without_kg(diagnosis: str | None, organ: str | None) -> ProjectCall:
    if diagnosis:
        lowered = diagnosis.lower()
        for pattern, codes in SUBTYPE_PROJECTS:
            if pattern.search(lowered):
                return ProjectCall(codes, "subtype")
    if organ in ORGAN_PROJECTS:
        return ProjectCall(ORGAN_PROJECTS[organ], "organ")
    return ProjectCall(frozenset(), "none")


def _narrow(
    projects: frozenset[str],
    organ: str | None,
    lineage: list[str],
    grade: str | None,
    sites: list[str],
    ctx: KGContext | None,
) -> tuple[frozenset[str], str]:
    """One rule that leaves a single project of `projects`, with its basis; else `projects` unchanged."""
    for pair, pattern, code in HISTOLOGY_PROJECTS:
        if projects == pair and any(pattern.search(name.lower()) for name in lineage):
            return frozenset({code}), f"histology: {next(n for n in lineage if pattern.search(n.lower()))}"
    if projects == {"GBM", "LGG"}:
        m = _CNS_GRADE.match(grade or "")
        if m:
            return frozenset({"GBM" if m.group(1) == "4" else "LGG"}), f"grade: {grade}"
        if lineage and _LOWER_GRADE_GLIOMA.search(lineage[0].lower()):
            return frozenset({"LGG"}), f"histology: {lineage[0]} (a WHO grade 2-3 glioma)"
    for one in sites:
        code = _site_code(one, ctx)
        if code and code in projects:
            return frozenset({code}), f"site: {one}"
        if code == "":
            return projects, ""
    if organ in ORGAN_PROJECTS and len(projects & ORGAN_PROJECTS[organ]) == 1:
        return projects & ORGAN_PROJECTS[organ], f"organ: {organ}"
    if projects == {"SKCM", "UVM"} and organ not in (None, "eye"):
        return frozenset({"SKCM"}), f"organ: {organ} (a melanoma outside the eye)"
    return projects, ""


def _site_code(site: str, ctx: KGContext | None) -> str | None:
    """The project a site (or one of its ancestors) decides: a code, "" for a junction that cannot decide,
    None when the site says nothing about the project."""
    names = (site, *(ctx.ancestors(site) if ctx is not None else []))
    for name in names:
        for site_name, code in SITE_PROJECTS:
            if name == site_name:
                return code
    return None
