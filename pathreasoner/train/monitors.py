"""Metrics GRPO logs beside its rewards without training on them (weight 0 in reward_weights).

`diagnosis_accuracy`: the `diagnosis` reward (pathreasoner.train.rewards.diagnosis) of each rollout. When
`reward.components` does not weight it, GRPO still logs its mean per step as
`rewards/diagnosis_accuracy/mean`, so the curve shows the rollouts' accuracy from the SFT policy onwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pathreasoner.eval.diagnosis import DiagnosisChecker
from pathreasoner.train.rewards.diagnosis import make_diagnosis_reward


def make_diagnosis_monitor(samples_dir: Path) -> Any | None:
    """The monitor bound to a samples dir's lexicon and KG types; None when the dataset has no types."""
    checker = DiagnosisChecker.for_samples(samples_dir)
    return make_diagnosis_reward(checker) if checker.types else None
