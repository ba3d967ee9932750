from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def evaluate(
    config_json: str,
    model: Input[Model],
    samples: Input[Dataset],
    report: Output[Artifact],
    metrics: Output[Metrics],
) -> str:
    """Score the checkpoint on the eval split; metrics also surface in the KFP UI."""
    import json
    from pathlib import Path

    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import evaluate as run

    configure_logging()
    result = run(config_from_json(config_json), model.path, samples.path, report.path)
    for name, value in json.loads((Path(report.path) / "metrics.json").read_text()).items():
        if isinstance(value, int | float):
            metrics.log_metric(name, float(value))
    return result.line()
