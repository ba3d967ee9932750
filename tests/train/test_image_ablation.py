"""The image really reaches the model: trained on the real slide views, the tiny model tells the diagnoses
of held-out patients apart; trained on the same data with the views shuffled across patients, it falls to
chance.

One cohort of three diagnoses that look different (diagnosis-specific synthetic morphology), diagnosis
questions only; SFT with trajectory masking (the default) then `evaluate` on the held-out test split.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from pathreasoner import stages
from pathreasoner.config import Config
from pathreasoner.io_utils import read_jsonl, write_jsonl
from tests.conftest import small_config

pytestmark = pytest.mark.slow

DIAGNOSES = ["clear cell renal cell carcinoma", "hepatocellular carcinoma", "glioblastoma, IDH-wildtype"]


def _config(work: Path) -> Config:
    return small_config(
        work,
        demo_data={"n_patients": 45, "slide_width_px": 2048, "slide_height_px": 1536, "diagnoses": DIAGNOSES},
        tiling={"thumbnail_px": 512, "top_k_tiles": 2},
        samples={"question_types": ["diagnosis"], "split_fractions": {"train": 0.7, "val": 0.0, "test": 0.3}},
        sft={"max_steps": 300, "logging_steps": 50},
        training={"mlflow": False},
        eval={"max_samples": 45, "max_new_tokens": 320, "batch_size": 8},
    )


def shuffle_views(samples_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    """A copy of the samples dir whose training records carry another patient's views (labels untouched)."""
    shutil.copytree(samples_dir, out_dir)
    for name in ("train.jsonl", "sft_train.jsonl"):
        records = read_jsonl(out_dir / name)
        patients = sorted({r["patient_id"] for r in records})
        donors = patients[:]
        random.Random(seed).shuffle(donors)
        views = {r["patient_id"]: r["images"] for r in records}
        write_jsonl(
            out_dir / name, [{**r, "images": views[donors[patients.index(r["patient_id"])]]} for r in records]
        )
    return out_dir


def test_accuracy_needs_the_image(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "work")
    demo = stages.demo_data(cfg)
    tiles = stages.tile_slides(cfg, demo.slides_dir, tmp_path / "tiles")
    assert tiles.n_quarantined == 0
    kg = tmp_path / "kg"
    stages.build_kg(cfg, kg)
    samples = tmp_path / "samples"
    stages.build_samples(cfg, demo.reports, tmp_path / "tiles", kg, samples)
    test_items = read_jsonl(samples / "test.jsonl")
    assert len({r["answer"].split(" of the ")[0] for r in test_items}) == 3

    accuracy = {}
    for arm, data in (("images", samples), ("shuffled", shuffle_views(samples, tmp_path / "shuffled"))):
        stages.train_sft(cfg, data, tmp_path / f"sft-{arm}")
        stages.evaluate(cfg, tmp_path / f"sft-{arm}", samples, tmp_path / f"eval-{arm}")
        metrics = json.loads((tmp_path / f"eval-{arm}" / "metrics.json").read_text())
        accuracy[arm] = metrics["diagnosis_accuracy"]
        assert metrics["diagnosis_items"] == len(test_items)
    print(
        f"diagnosis accuracy with images {accuracy['images']:.2f}, shuffled {accuracy['shuffled']:.2f}, "
        f"chance {metrics['diagnosis_chance']:.2f}, majority {metrics['diagnosis_majority']:.2f}"
    )
    chance = max(metrics["diagnosis_majority"], metrics["diagnosis_chance"])  # 1/3: 4 test patients each
    # measured: 0.58 (7 of 12) with the views, 0.33 (4 of 12, chance) with shuffled views
    assert accuracy["images"] >= chance + 0.15
    assert accuracy["shuffled"] <= chance + 0.1
    assert accuracy["images"] - accuracy["shuffled"] >= 0.15
