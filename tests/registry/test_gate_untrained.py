"""An untrained tiny model, evaluated for real on the evaluation tests' samples, registered and refused by the
default gate of params.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pathreasoner.eval.evaluate import evaluate_checkpoint
from pathreasoner.registry import mlflow_registry as R
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
