from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pathreasoner.config import Config
from pathreasoner.model.factory import load_checkpoint
from pathreasoner.model.inference import Generator
from pathreasoner.train.data import load_split
from pathreasoner.train.result import TrainResult
from pathreasoner.train.sft import build_sft_trainer, train_sft

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sft_run(samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sft")
    return train_sft(samples_dir, out, train_cfg), out


def _changed(a: Path, b: Path) -> int:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return sum(not torch.equal(wa[k], wb[k]) for k in wa)


def test_labels_cover_only_assistant_tokens(samples_dir: Path, train_cfg: Config, tmp_path: Path) -> None:
    trainer, _, _ = build_sft_trainer(samples_dir, tmp_path, train_cfg)
    records = load_split(samples_dir, "train").records
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(rows)
    tok = trainer.processing_class.tokenizer
    image_pad = tok.convert_tokens_to_ids("<|image_pad|>")
    assert int((batch["input_ids"] == image_pad).sum()) > 0
    for i in range(2):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        trained = labels != -100
        assert torch.equal(labels[trained], ids[trained])
        assert tok.decode(ids[trained]) == records[i]["response"] + "<|im_end|>\n"
        first = int(trained.nonzero()[0])
        prompt = tok.decode(ids[:first])
        assert prompt.endswith("<|im_start|>assistant\n") and "<|vision_start|>" in prompt
        assert not trained[:first].any() and not trained[mask == 0].any()


def test_response_prefix_is_masked(samples_dir: Path, train_cfg: Config, tmp_path: Path) -> None:
    trainer, _, _ = build_sft_trainer(samples_dir, tmp_path, train_cfg)
    row = trainer.train_dataset[0]
    text = row["messages"][-1]["content"][0]["text"]
    prefix, rest = text.split("<think>", 1)
    row["messages"][-1] = {
        **row["messages"][-1],
        "prefix": prefix,
        "content": [{"type": "text", "text": "<think>" + rest}],
    }
    batch = trainer.data_collator([row])
    tok = trainer.processing_class.tokenizer
    trained = batch["labels"][0] != -100
    assert tok.decode(batch["input_ids"][0][trained]) == "<think>" + rest + "<|im_end|>\n"
    assert prefix in tok.decode(batch["input_ids"][0])


def test_train_sft_logs_loss_and_changes_weights(sft_run, tiny_dir: Path, images) -> None:
    result, out = sft_run
    assert isinstance(result, TrainResult)
    assert result.steps == 3 and result.n_samples == 6
    assert [h["step"] for h in result.loss_history] == [1.0, 2.0, 3.0]
    assert all(h["loss"] > 0 for h in result.loss_history)
    assert result.skipped == [{"id": "no-images", "reason": "no images"}]
    assert "train-sft: 3 steps on 6 samples" in result.line()
    log = json.loads((out / "train_log.json").read_text())
    assert [h["loss"] for h in log["loss"]] == [h["loss"] for h in result.loss_history]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["final_loss"] == result.final_loss
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint",
        "sft_loss.png",
        "summary.json",
        "train_log.json",
        "train_report.md",
    ]
    assert "## SFT" in (out / "train_report.md").read_text()
    assert _changed(tiny_dir, out / "checkpoint") > 10
    text = Generator.from_checkpoint(out / "checkpoint", max_new_tokens=4).generate(images, "Diagnosis?")
    assert isinstance(text, str)


