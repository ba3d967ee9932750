from kfp.dsl import Dataset, Input, Model, Output


def train_grpo(
    config_json: str, samples: Input[Dataset], sft_model: Input[Model], model: Output[Model]
) -> str:
    """GRPO from the SFT checkpoint with the knowledge-aware reward -> checkpoint."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import checkpoint_dir
    from pathreasoner.stages import train_grpo as run

    configure_logging()
    return run(config_from_json(config_json), samples.path, checkpoint_dir(sft_model.path), model.path).line()
