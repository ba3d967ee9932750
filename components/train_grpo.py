from kfp.dsl import Dataset, Input, Model, Output


def train_grpo(
    config_json: str,
    samples: Input[Dataset],
    sft_model: Input[Model],
    model: Output[Model],
    launcher: str = "in_process",
) -> str:
    """GRPO from the SFT checkpoint with the knowledge-aware reward -> checkpoint; in this pod, or a TrainJob."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.train.launch import pipeline_train

    configure_logging()
    return pipeline_train(
        "train-grpo",
        config_from_json(config_json),
        launcher,
        samples=(samples.path, samples.uri),
        out=(model.path, model.uri),
        init=(sft_model.path, sft_model.uri),
    ).line()