def test_lora_is_merged_before_save(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = train_cfg.model_copy(
        update={"sft": train_cfg.sft.model_copy(update={"lora": True, "max_steps": 2})}
    )
    result = train_sft(samples_dir, tmp_path, cfg)
    weights = load_file(tmp_path / "checkpoint" / "model.safetensors")
    assert not any("lora" in k for k in weights)
    assert _changed(tiny_dir, tmp_path / "checkpoint") > 0
    model, _ = load_checkpoint(tmp_path / "checkpoint")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert result.extra["lora"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("ds_config", ["ds_zero2.json", "ds_zero3.json"])
def test_deepspeed_zero_single_process(
    ds_config: str,
    samples_dir: Path,
    train_cfg: Config,
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("deepspeed")
    for key, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "DS_ACCELERATOR": "cpu",
    }.items():
        monkeypatch.setenv(key, value)
    sft = train_cfg.sft.model_copy(
        update={"deepspeed": str(REPO / "pathreasoner" / "train" / "deepspeed" / ds_config), "max_steps": 2}
    )
    result = train_sft(samples_dir, tmp_path, train_cfg.model_copy(update={"sft": sft}))
    assert result.steps == 2 and len(result.loss_history) == 2
    assert result.extra["deepspeed"].endswith(ds_config)
    assert not (tmp_path / "checkpoint" / "training_args.bin").exists()
    assert _changed(tiny_dir, tmp_path / "checkpoint") > 10
    assert "ACCELERATE_USE_DEEPSPEED" not in os.environ  # nothing leaks into the next stage
    assert not torch.distributed.is_initialized()


def test_trajectory_masking_is_the_default_and_reads_the_variant_file(
    train_cfg: Config, tmp_path: Path
) -> None:
    from pathreasoner.train.sft import sft_split

    assert train_cfg.sft.trajectory_masking  # the paper's SFT is the default
    assert sft_split(tmp_path, train_cfg) == "train"  # no variants written: plain split
    (tmp_path / "sft_train.jsonl").write_text("{}\n")
    assert sft_split(tmp_path, train_cfg) == "sft_train"
    off = train_cfg.model_copy(update={"sft": train_cfg.sft.model_copy(update={"trajectory_masking": False})})
    assert sft_split(tmp_path, off) == "train"


def test_stock_template_base_gets_an_assistant_mask(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    """model.base = a checkpoint with the stock Qwen2.5-VL template (as downloaded): the loss still falls on
    exactly the response tokens, and a trajectory prefix is shown but not trained."""
    from pathreasoner.model.factory import chat_template
    from tests.model.stock_checkpoint import save_stock_checkpoint

    stock = save_stock_checkpoint(tiny_dir, tmp_path / "downloaded")
    cfg = train_cfg.model_copy(update={"model": train_cfg.model.model_copy(update={"base": str(stock)})})
    trainer, _, _ = build_sft_trainer(samples_dir, tmp_path / "out", cfg)
    assert trainer.processing_class.chat_template == chat_template()
    tok = trainer.processing_class.tokenizer
    records = load_split(samples_dir, "train").records
    rows = [trainer.train_dataset[i] for i in range(2)]
    prefix, rest = records[1]["response"].split("<think>", 1)
    rows[1]["messages"][-1] = {
        **rows[1]["messages"][-1],
        "prefix": prefix,
        "content": [{"type": "text", "text": "<think>" + rest}],
    }
    batch = trainer.data_collator(rows)
    trained = batch["labels"] != -100
    assert tok.decode(batch["input_ids"][0][trained[0]]) == records[0]["response"] + "<|im_end|>\n"
    assert tok.decode(batch["input_ids"][1][trained[1]]) == "<think>" + rest + "<|im_end|>\n"
    first = int(trained[1].nonzero()[0])
    assert tok.decode(batch["input_ids"][1][:first]).endswith("<|im_start|>assistant\n" + prefix)


def test_gradient_checkpointing_setting(samples_dir: Path, train_cfg: Config, tmp_path: Path) -> None:
    losses = {}
    for on in (False, True):
        cfg = train_cfg.model_copy(
            update={"sft": train_cfg.sft.model_copy(update={"gradient_checkpointing": on, "max_steps": 1})}
        )
        trainer, history, _ = build_sft_trainer(samples_dir, tmp_path / str(on), cfg)
        assert trainer.args.gradient_checkpointing is on
        trainer.train()
        assert trainer.model.is_gradient_checkpointing is on
        losses[on] = history.entries[0]["loss"]
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)  # same maths, less memory
