"""KFP components, one per stage: a few lines each, calling `pathreasoner.stages`.

The functions are plain Python so their source can be embedded by KFP; `build_components(...)`
turns them into lightweight components that run on the image of their role: training and
evaluation on the trainer image, every other stage on the pipeline image (kfp is installed in
both, so `install_kfp_package=False`: no pip at step start, ~5x lower per-step overhead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfp import dsl

from components.build_kg import build_kg
from components.build_samples import build_samples
from components.check_gate import check_gate
from components.deploy import deploy
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
    "deploy": deploy,
}


TRAINER_STAGES = ("train-sft", "train-grpo", "evaluate")


def build_components(pipeline_image: str, trainer_image: str) -> dict[str, Any]:
    """Stage name -> KFP component on its role's image."""
    return {
        name: dsl.component(
            base_image=trainer_image if name in TRAINER_STAGES else pipeline_image, install_kfp_package=False
        )(func)
        for name, func in STAGE_FUNCTIONS.items()
    }
