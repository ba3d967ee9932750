"""Register / promote / rollback / resolve against a real sqlite MLflow store."""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from pathreasoner.config import Config
from pathreasoner.errors import RegistryError
from pathreasoner.registry import catalog
from pathreasoner.registry import mlflow_registry as R
from pathreasoner.registry.tracking import configure
from tests.registry.evaldirs import verdicts, write_eval_dir

LINEAGE = {"git_sha": "0123abcd", "data_version": "data-v1", "kg_version": "kg-v7"}
OPEN_GATE = {"minimums": {}, "min_items": 0, "min_above_chance": None, "margin": None}


@pytest.fixture()
def cfg_for(work_dir: Path, make_config: Callable) -> Callable[..., Config]:
    def build(model_name: str, **registry: object) -> Config:
        return make_config(
            work_dir,
            registry={
                "model_name": model_name,
                "gate": {**OPEN_GATE, "minimums": {"format_compliance": 0.5}},
                **registry,
            },
        )

    return build


def eval_dir(root: Path, **metrics: float) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "metrics.json").write_text(json.dumps({**metrics, "n_samples": 4, "split": "test"}))
    (root / "predictions.jsonl").write_text('{"id": "x"}\n')
    (root / "report.md").write_text("# report\n")
    (root / "metrics_by_type.json").write_text(
        json.dumps({"diagnosis": {"answer_match": 0.5, "n_samples": 2}})
    )
    return root


def register(cfg: Config, ckpt: Path, tmp: Path, lineage: dict | None = None, **metrics: float) -> str:
    return R.register_model(
        ckpt, eval_dir(tmp, **metrics), cfg, dict(LINEAGE if lineage is None else lineage)
    ).version


def alias_version(c: MlflowClient, name: str, alias: str) -> str:
    return str(c.get_model_version_by_alias(name, alias).version)


def client(cfg: Config) -> MlflowClient:
    return configure(cfg).client


def test_register_logs_run_and_tags_version(cfg_for, tiny_dir: Path, tmp_path: Path, work_dir: Path) -> None:
    cfg = cfg_for("reg-lineage")
    got = R.register_model(
        tiny_dir,
        eval_dir(tmp_path / "ev", format_compliance=0.75, entity_f1=0.4),
        cfg,
        {"data_version": "data-v1", "kg_version": "kg-v7"},
    )
    assert got.version == "1" and got.metrics["format_compliance"] == 0.75
    c = client(cfg)
    mv = c.get_model_version("reg-lineage", "1")
    assert mv.tags["config_hash"] == cfg.config_hash()
    assert mv.tags["data_version"] == "data-v1" and mv.tags["kg_version"] == "kg-v7"
    assert len(mv.tags["git_sha"]) == 40 or mv.tags["git_sha"] == "unknown"  # from `git rev-parse`
    assert float(mv.tags["metric.format_compliance"]) == 0.75 and float(mv.tags["metric.entity_f1"]) == 0.4
    assert alias_version(c, "reg-lineage", "candidate") == "1"

    run = c.get_run(got.run_id)
    assert run.data.params["sft.max_steps"] == "4" and run.data.params["project.work_dir"] == str(work_dir)
    assert run.data.metrics["format_compliance"] == 0.75
    assert run.data.metrics["by_type.diagnosis.answer_match"] == 0.5
    files = {f.path for f in c.list_artifacts(got.run_id)} | {
        f.path for f in c.list_artifacts(got.run_id, "eval")
    }
    assert {"config.yaml", "eval/predictions.jsonl", "eval/report.md", "eval/metrics.json"} <= files
    logged_cfg = mlflow.artifacts.load_text(f"runs:/{got.run_id}/config.yaml")
    assert "max_steps: 4" in logged_cfg
    # artifacts live in the configured folder under the work dir, not in a temp dir
    assert (work_dir / "mlflow" / "mlflow.db").exists()
    assert list((work_dir / "mlflow" / "artifacts").rglob("artifacts/checkpoint/config.json"))


