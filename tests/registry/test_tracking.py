"""configure(): sqlite store and artifact root under the work dir, experiment reused; tracking URI and
artifact root precedence and URI handling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pathreasoner.errors import ConfigError, RegistryError
from pathreasoner.registry.mlflow_registry import object_store_uri
from pathreasoner.registry.tracking import artifact_location, configure


def test_configure_creates_store_under_work_dir(tmp_path: Path, make_config: Callable) -> None:
    work = tmp_path / "deep" / "work"
    cfg = make_config(work, registry={"experiment": "exp-a"})
    first = configure(cfg)
    assert first.tracking_uri == f"sqlite:///{work / 'mlflow' / 'mlflow.db'}"
    assert (work / "mlflow" / "mlflow.db").exists()
    assert first.artifact_location == (work / "mlflow" / "artifacts").resolve().as_uri()
    assert (work / "mlflow" / "artifacts").is_dir()
    exp = first.client.get_experiment(first.experiment_id)
    assert exp.name == "exp-a" and exp.artifact_location == first.artifact_location

    again = configure(cfg)
    assert again.experiment_id == first.experiment_id


def test_configure_custom_locations(tmp_path: Path, make_config: Callable) -> None:
    cfg = make_config(
        tmp_path / "work",
        registry={
            "tracking_uri": f"sqlite:///{tmp_path / 'elsewhere' / 'store.db'}",
            "artifact_root": str(tmp_path / "arts"),
            "experiment": "exp-b",
        },
    )
    tracking = configure(cfg)
    assert (tmp_path / "elsewhere" / "store.db").exists()
    assert tracking.artifact_location == (tmp_path / "arts").as_uri()


def test_tracking_uri_precedence(
    tmp_path: Path, make_config: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = make_config(tmp_path / "work")
    assert local.tracking_uri == f"sqlite:///{tmp_path / 'work' / 'mlflow' / 'mlflow.db'}"
    assert local.artifact_root == str(tmp_path / "work" / "mlflow" / "artifacts")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.mlops:5000")  # the pods' ConfigMap
    assert local.tracking_uri == "http://mlflow.mlops:5000"
    assert local.artifact_root is None  # the server's --artifacts-destination
    pinned = make_config(tmp_path / "work", registry={"tracking_uri": "http://other:5000"})
    assert pinned.tracking_uri == "http://other:5000"


@pytest.mark.parametrize(
    "root", ["mlflow-artifacts:/pathreasoner", "s3://mlflow/artifacts", "file:///srv/mlflow"]
)
def test_artifact_root_uris_are_kept(tmp_path: Path, make_config: Callable, root: str) -> None:
    cfg = make_config(tmp_path / "work", registry={"artifact_root": root})
    assert cfg.registry.artifact_root == root  # not resolved against the params file's folder
    assert artifact_location(cfg.artifact_root, "http://mlflow:5000") == root


def test_artifact_root_mismatches_are_named(tmp_path: Path, make_config: Callable) -> None:
    cfg = make_config(tmp_path / "work", registry={"artifact_root": "arts"})
    assert cfg.artifact_root == str(tmp_path / "work" / "arts")
    with pytest.raises(RegistryError, match=r"is a path on this machine.*s3://<bucket>/<prefix>"):
        artifact_location(cfg.artifact_root, "http://mlflow:5000")
    with pytest.raises(RegistryError, match=r"served by an MLflow server.*MLFLOW_TRACKING_URI"):
        artifact_location("mlflow-artifacts:/x", "sqlite:///tmp/mlflow.db")
    with pytest.raises(ConfigError, match=r"registry.artifacts_destination=.*s3://mlflow/artifacts"):
        make_config(tmp_path / "work", registry={"artifacts_destination": "mlflow-artifacts:/x"})


def test_proxied_uris_map_onto_the_artifacts_destination(tmp_path: Path, make_config: Callable) -> None:
    cfg = make_config(tmp_path / "work", registry={"artifacts_destination": "s3://mlflow/artifacts/"})
    assert (
        object_store_uri("mlflow-artifacts:/1/models/m-1/artifacts", cfg)
        == "s3://mlflow/artifacts/1/models/m-1/artifacts"
    )
    assert object_store_uri("mlflow-artifacts://mlflow:5000/1/x", cfg) == "s3://mlflow/artifacts/1/x"
    assert (
        object_store_uri("s3://direct/2/models/m-2/artifacts/", cfg) == "s3://direct/2/models/m-2/artifacts"
    )
    with pytest.raises(RegistryError, match=r"set registry.artifacts_destination"):
        object_store_uri("mlflow-artifacts:/1/x", make_config(tmp_path / "work"))
