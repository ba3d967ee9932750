"""Fixtures for serving tests: the tiny checkpoint and request images."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.config import ModelConfig
from pathreasoner.model.factory import tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(ModelConfig(cache_dir=str(tmp_path_factory.mktemp("model-cache"))))


def encode(img: Image.Image, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture()
def encode_image() -> Callable[..., str]:
    """encode_image(PIL image, fmt="JPEG") -> base64 text."""
    return encode


@pytest.fixture()
def jpeg_b64() -> str:
    return encode(Image.new("RGB", (80, 60), (190, 80, 150)))
