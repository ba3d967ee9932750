"""KFP components, one per stage: a few lines each, calling `pathreasoner.stages`.

The functions are plain Python so their source can be embedded by KFP; `build_components(image)`
turns them into lightweight components that run on our platform image (kfp already installed
there, so `install_kfp_package=False`: no pip at step start, ~5x lower per-step overhead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfp import dsl

from components.build_kg import build_kg
from components.build_samples import build_samples
from components.check_gate import check_gate
from components.evaluate import evaluate
from components.promote import promote
from components.register import register
from components.shard_slides import shard_slides
from components.tile_slides import tile_slides
from components.train_grpo import train_grpo
from components.train_sft import train_sft

STAGE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "shard-slides": shard_slides,
    "tile-slides": tile_slides,
    "build-kg": build_kg,
    "build-samples": build_samples,
    "train-sft": train_sft,
    "train-grpo": train_grpo,
    "evaluate": evaluate,
    "register": register,
    "check-gate": check_gate,
    "promote": promote,
}


def build_components(image: str) -> dict[str, Any]:
    """Stage name -> KFP component running on `image`."""
    return {
        name: dsl.component(base_image=image, install_kfp_package=False)(func)
        for name, func in STAGE_FUNCTIONS.items()
    }
