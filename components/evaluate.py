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
    scores = json.loads((Path(report.path) / "metrics.json").read_text())
    numeric = {name: float(value) for name, value in scores.items() if isinstance(value, int | float)}
    for name, value in numeric.items():
        metrics.log_metric(name, value)
    # a file behind the Metrics artifact too: kfp.local's cache treats an artifact without one as missing
    Path(metrics.path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics.path).write_text(json.dumps(numeric, sort_keys=True))
    return result.line()
