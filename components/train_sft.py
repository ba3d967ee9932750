from kfp.dsl import Dataset, Input, Model, Output


def train_sft(
    config_json: str, samples: Input[Dataset], model: Output[Model], launcher: str = "in_process"
) -> str:
    """Supervised fine-tuning (assistant-only loss) -> checkpoint; in this pod, or as a Kubeflow TrainJob."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.train.launch import pipeline_train

    configure_logging()
    cfg = config_from_json(config_json)
    return pipeline_train(
        "train-sft", cfg, launcher, samples=(samples.path, samples.uri), out=(model.path, model.uri)
    ).line()
