from __future__ import annotations

from pathlib import Path

import torch

from pathreasoner.model.inference import Generator


def test_generate_returns_text(tiny_dir: Path, images) -> None:
    gen = Generator.from_checkpoint(tiny_dir, max_new_tokens=8)
    text = gen.generate(images, "What is the diagnosis?")
    assert isinstance(text, str) and text
    assert "<|im_start|>" not in text and "<|image_pad|>" not in text
    assert len(gen.tokenizer(text)["input_ids"]) <= 8 + 2


def test_generate_batch_matches_single(tiny_dir: Path, images) -> None:
    gen = Generator.from_checkpoint(tiny_dir, max_new_tokens=6)
    items = [
        (images[:1], "Grade?"),
        (images, "What is the most likely diagnosis for this slide?"),
        ([], "Stage?"),
    ]
    batch = gen.generate_batch(items)
    assert len(batch) == 3
    assert batch[0] == gen.generate(*items[0])
    assert batch[2] == gen.generate(*items[2])
    assert gen.generate_batch([]) == []


def test_tags_survive_decoding(tiny_dir: Path) -> None:
    gen = Generator.from_checkpoint(tiny_dir)
    ids = gen.tokenizer("<observe>a</observe>\n<think>b</think>\n<answer>c</answer><|im_end|>")["input_ids"]
    assert ids[0] == gen.tokenizer.convert_tokens_to_ids("<observe>")
    decoded = gen.tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded == "<observe>a</observe>\n<think>b</think>\n<answer>c</answer>"


def test_collated_items_equal_the_processors_own_batch(tiny_dir: Path, images) -> None:
    """prepare() per item + collate() is exactly the processor's left-padded batch (what serving relies on)."""
    gen = Generator.from_checkpoint(tiny_dir, max_new_tokens=6)
    items = [
        (images[:1], "Grade?"),
        (images, "What is the most likely diagnosis for this slide?"),
        ([images[1]], "Stage?"),
    ]
    expected = gen.processor(
        text=[gen.prompt_text(len(views), q) for views, q in items],
        images=[img.convert("RGB") for views, _ in items for img in views],
        return_tensors="pt",
        padding=True,
        padding_side="left",
    )
    got = gen.collate([gen.prepare(views, q) for views, q in items])
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    assert got["attention_mask"][0, 0] == 0 and got["attention_mask"][1].all()  # left padding
    text, counts = gen.generate_prepared([gen.prepare(*items[2])])
    assert text == [gen.generate(*items[2])] and counts[0] >= 1


def test_prepare_reuses_the_prompts_token_ids_and_equals_the_processor(tiny_dir: Path, images) -> None:
    """A repeated (question, image sizes) prompt takes its token ids from the cache: the item is still exactly
    the processor's output, a new image size or question is tokenized afresh, and the cache stays bounded."""
    gen = Generator.from_checkpoint(tiny_dir, max_new_tokens=2)
    gen.TOKEN_CACHE_SIZE = 2
    cases = [(images[:1], "Grade?"), (images, "Grade?"), ([], "Grade?"), (images[:1], "Grade?")]
    for views, question in cases * 2:
        expected = gen.processor(
            text=[gen.prompt_text(len(views), question)], images=views or None, return_tensors="pt"
        )
        got = gen.prepare(views, question).tensors
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert torch.equal(got[key], value), key
    assert len(gen._tokens) == 2  # three distinct prompts, the oldest evicted
    larger = [images[0].resize((224, 224))]  # another image size: more image tokens in the same question
    assert gen.prepare(larger, "Grade?").length > gen.prepare(images[:1], "Grade?").length
