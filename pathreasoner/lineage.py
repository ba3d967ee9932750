"""Lineage facts recorded on every registered model version: code, config, data, KG, run and image.

Inside an image there is no ``.git``: the commit comes from ``PATHREASONER_GIT_SHA`` (the image's ENV,
mirroring its ``org.opencontainers.image.revision`` label), the image digest from
``PATHREASONER_IMAGE_DIGEST`` (set by the runner) or the ``@sha256:`` part of the image reference.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from pathreasoner.config import Config

GIT_SHA_ENV = "PATHREASONER_GIT_SHA"
IMAGE_DIGEST_ENV = "PATHREASONER_IMAGE_DIGEST"
UNKNOWN = "unknown"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def git_sha(repo_dir: Path | None = None) -> str:
    """The commit of the code that ran: `git rev-parse HEAD` in a checkout, else $PATHREASONER_GIT_SHA."""
    repo_dir = repo_dir or Path(__file__).resolve().parents[1]
    if (repo_dir / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=repo_dir,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return os.environ.get(GIT_SHA_ENV, "").strip() or UNKNOWN


def image_digest(image: str | None = None) -> str:
    """`sha256:<hex>` of the running image: $PATHREASONER_IMAGE_DIGEST, else the digest in `image`
    (`registry/name@sha256:<hex>`), else 'unknown' (an image referenced by tag only)."""
    for source in (os.environ.get(IMAGE_DIGEST_ENV, ""), image or ""):
        match = _DIGEST.search(source.strip().lower())
        if match:
            return match.group(0)
    return UNKNOWN


def collect_lineage(
    cfg: Config,
    samples_dir: Path | None = None,
    *,
    kfp_run_id: str | None = None,
    image: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """git sha, config hash, dataset version (the DVC hash of the samples folder), kg_version (from the card), the
    KFP run id (when run by the pipeline) and the image digest; `extra` entries are added as given."""
    lineage = {
        "git_sha": git_sha(),
        "config_hash": cfg.config_hash(),
        "image_digest": image_digest(image),
    }
    if kfp_run_id and kfp_run_id.strip():
        lineage["kfp_run_id"] = kfp_run_id.strip()
    if samples_dir is not None:
        samples_dir = Path(samples_dir)
        if (samples_dir / "samples.jsonl").exists():
            from pathreasoner.data_version import dataset_version

            lineage["data_version"] = dataset_version(samples_dir)  # == the md5 `dvc add`/dvc.lock records
        card = samples_dir / "card.json"
        if card.exists():
            kg_version = json.loads(card.read_text()).get("kg_version")
            if kg_version:
                lineage["kg_version"] = str(kg_version)
    lineage.update({k: str(v) for k, v in extra.items()})
    return lineage


def training_runs(train_out: Path) -> dict[str, str]:
    """MLflow run ids of the training stages behind a checkpoint: `train_grpo_run_id` / `train_sft_run_id`,
    read from the stages' summary.json (GRPO's names its SFT init checkpoint); missing ones are left out."""
    found: dict[str, str] = {}
    stage_dir: Path | None = Path(train_out)
    for _ in range(2):  # GRPO, then the SFT run it started from
        if stage_dir is None:
            break
        summary_path = next(
            (p for p in (stage_dir / "summary.json", stage_dir.parent / "summary.json") if p.is_file()), None
        )
        if summary_path is None:
            break
        summary = json.loads(summary_path.read_text())
        extra = summary.get("extra") or {}
        stage = str(summary.get("stage", "")).replace("-", "_")
        if extra.get("mlflow_run_id") and stage in ("train_sft", "train_grpo"):
            found[f"{stage}_run_id"] = str(extra["mlflow_run_id"])
        init = extra.get("init_checkpoint")
        stage_dir = Path(init) if init else None
    return found
