"""Real evaluations of the tiny model on the evaluation tests' samples: the default gate refuses the untrained
model; a champion re-evaluated on the candidate's eval set is compared there."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pathreasoner.errors import RegistryError
from pathreasoner.eval.evaluate import evaluate_checkpoint
from pathreasoner.registry import mlflow_registry as R
from pathreasoner.registry.reevaluate import reevaluate, reevaluate_champion_for
from tests.eval.conftest import samples_dir  # noqa: F401  (the fixture)


def test_default_gate_refuses_an_untrained_model_end_to_end(
    tiny_dir: Path,
    samples_dir: Path,  # noqa: F811
    tmp_path: Path,
    make_config: Callable,
) -> None:
    cfg = make_config(
        tmp_path / "work",
        eval={"max_samples": 3, "max_new_tokens": 12, "batch_size": 2, "bootstrap_resamples": 200},
        registry={"model_name": "untrained", "gate": {}},  # {}: the defaults of params.yaml
    )
    (samples_dir / "entity_types.json").write_text(json.dumps({"invasive ductal carcinoma": "diagnosis"}))
    out = tmp_path / "eval"
    evaluate_checkpoint(tiny_dir, samples_dir, out, cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["answer_accuracy"] == 0.0 and metrics["n_scored"] >= 1

    version = R.register_model(tiny_dir, out, cfg, {}).version
    assert R.champion_eval_metrics(cfg) is None  # nothing promoted yet
    decision = R.promote(cfg, version)
    assert not decision.promoted and decision.previous_champion is None
    failed = {c.name: str(c) for c in decision.checks if not c.ok}
    assert failed["min.answer_accuracy"] == "fail: answer_accuracy=0.0000 < minimum 0.4"
    assert failed["min_items"].startswith(f"fail: n_scored={metrics['n_scored']} < min_items 20")
    assert R.champion_eval_metrics(cfg) is None  # still no champion

    forced = R.promote(cfg, version, force=True, reason="smoke test of the serving path")
    assert forced.forced and R.champion_eval_metrics(cfg)["eval_set_hash"] == metrics["eval_set_hash"]


def test_champion_reevaluated_on_the_candidates_set_is_compared(
    tiny_dir: Path,
    samples_dir: Path,  # noqa: F811
    tmp_path: Path,
    make_config: Callable,
) -> None:
    """Champion evaluated on set A, candidate on set B: refused; after `reevaluate` of the champion on B, the
    gate pairs both on B (the same weights: difference 0) and promotes."""
    cfg = make_config(
        tmp_path / "work",
        eval={"max_samples": 3, "max_new_tokens": 8, "batch_size": 2, "bootstrap_resamples": 200},
        registry={
            "model_name": "reeval",
            "gate": {"minimums": {}, "min_items": 0, "min_above_chance": None, "margin": 0.1},
        },
    )
    (samples_dir / "entity_types.json").write_text(json.dumps({"invasive ductal carcinoma": "diagnosis"}))
    set_b = tmp_path / "samples-b"
    shutil.copytree(samples_dir, set_b)
    rows = [json.loads(line) for line in (set_b / "test.jsonl").read_text().splitlines() if line.strip()]
    rows[0]["question"] += " Name one diagnosis."
    (set_b / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    evaluate_checkpoint(tiny_dir, samples_dir, tmp_path / "eval-a", cfg)
    evaluate_checkpoint(tiny_dir, set_b, tmp_path / "eval-b", cfg)
    v1 = R.register_model(tiny_dir, tmp_path / "eval-a", cfg, {}).version
    assert R.promote(cfg, v1).promoted
    v2 = R.register_model(tiny_dir, tmp_path / "eval-b", cfg, {}).version
    refused = R.promote(cfg, v2)
    assert not refused.promoted and [c.name for c in refused.checks if not c.ok] == ["eval_set"]

    with pytest.raises(RegistryError, match=r"is eval set .*, not the candidate's"):
        reevaluate(
            cfg,
            v1,
            samples_dir,
            expect_hash=json.loads((tmp_path / "eval-b" / "metrics.json").read_text())["eval_set_hash"],
        )
    done = reevaluate_champion_for(cfg, v2, set_b)
    assert done is not None and done.version == v1
    assert reevaluate_champion_for(cfg, v2, set_b) is None  # already evaluated there
    decision = R.promote(cfg, v2)
    checks = {c.name: str(c) for c in decision.checks}
    assert decision.promoted, checks
    assert checks["eval_set"].startswith(f"pass: same eval set as champion v{v1}")
    assert "= +0.0000 over" in checks["non_inferiority"]
