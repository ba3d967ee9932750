"""configure(): sqlite store and artifact root under the work dir, experiment reused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pathreasoner.registry.tracking import configure


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
