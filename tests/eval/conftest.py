"""Fixtures for evaluation tests: a tiny checkpoint and a hand-written samples dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.config import ModelConfig
from pathreasoner.model.factory import tiny_checkpoint
from pathreasoner.response import compose_response

LEXICON = {
    "invasive ductal carcinoma": ["IDC", "ductal carcinoma"],
    "lymphovascular invasion": ["LVI"],
    "squamous cell carcinoma": ["SCC"],
}


@pytest.fixture()
def lexicon() -> dict[str, list[str]]:
    return {k: list(v) for k, v in LEXICON.items()}


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(ModelConfig(cache_dir=str(tmp_path_factory.mktemp("model-cache"))))


def _record(i: int, split: str, qtype: str, answer: str, entities: list[str], images: list[str]) -> dict:
    return {
        "id": f"P{i}-{qtype}",
        "patient_id": f"P{i}",
        "slide_id": f"S{i}",
        "organ": "breast",
        "split": split,
        "question_type": qtype,
        "question": f"What is the {qtype} of this slide?",
        "images": images,
        "findings": ["cords of atypical cells"],
        "diagnosis": answer,
        "gt_entities": entities,
        "kg_paths": [],
        "response": compose_response("cords of atypical cells", f"the pattern fits {answer}", answer),
        "answer": answer,
        "provenance": {"writer": "template", "kg_version": "test", "report_source": "synthetic"},
    }


@pytest.fixture()
def samples_dir(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    (root / "images").mkdir(parents=True)
    for name, colour in (("a.jpg", (200, 90, 160)), ("b.jpg", (120, 60, 140))):
        Image.new("RGB", (56, 48), colour).save(root / "images" / name, "JPEG")
    test = [
        _record(
            1,
            "test",
            "diagnosis",
            "Invasive ductal carcinoma",
            ["invasive ductal carcinoma"],
            ["images/a.jpg", "images/b.jpg"],
        ),
        _record(
            2, "test", "lvi", "Lymphovascular invasion present", ["lymphovascular invasion"], ["images/b.jpg"]
        ),
        _record(
            3,
            "test",
            "diagnosis",
            "Squamous cell carcinoma",
            ["squamous cell carcinoma"],
            ["images/missing.jpg"],
        ),
    ]
    val = [
        _record(
            4, "val", "diagnosis", "Squamous cell carcinoma", ["squamous cell carcinoma"], ["images/a.jpg"]
        )
    ]
    for split, rows in (("test", test), ("val", val), ("train", [])):
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "entity_lexicon.json").write_text(json.dumps(LEXICON))
    return root
