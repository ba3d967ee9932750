"""KG test fixtures: the curated KG built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.config import KGConfig
from pathreasoner.kg.build import build_kg
from pathreasoner.kg.graph import KnowledgeGraph


@pytest.fixture(scope="session")
def curated_kg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kg") / "curated"
    build_kg(out, KGConfig())
    return out


@pytest.fixture(scope="session")
def curated_kg(curated_kg_dir: Path) -> KnowledgeGraph:
    return KnowledgeGraph.load(curated_kg_dir)
