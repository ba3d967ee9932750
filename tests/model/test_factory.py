from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

from pathreasoner.config import ModelConfig
from pathreasoner.errors import ModelError
from pathreasoner.model.factory import cache_root, load_base_model, load_checkpoint, tiny_checkpoint, tiny_key
from pathreasoner.model.prompts import build_messages
from pathreasoner.model.tokenizer import SPECIAL_TOKENS, TAG_TOKENS
from pathreasoner.response import SYSTEM_PROMPT


def test_tiny_checkpoint_is_a_small_qwen2_5_vl(tiny_dir: Path, model_cfg: ModelConfig) -> None:
    assert tiny_dir.parent == Path(model_cfg.cache_dir)
    assert tiny_key(model_cfg) in tiny_dir.name
    model, processor = load_checkpoint(tiny_dir)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert isinstance(processor, Qwen2_5_VLProcessor)
    n_params = sum(p.numel() for p in model.parameters())
    assert 100_000 < n_params < 5_000_000
    vocab = processor.tokenizer.get_vocab()
    for token in (*SPECIAL_TOKENS, *TAG_TOKENS):
        assert token in vocab, token
    assert model.config.image_token_id == vocab["<|image_pad|>"]
    assert 1000 < len(processor.tokenizer) <= 4000


def test_tiny_checkpoint_is_cached_and_reused(tiny_dir: Path, model_cfg: ModelConfig) -> None:
    stamp = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = tiny_checkpoint(model_cfg)
    assert again == tiny_dir
    assert time.perf_counter() - start < 1.0
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_tiny_build_is_seeded_and_race_safe(tmp_path: Path, tiny_dir: Path) -> None:
    cfg = ModelConfig(cache_dir=str(tmp_path))
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(tiny_checkpoint(cfg))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert [p.name for p in tmp_path.iterdir()] == [results[0].name]  # no temp dirs left behind
    ours, reference = load_file(results[0] / "model.safetensors"), load_file(tiny_dir / "model.safetensors")
    assert ours.keys() == reference.keys()
    assert all(torch.equal(ours[k], reference[k]) for k in ours)


def test_cache_key_follows_image_budget(model_cfg: ModelConfig) -> None:
    other = ModelConfig(cache_dir=model_cfg.cache_dir, image_max_pixels=model_cfg.image_max_pixels * 2)
    assert tiny_key(other) != tiny_key(model_cfg)


def test_cache_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATHREASONER_CACHE", str(tmp_path))
    assert cache_root(ModelConfig()) == tmp_path
    assert cache_root(ModelConfig(cache_dir="/x/y")) == Path("/x/y")


def test_save_load_round_trip(tmp_path: Path, model_cfg: ModelConfig) -> None:
    model, processor = load_base_model(model_cfg)
    with torch.no_grad():
        model.lm_head.weight.add_(0.5)
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    loaded, loaded_proc = load_base_model(ModelConfig(base=str(tmp_path / "ckpt")))
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    assert loaded_proc.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    assert loaded_proc.chat_template == processor.chat_template


def test_processor_renders_images_in_chat_template(tiny_dir: Path, images) -> None:
    _, processor = load_checkpoint(tiny_dir)
    messages = build_messages(images, "What is the diagnosis?", response="<answer>x</answer>")
    text = processor.apply_chat_template(messages, tokenize=False)
    assert text.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert text.endswith(
        "What is the diagnosis?<|im_end|>\n<|im_start|>assistant\n<answer>x</answer><|im_end|>\n"
    )
    batch = processor(text=[text], images=images, return_tensors="pt")
    n_pad = int((batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    merge = processor.image_processor.merge_size**2
    assert n_pad == int(batch["image_grid_thw"].prod(dim=1).sum()) // merge
    assert n_pad >= 2 * (3136 // (28 * 28))


def test_bad_bases_raise_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_checkpoint(tmp_path)
    with pytest.raises(ModelError, match=r"model\.base"):
        load_base_model(ModelConfig(base=str(tmp_path / "not-there" / "nope"), cache_dir=str(tmp_path)))
    with pytest.raises(ModelError, match=r"model\.base"):
        load_base_model(ModelConfig(base="no-such-org/no-such-model", cache_dir=str(tmp_path)))


def test_load_base_model_from_s3(tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models")
        for path in tiny_dir.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), "models", f"runs/7/checkpoint/{path.relative_to(tiny_dir)}")
        cfg = ModelConfig(base="s3://models/runs/7/checkpoint", cache_dir=str(tmp_path))
        model, processor = load_base_model(cfg)
        local = tmp_path / "s3" / "models" / "runs/7/checkpoint"
        assert (local / "config.json").is_file() and (local / "model.safetensors").is_file()
        reference, _ = load_checkpoint(tiny_dir)
        assert torch.equal(model.lm_head.weight, reference.lm_head.weight)
        assert isinstance(processor, Qwen2_5_VLProcessor)
        with pytest.raises(ModelError, match="holds no objects"):
            load_base_model(ModelConfig(base="s3://models/nothing-here", cache_dir=str(tmp_path)))
