from kfp.dsl import Dataset, Input, Output


def build_samples(
    config_json: str, reports: str, tiles: Input[Dataset], kg: Input[Dataset], samples: Output[Dataset]
) -> str:
    """Reports + tiles + KG -> reasoning samples with a patient-level split."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import build_samples as run

    configure_logging()
    return run(config_from_json(config_json), reports, tiles.path, kg.path, samples.path).line()
