"""Samples test fixtures: the curated KG (built once), its extraction context, demo reports on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pathreasoner.config import KGConfig
from pathreasoner.kg.build import build_kg
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.demo_reports import DemoCase


@pytest.fixture(scope="session")
def kg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples-kg") / "kg"
    build_kg(out, KGConfig())
    return out


@pytest.fixture(scope="session")
def ctx(kg_dir: Path) -> KGContext:
    return KGContext.from_kg(KnowledgeGraph.load(kg_dir))


@pytest.fixture
def write_reports() -> Callable[..., Path]:
    """Writes demo cases as reports.jsonl (the layout `pathreasoner demo-data` writes)."""
    return write_reports_jsonl


def write_reports_jsonl(path: Path, cases: list[DemoCase], extra: list[dict] | None = None) -> Path:
    """The same JSONL layout `pathreasoner demo-data` writes."""
    rows = [
        {
            "patient_id": c.patient_id,
            "slide_id": c.slide_id,
            "organ": c.organ,
            "text": c.report_text,
            "source": "synthetic",
        }
        for c in cases
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, *(extra or [])]))
    return path
