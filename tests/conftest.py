"""Shared fixtures: the real third-party data folder and a fast config for stage tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pathreasoner.config import Config, config_from_dict

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")


@pytest.fixture(autouse=True)
def _no_ambient_tracking_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without a tracking URI: none from the shell, none left by an earlier test.

    `mlflow.set_tracking_uri`/`set_registry_uri` (called when the registry logs a run) are process-wide and
    export MLFLOW_TRACKING_URI, which `Config.tracking_uri` follows; a test that talked to a server must not hand it to the next test.
    """
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
        sys.modules["mlflow"].set_registry_uri(None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real shared data not found at {SHARED_DATA} (it lives beside the repo as ../shared/data)"
        )
    return SHARED_DATA


@pytest.fixture
def make_config() -> Callable[..., Config]:
    """Factory for `small_config` (tests call make_config(tmp_path / "work", sft={...}))."""
    return small_config


def small_config(work_dir: Path, **sections: dict) -> Config:
    """A config sized for tests: small slides, few training steps, everything under work_dir."""
    raw: dict = {
        "project": {"work_dir": str(work_dir)},
        "demo_data": {"n_patients": 5, "slide_width_px": 2048, "slide_height_px": 1536},
        "tiling": {"thumbnail_px": 512, "top_k_tiles": 4},
        "sft": {"max_steps": 4, "logging_steps": 1},
        "grpo": {"max_steps": 1, "max_completion_length": 16},
        "eval": {"max_samples": 4, "max_new_tokens": 24},
        "registry": {"gate": {"minimums": {}, "min_items": 0, "min_above_chance": None, "margin": None}},
        "pipeline": {"local_root": str(work_dir / "kfp")},
    }
    for name, body in sections.items():
        raw.setdefault(name, {}).update(body)
    return config_from_dict(raw, work_dir)