def test_gate_pass_then_fail_keeps_champion(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-gate")
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.8, entity_f1=0.3)
    first = R.promote(cfg, v1)
    assert first.promoted and first.previous_champion is None
    assert first.reasons == [
        "pass: n_samples=4 >= min_items 0",
        "pass: format_compliance=0.8000 >= minimum 0.5",
    ]

    v2 = register(cfg, tiny_dir, tmp_path / "b", format_compliance=0.2, entity_f1=0.9)
    dry = R.check_gate(cfg)  # defaults to the 'candidate' alias, changes nothing
    assert dry.version == v2 and not dry.promoted
    assert "gate.passed" not in client(cfg).get_model_version("reg-gate", v2).tags
    second = R.promote(cfg)  # defaults to the 'candidate' alias (v2)
    assert not second.promoted and second.previous_champion == v1
    c = client(cfg)
    assert alias_version(c, "reg-gate", "champion") == v1
    tags = c.get_model_version("reg-gate", v2).tags
    assert tags["gate.passed"] == "false" and tags["gate.forced"] == "false"
    assert "fail: format_compliance=0.2000 < minimum 0.5" in tags["gate.reasons"]
    assert tags["gate.check.min.format_compliance"] == "fail: format_compliance=0.2000 < minimum 0.5"
    assert tags["gate.check.min_items"] == "pass: n_samples=4 >= min_items 0"
    assert c.get_model_version("reg-gate", v1).tags["gate.passed"] == "true"
    assert alias_version(c, "reg-gate", "candidate") == v2
    assert [(e.action, e.from_version, e.to_version) for e in catalog.history(cfg)] == [("promote", None, v1)]


def register_items(cfg: Config, ckpt: Path, root: Path, correct: list, **kw: object) -> str:
    return R.register_model(ckpt, write_eval_dir(root, correct, **kw), cfg, dict(LINEAGE)).version


