"""Lineage facts: git sha from git or the image's ENV, image digest, KFP run id."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pathreasoner.data_version import dataset_version
from pathreasoner.lineage import collect_lineage, git_sha, image_digest

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "c0" * 32


def test_git_sha_of_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHREASONER_GIT_SHA", SHA)  # a checkout's own HEAD wins over the image ENV
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert git_sha(repo) == head != SHA


def test_git_sha_without_git_comes_from_the_image_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATHREASONER_GIT_SHA", SHA)
    assert git_sha(tmp_path) == SHA  # no .git here, as in an installed image
    (tmp_path / ".git").mkdir()  # a broken checkout: git fails, the ENV still answers
    assert git_sha(tmp_path) == SHA
    monkeypatch.delenv("PATHREASONER_GIT_SHA")
    assert git_sha(tmp_path) == "unknown"


def test_image_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATHREASONER_IMAGE_DIGEST", raising=False)
    assert image_digest(f"ghcr.io/pathreasoner/pipeline@{DIGEST}") == DIGEST
    assert image_digest(f"ghcr.io/pathreasoner/pipeline:0.1.0@{DIGEST.upper()}") == DIGEST
    assert image_digest("ghcr.io/pathreasoner/pipeline:0.1.0") == "unknown"  # a tag names no content
    assert image_digest(None) == "unknown"
    monkeypatch.setenv("PATHREASONER_IMAGE_DIGEST", DIGEST)
    assert image_digest("ghcr.io/pathreasoner/pipeline:0.1.0") == DIGEST


def test_collect_lineage_records_run_and_image(
    tmp_path: Path, make_config: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATHREASONER_IMAGE_DIGEST", DIGEST)
    cfg = make_config(tmp_path / "work")
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "samples.jsonl").write_text('{"id": 1}\n')
    (samples / "card.json").write_text('{"kg_version": "kg-3"}')
    got = collect_lineage(cfg, samples, kfp_run_id="run-9", extra_key="x")
    assert got["kfp_run_id"] == "run-9" and got["image_digest"] == DIGEST
    assert got["config_hash"] == cfg.config_hash() and got["kg_version"] == "kg-3"
    assert got["data_version"] == dataset_version(samples) and got["data_version"].endswith(".dir")
    assert got["extra_key"] == "x"
    assert "kfp_run_id" not in collect_lineage(cfg, None, kfp_run_id="")  # run outside KFP


def test_training_runs_follow_grpo_back_to_its_sft_run(tmp_path: Path) -> None:
    import json

    from pathreasoner.lineage import training_runs

    sft, grpo = tmp_path / "sft", tmp_path / "grpo"
    (sft / "checkpoint").mkdir(parents=True)
    (grpo / "checkpoint").mkdir(parents=True)
    (sft / "summary.json").write_text(json.dumps({"stage": "train-sft", "extra": {"mlflow_run_id": "s1"}}))
    (grpo / "summary.json").write_text(
        json.dumps(
            {
                "stage": "train-grpo",
                "extra": {"mlflow_run_id": "g1", "init_checkpoint": str(sft / "checkpoint")},
            }
        )
    )
    assert training_runs(grpo) == {"train_grpo_run_id": "g1", "train_sft_run_id": "s1"}
    assert training_runs(grpo / "checkpoint") == {"train_grpo_run_id": "g1", "train_sft_run_id": "s1"}
    assert training_runs(tmp_path / "elsewhere") == {}
