"""The pipeline's optional deploy step: off by default, after promote (inside the gate) when switched on."""

from __future__ import annotations

from pathlib import Path

import yaml

from pathreasoner.config import load_config
from pathreasoner.pipeline_runner import compile_pipeline

REPO = Path(__file__).resolve().parents[2]


def _gate_tasks(spec: dict) -> dict:
    condition = next(t for t in spec["root"]["dag"]["tasks"].values() if "triggerPolicy" in t)
    return spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]


def test_deploy_step_follows_promote_when_enabled(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["serving.deploy_in_pipeline=true"])
    spec, platform = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    inner = _gate_tasks(spec)
    assert list(inner) == ["deploy", "promote"]
    assert inner["deploy"]["dependentTasks"] == ["promote"]
    assert set(inner["deploy"]["inputs"]["parameters"]) == {"config_json", "version"}
    executor = spec["deploymentSpec"]["executors"]["exec-deploy"]["container"]
    assert executor["image"] == "ghcr.io/pathreasoner/pipeline:0.1.0"
    assert "apply=True" in executor["command"][-1]  # the component's source: it applies, not renders
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-deploy"]
    assert {s["secretName"] for s in k8s["secretAsEnv"]} == {"s3-credentials", "mlflow-client-credentials"}


def test_deploy_step_is_off_by_default(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml")
    assert cfg.serving.deploy_in_pipeline is False
    spec, _ = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    assert list(_gate_tasks(spec)) == ["promote"]
    assert "exec-deploy" not in spec["deploymentSpec"]["executors"]
