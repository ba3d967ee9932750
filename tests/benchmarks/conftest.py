"""Fixtures for the benchmark tests: the shared benchmark files, slides named by benchmark ids, and a
SlideBench-VQA CSV in the SlideChat layout."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from pathreasoner.config import ModelConfig
from pathreasoner.model.factory import tiny_checkpoint
from pathreasoner.wsi.synthetic import write_synthetic_slide

SLIDEBENCH_HEADER = [
    "ID", "Slide", "Tumor", "Broad Category", "Narrow Category", "Question", "A", "B", "C", "D", "Answer",
]  # fmt: skip
SLIDEBENCH_ROWS = [
    ["1", "TCGA-05-4244-01Z-00-DX1", "LUAD", "Diagnosis", "Grading", "What is the grade of the tumor?",
     "G1", "G2", "G3", "G4", "C"],
    ["2", "TCGA-05-4244-01Z-00-DX1", "LUAD", "Microscopy", "Tumor Characteristics",
     "Which type of invasion is seen?", "Perineural", "Lymphatic", "Vascular", "Bronchial", "B"],
    ["3", "TCGA-06-0169-01Z-00-DX1", "GBM", "Diagnosis", "Disease Classification",
     "What is the most likely diagnosis?", "Pilocytic astrocytoma", "Ependymoma", "Glioblastoma",
     "Medulloblastoma", "C"],
]  # fmt: skip


def write_slidebench(path: Path, rows: list[list[str]], header: list[str] = SLIDEBENCH_HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def slidebench_csv(tmp_path: Path) -> Path:
    return write_slidebench(tmp_path / "SlideBench-VQA-TCGA.csv", SLIDEBENCH_ROWS)


@pytest.fixture()
def benchmarks_data(shared_data: Path) -> Path:
    folder = shared_data / "benchmarks"
    if not folder.is_dir():
        pytest.skip(f"shared benchmark files not found at {folder}")
    return folder


@pytest.fixture()
def real_slide_as(shared_data: Path, tmp_path: Path):
    """A folder holding the real CMU-1-Small-Region slide under a benchmark slide id."""

    def make(slide_id: str, suffix: str = ".svs") -> Path:
        source = shared_data / "slides" / "aperio" / "CMU-1-Small-Region.svs"
        if not source.is_file():
            pytest.skip(f"shared slide {source} not found")
        folder = tmp_path / "slides"
        folder.mkdir(exist_ok=True)
        shutil.copyfile(source, folder / f"{slide_id}{suffix}")
        return folder

    return make


@pytest.fixture(scope="session")
def synthetic_benchmark_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic slide named like the first SlideBench slide id."""
    folder = tmp_path_factory.mktemp("benchmark-slides")
    write_synthetic_slide(folder / "TCGA-05-4244-01Z-00-DX1.tiff", width_px=2048, height_px=1536, seed=4)
    return folder


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(ModelConfig(cache_dir=str(tmp_path_factory.mktemp("model-cache"))))
