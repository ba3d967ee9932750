"""Point MLflow at the configured tracking/registry store and experiment.

Local mode: ``sqlite:///<work_dir>/mlflow/mlflow.db`` with artifacts in ``<work_dir>/mlflow/artifacts``.
Cluster mode: ``MLFLOW_TRACKING_URI=http://mlflow...`` (or ``registry.tracking_uri``) and the server's
artifact root: by default its ``--artifacts-destination`` behind the proxy (``mlflow-artifacts:/``),
or an explicit ``s3://`` / ``mlflow-artifacts:/`` ``registry.artifact_root``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pathreasoner.config import Config
from pathreasoner.errors import RegistryError
from pathreasoner.registry.failures import explain

logger = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # s3://, file://, mlflow-artifacts:/ (not a bare path)


@dataclass(frozen=True)
class Tracking:
    """A configured MLflow connection: client, experiment id and the URIs it uses."""

    client: MlflowClient
    experiment_id: str
    tracking_uri: str
    artifact_location: str


def is_remote(tracking_uri: str) -> bool:
    """True for a tracking server reached over HTTP (artifacts then live where the server says)."""
    return tracking_uri.startswith(("http://", "https://"))


def artifact_location(root: str | None, tracking_uri: str) -> str | None:
    """The experiment's artifact location for `root` (None: the server's default)."""
    if root is None:
        return None
    if _SCHEME.match(root):
        if root.startswith("mlflow-artifacts:") and not is_remote(tracking_uri):
            raise RegistryError(
                f"registry.artifact_root={root!r} is served by an MLflow server, but the tracking store is "
                f"{tracking_uri}; point MLFLOW_TRACKING_URI / registry.tracking_uri at that server"
            )
        return root
    if is_remote(tracking_uri):
        raise RegistryError(
            f"registry.artifact_root={root!r} is a path on this machine, but the tracking server {tracking_uri} "
            "is shared: other pods could not read it. Set s3://<bucket>/<prefix>, mlflow-artifacts:/<prefix>, "
            "or null for the server's --artifacts-destination (file:///<path> only on a shared filesystem)"
        )
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
    location = artifact_location(cfg.artifact_root, uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = cfg.registry.experiment
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = client.create_experiment(name, artifact_location=location)
            experiment = client.get_experiment(experiment_id)
            logger.info("created MLflow experiment %r (artifacts in %s)", name, experiment.artifact_location)
        experiment_id = experiment.experiment_id
        if experiment.lifecycle_stage == "deleted":
            raise RegistryError(
                f"MLflow experiment {name!r} is deleted in {uri}; restore it "
                f"(`mlflow experiments restore --experiment-id {experiment_id}`) or set registry.experiment"
            )
        mlflow.set_experiment(experiment_id=experiment_id)
    except MlflowException as exc:
        raise explain(exc, f"open MLflow experiment {name!r}", uri, location) from exc
    actual = experiment.artifact_location
    if location is not None and actual.rstrip("/") != location.rstrip("/"):
        logger.warning(
            "experiment %r keeps its artifact location %s (config asks for %s)", name, actual, location
        )
    return Tracking(client, experiment_id, uri, actual)
