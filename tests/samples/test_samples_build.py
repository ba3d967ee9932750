"""build-samples end to end: demo reports (+ fake tile views) → contract-shaped records, split, lexicon, card."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pathreasoner.config import Config
from pathreasoner.errors import DatasetError
from pathreasoner.io_utils import read_jsonl
from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.response import is_well_formed, parse_response
from pathreasoner.samples.build import build_samples
from pathreasoner.samples.demo_reports import make_demo_cases
from pathreasoner.samples.reports import load_reports

RECORD_KEYS = {
    "id",
    "patient_id",
    "slide_id",
    "organ",
    "split",
    "question_type",
    "question",
    "images",
    "findings",
    "diagnosis",
    "gt_entities",
    "kg_paths",
    "response",
    "answer",
    "provenance",
}
NO_DIAGNOSIS = (
    "FINAL DIAGNOSIS:\nSkin, shave biopsy: benign seborrheic keratosis, negative for malignancy.\n" * 2
)


def _tiles(root: Path, slide_ids: list[str]) -> Path:
    """A tile-slides-shaped folder: <slide>/views.json listing views/thumbnail.jpg first."""
    for i, slide_id in enumerate(slide_ids):
        views = root / slide_id / "views"
        views.mkdir(parents=True)
        Image.new("RGB", (600, 400), (200, 120 + i, 180)).save(views / "thumbnail.jpg")
        Image.new("RGB", (256, 256), (150, 90, 160)).save(views / "tile_00.jpg")
        Image.new("RGB", (256, 256), (160, 80, 150)).save(views / "tile_01.jpg")
        (root / slide_id / "views.json").write_text(
            json.dumps(["views/thumbnail.jpg", "views/tile_00.jpg", "views/tile_01.jpg"])
        )
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, kg_dir: Path) -> tuple[Path, object, Config]:
    root = tmp_path_factory.mktemp("build")
    cases = make_demo_cases(12, seed=0)
    rows = [
        {"patient_id": c.patient_id, "slide_id": c.slide_id, "organ": c.organ, "text": c.report_text}
        for c in cases
    ]
    rows.append(
        {
            "patient_id": "TCGA-AA-0001",
            "slide_id": None,
            "text": cases[0].report_text.replace("DEMO-0001", "TCGA-AA-0001"),
        }
    )
    rows.append({"patient_id": "BAD-0001", "slide_id": "BAD-0001-01", "text": NO_DIAGNOSIS})
    reports = root / "reports.jsonl"
    reports.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tiles = _tiles(root / "tiles", [c.slide_id for c in cases[:4]] + ["TCGA-AA-0001-01A-01-TS1"])
    cfg = Config()
    summary = build_samples(reports, tiles, kg_dir, root / "samples", cfg)
    return root / "samples", summary, cfg


def test_outputs_and_records_follow_the_contract(built) -> None:
    out, summary, cfg = built
    for name in (
        "samples.jsonl",
        "train.jsonl",
        "val.jsonl",
        "test.jsonl",
        "entity_lexicon.json",
        "entity_types.json",
        "entity_ancestors.json",
        "grounding.json",
        "card.json",
        "summary.json",
    ):
        assert (out / name).is_file(), name
    grounding = json.loads((out / "grounding.json").read_text())
    lexicon_names = set(json.loads((out / "entity_lexicon.json").read_text()))
    assert grounding["entities"] and set(grounding["entities"]) <= lexicon_names
    records = read_jsonl(out / "samples.jsonl")
    assert len(records) == summary.n_records and summary.n_reports == 13 and summary.n_quarantined == 1
    assert "build-samples:" in summary.line() and "reports/s" in summary.line()
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["question_type"] in cfg.samples.question_types and r["question"].endswith(("?", "."))
        assert is_well_formed(r["response"]) and parse_response(r["response"]).answer == r["answer"]
        assert r["gt_entities"] and r["gt_entities"] == sorted(set(r["gt_entities"]))
        assert r["findings"] and r["diagnosis"]
        assert all(
            set(p) == {"nodes", "relations"} and len(p["nodes"]) == len(p["relations"]) + 1
            for p in r["kg_paths"]
        )
        assert r["provenance"]["writer"] == "template" and len(r["provenance"]["kg_version"]) == 16
        assert "provided answer" not in r["response"] and "aligns with" not in r["response"]
    types = {r["question_type"] for r in records}
    assert {"diagnosis", "grade", "pT", "pN", "margin", "lvi", "report", "subtype"} <= types
    assert sum(bool(r["kg_paths"]) for r in records) / len(records) > 0.9


def test_gt_entities_are_what_the_reward_matcher_finds(built) -> None:
    out, _, _ = built
    lexicon = json.loads((out / "entity_lexicon.json").read_text())
    matcher = EntityMatcher.from_lexicon(lexicon)
    for r in read_jsonl(out / "samples.jsonl"):
        parsed = parse_response(r["response"])
        assert sorted(matcher.entities(f"{parsed.observe}\n{parsed.think}")) == r["gt_entities"]
        assert set(r["gt_entities"]) <= set(lexicon)
        for path in r["kg_paths"]:
            assert path["nodes"][-1] in lexicon and path["nodes"][0] in lexicon


def test_only_stated_facts_become_questions(built) -> None:
    out, _, _ = built
    records = read_jsonl(out / "samples.jsonl")
    cases = {c.patient_id: c for c in make_demo_cases(12, seed=0)}
    by_patient: dict[str, dict[str, dict]] = {}
    for r in records:
        by_patient.setdefault(r["patient_id"], {})[r["question_type"]] = r
    for patient, questions in by_patient.items():
        if patient not in cases:
            continue
        labels = cases[patient].labels
        assert ("pT" in questions) == ("pT" in labels) and ("margin" in questions) == ("margin" in labels)
        if "pT" in labels:
            assert questions["pT"]["answer"] == labels["pT"] and questions["pN"]["answer"] == labels["pN"]
            assert (
                any(p["nodes"][-1].startswith(labels["pT"]) for p in questions["pT"]["kg_paths"])
                or labels["pT"] in questions["pT"]["response"]
            )
        assert questions["grade"]["answer"] == labels["grade"]


def test_patient_level_split_and_images(built) -> None:
    out, _, _ = built
    records = read_jsonl(out / "samples.jsonl")
    splits: dict[str, set[str]] = {}
    for r in records:
        splits.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    per_split = {name: len(read_jsonl(out / f"{name}.jsonl")) for name in ("train", "val", "test")}
    assert min(per_split.values()) > 0 and sum(per_split.values()) == len(records)
    by_patient = {r["patient_id"]: r for r in records}
    first = by_patient["DEMO-0001"]
    assert first["images"] == ["images/DEMO-0001-01/00_thumbnail.jpg", "images/DEMO-0001-01/01_tile_00.jpg"]
    with Image.open(out / first["images"][0]) as thumb:
        assert max(thumb.size) == 112 and thumb.size == (112, 75)
    linked = by_patient["TCGA-AA-0001"]  # no slide id in the report: linked by patient-id prefix
    assert linked["slide_id"] == "TCGA-AA-0001-01A-01-TS1" and len(linked["images"]) == 2
    assert by_patient["DEMO-0010"]["images"] == [] and by_patient["DEMO-0010"]["slide_id"] == "DEMO-0010-01"


def test_card_and_quarantine(built) -> None:
    out, _, _ = built
    card = json.loads((out / "card.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert (
        card["n_records"]
        == sum(card["records_by_split"].values())
        == sum(card["records_by_question_type"].values())
    )
    assert card["records_by_organ"]["head and neck"] > 0 and len(card["records_by_organ"]) >= 10
    assert card["quarantined"] == 1 and card["entities"]["distinct_gt_entities"] > 50 and card["kg_version"]
    assert summary["quarantine"] == [
        {"item": "reports.jsonl:14", "reason": summary["quarantine"][0]["reason"]}
    ]
    assert "no diagnosis" in summary["quarantine"][0]["reason"]


def test_deterministic_rebuild(built, kg_dir: Path, tmp_path: Path) -> None:
    out, _, cfg = built
    again = build_samples(out.parent / "reports.jsonl", out.parent / "tiles", kg_dir, tmp_path / "again", cfg)
    assert (tmp_path / "again" / "samples.jsonl").read_text() == (out / "samples.jsonl").read_text()
    assert again.n_records == len(read_jsonl(out / "samples.jsonl"))


def test_all_reports_bad_is_an_error(
    tmp_path: Path, kg_dir: Path, write_reports: Callable[..., Path]
) -> None:
    reports = write_reports(tmp_path / "r.jsonl", [], extra=[{"patient_id": "X", "text": NO_DIAGNOSIS}])
    with pytest.raises(DatasetError, match="no samples could be built"):
        build_samples(reports, None, kg_dir, tmp_path / "out", Config())
    assert not (tmp_path / "out").exists()


@pytest.mark.shared_data
def test_tcga_ocr_smoke(shared_data: Path, tmp_path: Path, kg_dir: Path) -> None:
    folder = tmp_path / "tcga"
    folder.mkdir()
    for name in ("HEADnNECK.csv", "KIDNEY.csv"):
        frame = pd.read_csv(
            shared_data / "reports" / "tcga-ocr" / name, dtype=str, keep_default_na=False
        ).head(50)
        frame.loc[len(frame)] = {
            **{c: "" for c in frame.columns},
            "pdf_file_name_path": "TCGA-ZZ-9999.pdf",
            "ocr_text": "@@@ ### 123 |||| ;;;; 456 ^^^ " * 5,
        }
        frame.to_csv(folder / name, index=False)
    summary = build_samples(folder, None, kg_dir, tmp_path / "samples", Config())
    records = read_jsonl(tmp_path / "samples" / "samples.jsonl")
    quarantine = json.loads((tmp_path / "samples" / "summary.json").read_text())["quarantine"]
    assert summary.n_reports >= 60 and len(records) > 200
    assert {r["organ"] for r in records} == {"head and neck", "kidney"}
    assert {"HEADnNECK.csv:row52", "KIDNEY.csv:row52"} <= {q["item"] for q in quarantine}  # the garbage rows
    assert all(is_well_formed(r["response"]) for r in records)
    assert {r["patient_id"][:5] for r in records} == {"TCGA-"}
    dx = [r for r in records if r["question_type"] == "diagnosis" and r["organ"] == "head and neck"]
    assert sum("squamous cell carcinoma" in r["answer"].lower() for r in dx) / len(dx) > 0.7


def test_card_md_checks_and_trajectory_variants(built) -> None:
    out, summary, cfg = built
    card = json.loads((out / "card.json").read_text())
    assert set(card["checks"]) == {
        "tags_in_order",
        "entities_in_kg",
        "answer_agrees",
        "no_leakage",
        "not_duplicate",
    }
    assert all(c["passed"] + c["failed"] <= summary.n_records + c["failed"] for c in card["checks"].values())
    assert card["checks"]["tags_in_order"]["passed"] >= summary.n_records
    assert card["linking"]["diagnosis_link"] and "unlinked_mentions" in card["linking"]
    text = (out / "card.md").read_text()
    assert card["kg_version"] in text and "| tags_in_order |" in text and "By organ" in text
    train = read_jsonl(out / "train.jsonl")
    variants = read_jsonl(out / "sft_train.jsonl")
    assert card["trajectory_augmentation"]["variants"] == len(variants)
    assert len(train) < len(variants) <= cfg.samples.trajectory_variants * len(train)
    by_id = {r["id"]: r for r in train}
    for v in variants:
        base = by_id[v["id"].rsplit("#t", 1)[0]]
        ((start, end),) = v["loss_spans"]
        assert v["response"] == base["response"] and end == len(base["response"])
        assert v["response_prefix"] == base["response"][:start]
    assert sum(v["variant"] == 0 for v in variants) == len(train)


def test_progress_reports_every_report(
    tmp_path: Path, kg_dir: Path, write_reports: Callable[..., Path]
) -> None:
    reports = write_reports(tmp_path / "r.jsonl", make_demo_cases(3, seed=0))
    calls: list[tuple[int, int]] = []
    build_samples(
        reports, None, kg_dir, tmp_path / "out", Config(), lambda done, total: calls.append((done, total))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_evidence_spans_point_at_the_report_words(built) -> None:
    """evidence.jsonl: every span is the report's own text at those offsets; each report has its
    diagnosis and findings located, and every sample's report is there."""
    out, _, _ = built
    texts = {r.source: r.text for r in load_reports(out.parent / "reports.jsonl")[0]}
    evidence = read_jsonl(out / "evidence.jsonl")
    records = read_jsonl(out / "samples.jsonl")
    assert {e["sample_key"] for e in evidence} == {r["id"].rsplit(":", 1)[0] for r in records}
    for entry in evidence:
        text = texts[entry["report_source"]]
        assert {s["kind"] for s in entry["spans"]} == {"diagnosis", "finding"}
        for span in entry["spans"]:
            assert text[span["start"] : span["end"]] == span["text"] and span["entity"]


def test_extractions_jsonl_has_one_line_per_report(built) -> None:
    out, summary, _ = built
    lines = [json.loads(line) for line in (out / "extractions.jsonl").read_text().splitlines()]
    assert len(lines) == 14  # 13 usable reports + the one without a diagnosis
    ok = [line for line in lines if line["status"] == "ok"]
    bad = [line for line in lines if line["status"] == "quarantined"]
    assert len(ok) == summary.n_reports and [b["patient_id"] for b in bad] == ["BAD-0001"]
    assert bad[0]["reason_class"] == "no diagnosis" and "no diagnosis" in bad[0]["reason"]
    texts = {
        json.loads(r)["patient_id"]: json.loads(r)["text"]
        for r in (out.parent / "reports.jsonl").read_text().splitlines()
    }
    for line in ok:
        dx = line["diagnosis"]
        assert dx["kg_id"] and line["projects"] and line["organ_source"]
        assert texts[line["patient_id"]][dx["start"] : dx["end"]] == dx["text"]
