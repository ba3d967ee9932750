"""Synthetic demo reports: deterministic, marked synthetic, drawn from the curated KG."""

from __future__ import annotations

from pathreasoner.samples.demo_reports import PROFILES, SYNTHETIC_MARK, curated_name_exists, make_demo_cases


def test_cases_are_deterministic_and_marked() -> None:
    first, again, other = make_demo_cases(6, 0), make_demo_cases(6, 0), make_demo_cases(6, 1)
    assert first == again and first != other
    assert [c.patient_id for c in first] == [f"DEMO-{i:04d}" for i in range(1, 7)]
    assert all(c.slide_id == f"{c.patient_id}-01" for c in first)
    assert all(SYNTHETIC_MARK in c.report_text for c in first)
    for section in ("FINAL DIAGNOSIS:", "MICROSCOPIC DESCRIPTION:", "GROSS DESCRIPTION:", "SYNOPTIC REPORT"):
        assert all(section in c.report_text for c in first)
    assert len({c.organ for c in first}) == 6  # a small cohort already spans several organs


def test_every_profile_names_curated_kg_nodes() -> None:
    cases = make_demo_cases(len(PROFILES) * 2, 0)
    assert {c.organ for c in cases} == {p.organ for p in PROFILES}
    for profile in PROFILES:
        assert curated_name_exists(profile.organ)
        assert all(curated_name_exists(s) for s in profile.sites)
        assert all(curated_name_exists(d) for d, _ in profile.diagnoses)
        assert all(curated_name_exists(g) for g, _ in profile.grades)
        scheme_nodes = [
            f"{stage.pt} ({s})" for stage in profile.stages for s in ("oral cavity", profile.organ)
        ]
        assert all(
            any(curated_name_exists(n) for n in scheme_nodes if n.startswith(stage.pt + " "))
            for stage in profile.stages
        )
    for case in cases:
        assert curated_name_exists(case.diagnosis) and curated_name_exists(case.labels["grade"])
        assert case.labels["diagnosis"] == case.diagnosis
