from __future__ import annotations

from pathlib import Path

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
