"""Strict TCGA project calls: the report's own grade, site and histologic type decide between projects."""

from __future__ import annotations

from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.extractions import report_projects
from pathreasoner.samples.project_choice import narrow_projects, renal_types
from pathreasoner.samples.reports import Report

GLIOMA = frozenset({"GBM", "LGG"})
COLORECTAL = frozenset({"COAD", "READ"})
RENAL = frozenset({"KIRC", "KIRP", "KICH"})


def test_who_grade_decides_glioma_projects() -> None:
    assert narrow_projects(GLIOMA, ["glioma"], "CNS WHO grade 4", [], set()) == ({"GBM"}, "WHO grade")
    assert narrow_projects(GLIOMA, ["glioma"], "CNS WHO grade 3", [], set()) == ({"LGG"}, "WHO grade")
    assert narrow_projects(GLIOMA, ["anaplastic astrocytoma", "astrocytoma"], None, [], set()) == (
        {"LGG"},
        "subtype",
    )
    assert narrow_projects(GLIOMA, ["glioma"], None, [], set()) is None


def test_site_decides_colorectal_projects() -> None:
    assert narrow_projects(COLORECTAL, ["adenocarcinoma"], None, ["rectosigmoid junction"], set()) == (
        {"READ"},
        "site",
    )
    assert narrow_projects(COLORECTAL, ["adenocarcinoma"], None, ["ascending colon"], set()) == (
        {"COAD"},
        "site",
    )
    assert narrow_projects(COLORECTAL, ["adenocarcinoma"], None, [], set()) is None


def test_renal_type_words() -> None:
    # KIDNEY.csv:row84 of the shared reports: the type on the next line, in its older name
    assert renal_types("1. Histologic type: Renal cell carcinoma, conventional (clear \ncell) type") == {
        "KIRC"
    }
    assert renal_types("papillary renal cell carcinoma, type 2") == {"KIRP"}
    assert narrow_projects(RENAL, ["renal cell carcinoma"], None, [], {"KIRC", "KIRP"}) is None
    assert narrow_projects(RENAL, ["renal cell carcinoma"], None, [], {"KICH"}) == (
        {"KICH"},
        "histologic type",
    )


def test_report_with_who_grade_gets_one_project(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nBrain, left frontal lobe, resection: Diffuse glioma, CNS WHO grade 3.\n"
        "COMMENT: The tumour is moderately cellular with mitoses.\n"
    )
    extraction = extract_report(Report("TCGA-AA-0003", None, text, "x.txt", "brain"), ctx)
    projects, basis = report_projects(extraction, ctx)
    assert projects == {"LGG"} and basis == "WHO grade"
