from typing import NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Model


def register(
    config_json: str, model: Input[Model], report: Input[Artifact], samples: Input[Dataset]
) -> NamedTuple("RegisterOutputs", [("version", str), ("gate_passed", bool), ("summary", str)]):
    """Register the checkpoint in MLflow (alias 'candidate') and report whether the gate passes."""
    from collections import namedtuple

    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.registry.mlflow_registry import check_gate
    from pathreasoner.stages import register as run

    configure_logging()
    cfg = config_from_json(config_json)
    registered = run(cfg, model.path, report.path, samples.path)
    decision = check_gate(cfg, registered.version)
    outputs = namedtuple("RegisterOutputs", ["version", "gate_passed", "summary"])
    return outputs(str(registered.version), bool(decision.promoted), registered.line())
