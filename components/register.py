from kfp.dsl import Artifact, Dataset, Input, Model


def register(
    config_json: str,
    model: Input[Model],
    report: Input[Artifact],
    samples: Input[Dataset],
    kfp_run_id: str = "",
) -> str:
    """Register the checkpoint in MLflow with lineage tags (alias 'candidate'); returns the version."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import register as run

    configure_logging()
    extra = {"kfp_run_id": kfp_run_id} if kfp_run_id else {}
    return str(run(config_from_json(config_json), model.path, report.path, samples.path, **extra).version)
