from kfp.dsl import Dataset, Input, Model, Output


def train_sft(config_json: str, samples: Input[Dataset], model: Output[Model]) -> str:
    """Supervised fine-tuning (assistant-only loss) -> checkpoint."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import train_sft as run

    configure_logging()
    return run(config_from_json(config_json), samples.path, model.path).line()
