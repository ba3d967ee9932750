"""Point MLflow at the configured tracking/registry store and experiment.

Local mode: ``sqlite:///<work_dir>/mlflow/mlflow.db`` with artifacts in ``<work_dir>/mlflow/artifacts``
(both under the project's work dir). Cluster mode: ``registry.tracking_uri: http://mlflow...`` and an
``s3://`` artifact root.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pathreasoner.config import Config
from pathreasoner.errors import RegistryError

logger = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class Tracking:
    """A configured MLflow connection: client, experiment id and the URIs it uses."""

    client: MlflowClient
    experiment_id: str
    tracking_uri: str
    artifact_location: str


def _artifact_location(root: str) -> str:
    if "://" in root:
        return root
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def configure(cfg: Config) -> Tracking:
    """Set the tracking + registry URI and create (or reuse) the experiment with the artifact root."""
    uri = cfg.tracking_uri
    if uri.startswith(SQLITE_PREFIX):
        db = Path(uri[len(SQLITE_PREFIX) :])
        db.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # logging must never reach the Hugging Face Hub
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    location = _artifact_location(cfg.artifact_root)
    name = cfg.registry.experiment
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = client.create_experiment(name, artifact_location=location)
            logger.info("created MLflow experiment %r (artifacts in %s)", name, location)
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                raise RegistryError(
                    f"MLflow experiment {name!r} is deleted in {uri}; restore it "
                    f"(`mlflow experiments restore --experiment-id {experiment_id}`) or set registry.experiment"
                )
            if experiment.artifact_location.rstrip("/") != location.rstrip("/"):
                logger.warning(
                    "experiment %r keeps its artifact location %s (config asks for %s)",
                    name,
                    experiment.artifact_location,
                    location,
                )
                location = experiment.artifact_location
    except MlflowException as exc:
        raise RegistryError(
            f"cannot reach the MLflow tracking store {uri} ({exc}); check registry.tracking_uri "
            "(and that `mlflow server` is running for http:// URIs)"
        ) from exc
    mlflow.set_experiment(experiment_id=experiment_id)
    return Tracking(client, experiment_id, uri, location)
