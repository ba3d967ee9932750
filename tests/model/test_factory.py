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
from pathreasoner.model.factory import (
    cache_root,
    chat_template,
    install_chat_template,
    load_base_model,
    load_checkpoint,
    resolve_dtype,
    tiny_checkpoint,
    tiny_key,
)
from pathreasoner.model.inference import Generator
from pathreasoner.model.prompts import build_messages
from pathreasoner.model.tokenizer import SPECIAL_TOKENS, TAG_TOKENS
from pathreasoner.response import SYSTEM_PROMPT
from tests.model.stock_checkpoint import STOCK_TEMPLATE, save_stock_checkpoint


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
    with pytest.raises(
        ModelError, match=r"checkpoint .*nope does not exist; pass the output folder of train-sft"
    ):
        load_checkpoint(tmp_path / "nope")
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


def test_stock_template_checkpoint_gets_the_package_template(
    tiny_dir: Path, tmp_path: Path, model_cfg: ModelConfig, images
) -> None:
    stock = save_stock_checkpoint(tiny_dir, tmp_path / "downloaded")
    raw = Qwen2_5_VLProcessor.from_pretrained(stock)
    assert raw.chat_template == STOCK_TEMPLATE and "{% generation %}" not in raw.chat_template  # as shipped
    for loaded in (
        load_base_model(ModelConfig(base=str(stock), cache_dir=model_cfg.cache_dir))[1],
        load_checkpoint(stock)[1],
    ):
        assert loaded.chat_template == chat_template() == loaded.tokenizer.chat_template
        messages = build_messages(0, "Diagnosis?", response="<answer>x</answer>")  # images: see test_sft
        out = loaded.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, mask = out["input_ids"][0], out["assistant_masks"][0]
        trained = [t for t, m in zip(ids, mask, strict=True) if m]
        assert loaded.tokenizer.decode(trained) == "<answer>x</answer><|im_end|>\n"
        # prompts render exactly as the stock template does: serving and vLLM see the same text
        prompt = build_messages(images, "Diagnosis?")
        assert loaded.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True
        ) == raw.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def test_non_qwen_tokenizer_is_refused(tiny_dir: Path) -> None:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    _, processor = load_checkpoint(tiny_dir)
    other = Tokenizer(models.WordLevel({"[UNK]": 0, "<|im_start|>": 1, "hello": 2}, unk_token="[UNK]"))
    processor.tokenizer = PreTrainedTokenizerFast(tokenizer_object=other, unk_token="[UNK]")
    with pytest.raises(
        ModelError, match=r"other-model: its tokenizer has no <\|im_end\|>, <\|vision_start\|>.*Qwen2\.5-VL"
    ):
        install_chat_template(processor, "other-model")


def test_dtype_auto_is_float32_on_cpu_bf16_on_a_bf16_gpu(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ModelConfig().torch_dtype == "auto"
    model, _ = load_checkpoint(tiny_dir, "bfloat16")
    assert model.dtype == torch.bfloat16
    if not torch.cuda.is_available():
        assert resolve_dtype("auto") == torch.float32
        generator = Generator.from_checkpoint(tiny_dir, max_new_tokens=2)
        assert generator.device == "cpu" and generator.model.dtype == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto") == torch.bfloat16
    assert resolve_dtype("auto", device="cpu") == torch.float32  # a model kept on the CPU stays float32
    assert resolve_dtype("float16") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto") == torch.float32  # e.g. a V100: no bf16, and fp16 weights would overflow
    with pytest.raises(ModelError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8")


def test_pixel_budget_applies_to_a_local_base(tiny_dir: Path, tmp_path: Path, model_cfg: ModelConfig) -> None:
    stock = save_stock_checkpoint(tiny_dir, tmp_path / "downloaded")
    cfg = ModelConfig(base=str(stock), cache_dir=model_cfg.cache_dir, image_max_pixels=50176)
    _, processor = load_base_model(cfg)
    assert processor.image_processor.size["longest_edge"] == 50176
    assert processor.image_processor.get_number_of_image_patches(448, 448) == 256
