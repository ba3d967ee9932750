"""The GRPO diagnosis-accuracy monitor: scored on diagnosis questions only, from the <answer> span."""

from __future__ import annotations

import json
from pathlib import Path

from pathreasoner.train.monitors import make_diagnosis_monitor


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
