from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pathreasoner.config import ModelConfig
from pathreasoner.model.factory import tiny_checkpoint


@pytest.fixture(scope="session")
def model_cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return ModelConfig(cache_dir=str(tmp_path_factory.mktemp("model-cache")))


@pytest.fixture(scope="session")
def tiny_dir(model_cfg: ModelConfig) -> Path:
    return tiny_checkpoint(model_cfg)


@pytest.fixture()
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 255, size=(112, 96, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 255, size=(64, 112, 3), dtype=np.uint8)),
    ]