def test_non_inferiority_and_eval_set_through_the_registry(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-noninf", gate={})  # the default gate of params.yaml
    v1 = register_items(cfg, tiny_dir, tmp_path / "a", verdicts(40, 30))
    assert R.promote(cfg, v1).promoted
    c = client(cfg)
    assert c.get_model_version("reg-noninf", v1).tags["eval.set_hash"] == "set-a"

    worse = register_items(cfg, tiny_dir, tmp_path / "b", verdicts(40, 22))  # 0.55 vs 0.75, same 40 items
    refused = R.promote(cfg, worse)
    assert not refused.promoted and alias_version(c, "reg-noninf", "champion") == v1
    tag = c.get_model_version("reg-noninf", worse).tags["gate.check.non_inferiority"]
    assert tag.startswith(f"fail: answer_accuracy v{worse} - champion v{v1} = -0.2000 over 40 paired items")

    elsewhere = register_items(cfg, tiny_dir, tmp_path / "c", verdicts(40, 40), eval_set_hash="set-b")
    across = R.promote(cfg, elsewhere)
    assert not across.promoted
    assert (
        c.get_model_version("reg-noninf", elsewhere)
        .tags["gate.check.eval_set"]
        .startswith(f"fail: different eval sets: v{elsewhere} on test set-b, champion v{v1} on test set-a")
    )
    equal = register_items(cfg, tiny_dir, tmp_path / "d", verdicts(40, 30))
    assert R.promote(cfg, equal).promoted and alias_version(c, "reg-noninf", "champion") == equal


def test_force_needs_a_reason_and_is_audited(
    cfg_for, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = cfg_for("reg-force")
    monkeypatch.setenv("PATHREASONER_ACTOR", "alice@platform")
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.9)
    v2 = register(cfg, tiny_dir, tmp_path / "b", format_compliance=0.1)
    assert R.promote(cfg, v1).promoted
    with pytest.raises(RegistryError, match="--force needs --reason TEXT"):
        R.promote(cfg, v2, force=True)
    c = client(cfg)
    assert "gate.passed" not in c.get_model_version("reg-force", v2).tags  # nothing written
    forced = R.promote(cfg, v2, force=True, reason="hotfix INC-42")
    assert forced.promoted and forced.forced and forced.gate_passed is False
    tags = c.get_model_version("reg-force", v2).tags
    assert (tags["gate.passed"], tags["gate.forced"], tags["gate.force_reason"]) == (
        "false",
        "true",
        "hotfix INC-42",
    )
    assert tags["gate.decided_by"] == "alice@platform"
    assert R.rollback(cfg, reason="INC-42 resolved") == v1
    log = catalog.history(cfg)
    assert [(e.seq, e.action, e.from_version, e.to_version, e.why, e.who) for e in log] == [
        (1, "promote", None, v1, "gate passed", "alice@platform"),
        (2, "force-promote", v1, v2, "forced: hotfix INC-42", "alice@platform"),
        (3, "rollback", v2, v1, "INC-42 resolved", "alice@platform"),
    ]
    assert all(e.when.endswith("Z") and e.alias == "champion" for e in log)
    assert not c.search_registered_models("name='reg-force.lock'")  # the lock is released


def test_rollback_walks_history(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-rollback")
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.6, entity_f1=0.2)
    v2 = register(cfg, tiny_dir, tmp_path / "b", format_compliance=0.7, entity_f1=0.3)
    assert R.promote(cfg, v1).promoted and R.promote(cfg, v2).promoted
    c = client(cfg)
    assert json.loads(c.get_registered_model("reg-rollback").tags["champion_history"]) == [v1, v2]

    assert R.rollback(cfg) == v1
    assert alias_version(c, "reg-rollback", "champion") == v1
    assert c.get_model_version("reg-rollback", v2).tags["rolled_back"] == "true"
    assert json.loads(c.get_registered_model("reg-rollback").tags["champion_history"]) == [v1]
    with pytest.raises(RegistryError, match="no earlier champion than v1"):
        R.rollback(cfg)


def test_missing_things_raise_registry_errors(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-missing", gate={**OPEN_GATE, "minimums": {"answer_accuracy": 0.4}})
    with pytest.raises(RegistryError, match=r"has no 'candidate' alias.*pathreasoner register"):
        R.promote(cfg)
    with pytest.raises(RegistryError, match=r"metrics.json does not exist; run `pathreasoner evaluate`"):
        R.register_model(tiny_dir, tmp_path / "nothing", cfg, {})
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.9)  # no answer_accuracy
    with pytest.raises(RegistryError, match=r"no eval metric\(s\) \['answer_accuracy'\]"):
        R.promote(cfg, v1)
    c = client(cfg)
    assert "gate.passed" not in c.get_model_version("reg-missing", v1).tags  # nothing half-applied
    assert not c.get_registered_model("reg-missing").aliases.get("champion")
    with pytest.raises(RegistryError, match="has no version '7'"):
        R.promote(cfg, 7)
    with pytest.raises(RegistryError, match=r"has no alias 'champion'.*pathreasoner promote"):
        R.resolve_checkpoint("models:/reg-missing@champion", cfg)
    with pytest.raises(RegistryError, match="no 'champion' alias to roll back"):
        R.rollback(cfg)
    with pytest.raises(RegistryError, match="models:/<name>@<alias>"):
        R.resolve_checkpoint("runs:/abc/model", cfg)
    assert not c.search_registered_models("name='reg-missing.lock'")  # released after each error


def test_champion_loads_as_pyfunc_and_predicts(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-pyfunc", gate=OPEN_GATE)
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.1, entity_f1=0.0)
    assert R.promote(cfg, v1).promoted

    local = R.resolve_checkpoint("models:/reg-pyfunc@champion", cfg, tmp_path / "dl")
    assert (
        local.name == "checkpoint"
        and (local / "config.json").exists()
        and (local / "model.safetensors").exists()
    )
    assert R.resolve_checkpoint("models:/reg-pyfunc/1", cfg, tmp_path / "dl") == local  # cached

    uri = R.storage_uri("models:/reg-pyfunc@champion", cfg)
    assert uri.startswith("file://") and uri.endswith("/artifacts/checkpoint")
    assert (Path(uri[len("file://") :]) / "config.json").exists()

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (190, 80, 150)).save(buf, "JPEG")
    model = mlflow.pyfunc.load_model("models:/reg-pyfunc@champion")
    out = model.predict(
        [{"image": base64.b64encode(buf.getvalue()).decode(), "question": "What is the diagnosis?"}]
    )
    assert isinstance(out, list) and len(out) == 1
    assert set(out[0]) == {"text", "observe", "think", "answer"} and out[0]["text"]


def test_register_logs_training_curves_of_the_checkpoint(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("reg-curves")
    train_out = tmp_path / "grpo"
    shutil.copytree(tiny_dir, train_out / "checkpoint")
    (train_out / "train_log.json").write_text(
        json.dumps(
            {
                "stage": "train-grpo",
                "loss": [{"step": 1, "loss": 0.5, "reward": 1.2}, {"step": 2, "loss": 0.25, "reward": 1.4}],
                "reward": [],
            }
        )
    )
    got = R.register_model(
        train_out / "checkpoint", eval_dir(tmp_path / "ev", format_compliance=1.0), cfg, {}
    )
    c = client(cfg)
    history = c.get_metric_history(got.run_id, "train-grpo/loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    assert [m.value for m in c.get_metric_history(got.run_id, "train-grpo/reward")] == [1.2, 1.4]
    assert "train-grpo/train_log.json" in {f.path for f in c.list_artifacts(got.run_id, "train-grpo")}
