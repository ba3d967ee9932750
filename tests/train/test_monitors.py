"""The diagnosis reward and GRPO monitor: scored on diagnosis questions only, from the <answer> span."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathreasoner.config import RewardConfig
from pathreasoner.errors import ConfigError
from pathreasoner.train.monitors import make_diagnosis_monitor
from pathreasoner.train.rewards import build_rewards, score_completions


def test_monitor_scores_diagnosis_questions_only(tmp_path: Path) -> None:
    assert (
        make_diagnosis_monitor(tmp_path) is None
        if (tmp_path / "entity_lexicon.json").write_text("{}")
        else True
    )
    lexicon = {"adenocarcinoma": [], "hepatocellular carcinoma": ["HCC"], "liver": []}
    types = {"adenocarcinoma": "diagnosis", "hepatocellular carcinoma": "diagnosis", "liver": "anatomic_site"}
    (tmp_path / "entity_lexicon.json").write_text(json.dumps(lexicon))
    (tmp_path / "entity_types.json").write_text(json.dumps(types))
    monitor = make_diagnosis_monitor(tmp_path)
    assert monitor is not None and monitor.__name__ == "diagnosis_accuracy"
    completions = [
        [{"role": "assistant", "content": "<observe>o</observe><think>t</think><answer>HCC</answer>"}],
        "<observe>o</observe><think>hepatocellular carcinoma</think><answer>Adenocarcinoma</answer>",
        "<answer>G2</answer>",
    ]
    scores = monitor(
        completions,
        answer=["Hepatocellular carcinoma of the liver", "Hepatocellular carcinoma of the liver", "G2"],
        question_type=["diagnosis", "diagnosis", "grade"],
    )
    assert scores == [1.0, 0.0, None]


def test_diagnosis_reward_is_a_registered_reward(tmp_path: Path) -> None:
    lexicon = {"adenocarcinoma": [], "hepatocellular carcinoma": ["HCC"]}
    types = {"adenocarcinoma": "diagnosis", "hepatocellular carcinoma": "diagnosis"}
    (tmp_path / "entity_lexicon.json").write_text(json.dumps(lexicon))
    cfg = RewardConfig(components={"format": 1.0, "diagnosis": 2.0})
    with pytest.raises(ConfigError, match="needs a samples dir with KG entity types"):
        build_rewards(cfg, lexicon, samples_dir=tmp_path)
    (tmp_path / "entity_types.json").write_text(json.dumps(types))
    rewards = build_rewards(cfg, lexicon, samples_dir=tmp_path)
    assert [(r.name, r.weight) for r in rewards] == [("format", 1.0), ("diagnosis", 2.0)]
    right = "<observe>o</observe>\n<think>t</think>\n<answer>HCC</answer>"
    wrong = "<observe>o</observe>\n<think>t</think>\n<answer>Adenocarcinoma</answer>"
    record = {"question_type": "diagnosis", "answer": "Hepatocellular carcinoma of the liver"}
    scores = score_completions(rewards, [right, wrong], [record, record])
    assert [s["diagnosis"] for s in scores] == [1.0, 0.0]
    assert [s["total"] for s in scores] == [3.0, 1.0]
    grade = score_completions(rewards, [right], [{"question_type": "grade", "answer": "G2"}])[0]
    assert grade["diagnosis"] is None and grade["total"] == 1.0
