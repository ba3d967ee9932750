from typing import List  # noqa: UP035 (KFP parses typing.List)

from kfp.dsl import Dataset, Input, Output


def build_samples(
    config_json: str,
    reports: str,
    tiles: Input[List[Dataset]],  # noqa: UP006 (one dataset per tiling shard)
    kg: Input[Dataset],
    samples: Output[Dataset],
) -> str:
    """Reports + tiles (all shards) + KG -> reasoning samples with a patient-level split."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import build_samples as run

    configure_logging()
    shards = [t.path for t in tiles]
    return run(config_from_json(config_json), reports, shards, kg.path, samples.path).line()
