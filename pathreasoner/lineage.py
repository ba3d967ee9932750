"""Lineage facts recorded on every registered model version: code, config, data, KG."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from pathreasoner.config import Config


def git_sha(repo_dir: Path | None = None) -> str:
    """The commit of the code that ran, or 'unknown' outside a git checkout."""
    repo_dir = repo_dir or Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def file_digest(path: Path, length: int = 16) -> str:
    """sha256 of a file (streamed), truncated to `length` hex characters."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def collect_lineage(cfg: Config, samples_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """git sha, config hash, dataset version (hash of samples.jsonl) and kg_version (from the card)."""
    lineage = {"git_sha": git_sha(), "config_hash": cfg.config_hash()}
    if samples_dir is not None:
        samples_dir = Path(samples_dir)
        samples = samples_dir / "samples.jsonl"
        if samples.exists():
            lineage["data_version"] = file_digest(samples)
        card = samples_dir / "card.json"
        if card.exists():
            kg_version = json.loads(card.read_text()).get("kg_version")
            if kg_version:
                lineage["kg_version"] = str(kg_version)
    lineage.update({k: str(v) for k, v in extra.items()})
    return lineage
