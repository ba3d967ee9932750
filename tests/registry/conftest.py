"""Fixtures for registry tests: one sqlite MLflow store per module and the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.config import ModelConfig
from pathreasoner.model.factory import tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(ModelConfig(cache_dir=str(tmp_path_factory.mktemp("model-cache"))))


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work dir holding the module's MLflow store (sqlite db + artifacts); tests use distinct model names."""
    return tmp_path_factory.mktemp("work")
