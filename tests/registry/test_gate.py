"""The default gate (params.yaml) on eval dirs with chosen verdicts: what it refuses and what it lets through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pathreasoner.config import GateConfig, load_config
from pathreasoner.errors import ConfigError
from pathreasoner.registry.gate import Evidence, evaluate_gate, paired_bootstrap, read_verdicts
from tests.registry.evaldirs import verdicts, write_eval_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gate() -> GateConfig:
    return load_config(REPO / "params.yaml").registry.gate


def evidence(eval_dir: Path, version: str) -> Evidence:
    raw = json.loads((eval_dir / "metrics.json").read_text())
    metrics = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
    return Evidence(
        version,
        metrics,
        raw.get("eval_set_hash"),
        raw.get("split"),
        read_verdicts(eval_dir / "predictions.jsonl"),
    )


def failed(checks) -> dict[str, str]:
    return {c.name: str(c) for c in checks if not c.ok}


def test_default_gate_passes_the_demo_model_alone(gate: GateConfig, tmp_path: Path) -> None:
    demo = evidence(write_eval_dir(tmp_path / "demo", verdicts(24, 13)), "1")  # 0.54 on 24, 6 diagnoses
    checks = evaluate_gate(gate, demo, None)
    assert failed(checks) == {}
    assert [c.name for c in checks] == [
        "min_items",
        "min.answer_accuracy",
        "min.format_compliance",
        "above_chance",
    ]
    assert str(checks[0]) == "pass: n_scored=24 >= min_items 20"


def test_default_gate_refuses_an_untrained_model(gate: GateConfig, tmp_path: Path) -> None:
    untrained = evidence(write_eval_dir(tmp_path / "u", verdicts(24, 0), format_compliance=0.0), "1")
    fails = failed(evaluate_gate(gate, untrained, None))
    assert set(fails) == {"min.answer_accuracy", "min.format_compliance", "above_chance"}
    assert fails["min.answer_accuracy"] == "fail: answer_accuracy=0.0000 < minimum 0.4"


@pytest.mark.parametrize(("n_diagnoses", "n_correct"), [(3, 8), (6, 4)])
def test_default_gate_refuses_the_shuffled_image_ablation(
    gate: GateConfig, tmp_path: Path, n_diagnoses: int, n_correct: int
) -> None:
    """Views shuffled across patients: accuracy at chance (8/24 = 0.33 with 3 diagnoses, 4/24 = 0.17 with 6),
    format perfect (the text is learned, the image is not)."""
    ablation = evidence(write_eval_dir(tmp_path / "a", verdicts(24, n_correct), n_diagnoses=n_diagnoses), "1")
    fails = failed(evaluate_gate(gate, ablation, None))
    assert set(fails) == {"min.answer_accuracy", "above_chance"}
    assert fails["above_chance"].startswith(
        f"fail: diagnosis_accuracy={n_correct / 24:.4f} - max(chance, majority)"
    )


def test_too_few_items_are_refused(gate: GateConfig, tmp_path: Path) -> None:
    small = evidence(write_eval_dir(tmp_path / "s", [True] * 8 + [None] * 16), "1")
    assert failed(evaluate_gate(gate, small, None)) == {"min_items": "fail: n_scored=8 < min_items 20"}


def test_a_worse_model_is_refused_against_the_champion(gate: GateConfig, tmp_path: Path) -> None:
    champ = evidence(write_eval_dir(tmp_path / "c", verdicts(40, 30)), "1")  # 0.75
    worse = evidence(write_eval_dir(tmp_path / "w", verdicts(40, 22)), "2")  # 0.55: passes the minimums
    checks = evaluate_gate(gate, worse, champ)
    fails = failed(checks)
    assert list(fails) == ["non_inferiority"]
    assert fails["non_inferiority"].startswith(
        "fail: answer_accuracy v2 - champion v1 = -0.2000 over 40 paired items, 95% CI [-0.3"
    )
    same = evidence(write_eval_dir(tmp_path / "same", verdicts(40, 30)), "3")  # identical verdicts
    ok = {c.name: str(c) for c in evaluate_gate(gate, same, champ)}
    assert ok["non_inferiority"].endswith(
        "= +0.0000 over 40 paired items, 95% CI [+0.0000, +0.0000]; lower bound > -margin -0.1"
    )


def test_a_comparison_across_eval_sets_is_refused(gate: GateConfig, tmp_path: Path) -> None:
    champ = evidence(write_eval_dir(tmp_path / "c", verdicts(24, 13), eval_set_hash="aaaa" * 16), "1")
    better = evidence(write_eval_dir(tmp_path / "b", verdicts(24, 20), eval_set_hash="bbbb" * 16), "2")
    fails = failed(evaluate_gate(gate, better, champ))
    assert list(fails) == ["eval_set"]
    assert fails["eval_set"] == (
        "fail: different eval sets: v2 on test bbbbbbbbbbbb, champion v1 on test aaaaaaaaaaaa; re-evaluate the "
        "champion on the candidate's eval set (`pathreasoner model reevaluate 1 --samples DIR`, or `model promote "
        "--reevaluate-champion DIR`), or promote with --force --reason"
    )
    old = evidence(write_eval_dir(tmp_path / "old", verdicts(24, 20), eval_set_hash=None), "3")
    assert "v3 has no eval_set_hash" in failed(evaluate_gate(gate, old, champ))["eval_set"]


def test_paired_bootstrap_matches_numpy_by_hand() -> None:
    cand = {f"i{k}": k % 2 == 0 for k in range(10)}  # 5 right
    champ = {f"i{k}": k < 3 for k in range(10)} | {"only-champion": True}  # 3 right on the shared items
    got = paired_bootstrap(cand, champ, n_boot=500, seed=7)
    assert got is not None and got.n_pairs == 10 and got.diff == pytest.approx(0.2)
    shared = sorted(set(cand) & set(champ))
    delta = np.array([float(cand[i]) - float(champ[i]) for i in shared])
    means = delta[np.random.default_rng(7).integers(0, 10, size=(500, 10))].mean(axis=1)
    assert (got.low, got.high) == tuple(np.percentile(means, [2.5, 97.5]))
    assert paired_bootstrap({"a": True}, {"b": True}, 500, 0) is None


def test_a_gate_naming_an_unknown_metric_fails_at_load() -> None:
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['accuracy'\]; use names evaluate writes"):
        load_config(REPO / "params.yaml", ["registry.gate.minimums.accuracy=0.5"])
