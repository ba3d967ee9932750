"""A tiny fabricated samples dir (records + small JPEGs + entity lexicon) in the build-samples layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pathreasoner.config import Config, config_from_dict
from pathreasoner.model.factory import tiny_checkpoint
from pathreasoner.response import compose_response

CASES = [
    (
        "breast",
        "invasive ductal carcinoma",
        "Sheets and nests of atypical epithelial cells with pleomorphic nuclei and frequent mitoses.",
        "Infiltrating nests with marked nuclear pleomorphism indicate a high grade invasive ductal carcinoma.",
        "Invasive ductal carcinoma of the breast, grade 3.",
        ["invasive ductal carcinoma", "nuclear pleomorphism", "mitotic figure", "breast"],
    ),
    (
        "colon",
        "adenocarcinoma",
        "Malignant glands with dirty necrosis infiltrate the muscularis propria.",
        "Glands with dirty necrosis in the colon wall are typical of colorectal adenocarcinoma.",
        "Adenocarcinoma of the colon, moderately differentiated.",
        ["adenocarcinoma", "necrosis", "colon"],
    ),
    (
        "lung",
        "squamous cell carcinoma",
        "Nests of polygonal cells with keratin pearls and intercellular bridges.",
        "Keratinization and intercellular bridges define squamous differentiation.",
        "Squamous cell carcinoma of the lung.",
        ["squamous cell carcinoma", "keratin pearl", "lung"],
    ),
]
QUESTIONS = [
    "What is the most likely diagnosis for this whole slide image?",
    "What is the histologic subtype of the tumor shown in this slide?",
]
LEXICON = {
    "invasive ductal carcinoma": ["IDC", "infiltrating ductal carcinoma"],
    "adenocarcinoma": [],
    "squamous cell carcinoma": ["SCC"],
    "nuclear pleomorphism": ["pleomorphic nuclei"],
    "mitotic figure": ["mitoses", "mitotic figures"],
    "necrosis": ["dirty necrosis"],
    "keratin pearl": ["keratin pearls"],
    "breast": [],
    "colon": [],
    "lung": [],
}


def write_samples(root: Path, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    """Write a samples dir with `n_train`/`n_test` records, 2 views each, plus one record with no images."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    counts = {"train": n_train, "val": 2, "test": n_test}
    index = 0
    for split, n in counts.items():
        for _ in range(n):
            organ, diagnosis, observe, think, answer, entities = CASES[index % len(CASES)]
            paths = []
            for view in range(2):
                colour = rng.integers(60, 230, size=3)
                pixels = np.clip(rng.normal(colour, 25, size=(112, 112, 3)), 0, 255).astype(np.uint8)
                rel = f"images/s{index:03d}_v{view}.jpg"
                Image.fromarray(pixels).save(root / rel, quality=85)
                paths.append(rel)
            splits[split].append(
                {
                    "id": f"s{index:03d}",
                    "patient_id": f"P{index:03d}",
                    "slide_id": f"S{index:03d}",
                    "organ": organ,
                    "split": split,
                    "question_type": "diagnosis",
                    "question": QUESTIONS[index % len(QUESTIONS)],
                    "images": paths,
                    "findings": [observe],
                    "diagnosis": diagnosis,
                    "gt_entities": entities,
                    "kg_paths": [{"nodes": [entities[1], entities[0]], "relations": ["suggests"]}],
                    "response": compose_response(observe, think, answer),
                    "answer": answer,
                    "provenance": {"writer": "test", "kg_version": "test", "report_source": "test"},
                }
            )
            index += 1
    splits["train"].append({**splits["train"][0], "id": "no-images", "images": []})
    for split, records in splits.items():
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "entity_lexicon.json").write_text(json.dumps(LEXICON))
    return root


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def train_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    cache = tmp_path_factory.mktemp("model-cache")
    return config_from_dict(
        {
            "model": {"cache_dir": str(cache)},
            "sft": {"max_steps": 3, "per_device_batch_size": 2, "logging_steps": 1},
            "grpo": {
                "max_steps": 1,
                "per_device_batch_size": 2,
                "num_generations": 2,
                "max_completion_length": 12,
            },
            "reward": {"components": {"format": 1.0, "entity": 0.5, "kg_path": 0.5}},  # no MiniLM load
            "training": {"mlflow": False},  # live tracking is tested against a tmp store (test_live_tracking)
        }
    )


@pytest.fixture(scope="session")
def tiny_dir(train_cfg: Config) -> Path:
    return tiny_checkpoint(train_cfg.model)


@pytest.fixture()
def images() -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, size=(112, 112, 3), dtype=np.uint8)) for _ in range(2)]
