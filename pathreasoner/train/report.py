"""train_report.md: the SFT loss curve, the GRPO reward curves (total and per component) and KL, and the
GRPO start (the SFT policy) against its end, from the stages' train_log.json files."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from pathreasoner.config import Config
from pathreasoner.eval.report import save_png
from pathreasoner.io_utils import atomic_write_text

logger = logging.getLogger(__name__)

REPORT_MD = "train_report.md"
SFT_PNG = "sft_loss.png"
GRPO_PNG = "grpo_rewards.png"
KL_PNG = "grpo_kl.png"
TRAIN_LOG = "train_log.json"


def read_log(stage_dir: Path | None) -> dict[str, Any] | None:
    """A stage's train_log.json, or None when there is none."""
    path = Path(stage_dir) / TRAIN_LOG if stage_dir else None
    if not path or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def reward_series(entries: Sequence[Mapping[str, float]]) -> dict[str, list[tuple[float, float]]]:
    """{"reward": [(step, value)...], "<component>": [...]} from GRPO log entries (TRL's key names)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for entry in entries:
        for key, value in entry.items():
            name = None
            if key == "reward":
                name = "total"
            elif key.startswith("rewards/") and key.endswith("/mean"):
                name = key[len("rewards/") : -len("/mean")]
            if name and math.isfinite(value):
                series.setdefault(name, []).append((entry["step"], value))
    return series


def start_end(points: Sequence[tuple[float, float]], share: float = 0.25) -> tuple[float, float]:
    """Mean of the first and of the last `share` of a curve (at least one point each)."""
    k = max(1, round(len(points) * share))
    values = [v for _, v in points]
    return sum(values[:k]) / k, sum(values[-k:]) / k


def _plot(curves: Mapping[str, Sequence[tuple[float, float]]], title: str, ylabel: str, path: Path) -> Path:
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    for name, points in curves.items():
        ax.plot(
            [s for s, _ in points],
            [v for _, v in points],
            marker="." if len(points) < 40 else None,
            label=name,
        )
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return save_png(fig, path)


def write_train_report(out_dir: Path, sft_dir: Path | None, grpo_dir: Path | None) -> Path | None:
    """Write train_report.md and its PNGs into `out_dir` from the SFT and/or GRPO logs; returns the report
    path (None when neither stage left a log)."""
    sft, grpo = read_log(sft_dir), read_log(grpo_dir)
    if not sft and not grpo:
        return None
    lines = ["# Training report", ""]
    if sft and sft.get("loss"):
        losses = [(e["step"], e["loss"]) for e in sft["loss"] if "loss" in e]
        _plot({"loss": losses}, "SFT loss (trained tokens only)", "loss", out_dir / SFT_PNG)
        lines += [
            "## SFT",
            "",
            f"{len(losses)} logged steps; loss {losses[0][1]:.3f} at step {losses[0][0]:.0f} -> "
            f"{losses[-1][1]:.3f} at step {losses[-1][0]:.0f}.",
            "",
            f"![SFT loss]({SFT_PNG})",
            "",
        ]
    series = reward_series(grpo.get("reward", [])) if grpo else {}
    if series:
        _plot(series, "GRPO rewards (mean over each step's completions)", "reward", out_dir / GRPO_PNG)
        lines += [
            "## GRPO",
            "",
            "The first steps score completions of the SFT policy; the last ones, of the trained policy.",
            "",
            "| reward | start (first quarter) | end (last quarter) | change |",
            "|---|---|---|---|",
        ]
        for name, points in series.items():
            first, last = start_end(points)
            lines.append(f"| {name} | {first:.3f} | {last:.3f} | {last - first:+.3f} |")
        lines += ["", f"![GRPO rewards]({GRPO_PNG})", ""]
        kl = [(e["step"], e["kl"]) for e in grpo.get("reward", []) if math.isfinite(e.get("kl", math.nan))]
        if kl:
            _plot({"kl": kl}, "KL to the reference (SFT) policy", "KL", out_dir / KL_PNG)
            lines += [f"![KL]({KL_PNG})", ""]
    report = out_dir / REPORT_MD
    atomic_write_text(report, "\n".join(lines))
    logger.info("training report -> %s", report)
    return report


def stage_dir_of(checkpoint: Path) -> Path:
    """The training stage folder behind a checkpoint (`<out>` for `<out>/checkpoint` or `<out>` itself)."""
    checkpoint = Path(checkpoint)
    return checkpoint if (checkpoint / TRAIN_LOG).is_file() else checkpoint.parent


def publish_train_report(
    out_dir: Path, sft_dir: Path | None, grpo_dir: Path | None, cfg: Config, run_id: str | None
) -> Path | None:
    """Write train_report.md (+ PNGs) into `out_dir` and attach them to the stage's MLflow run, if any.

    A report that cannot be drawn or logged is a warning, never a failed training run."""
    try:
        report = write_train_report(out_dir, sft_dir, grpo_dir)
        if report and run_id and cfg.training.mlflow:
            import mlflow

            client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
            for path in [report, *(report.parent / name for name in (SFT_PNG, GRPO_PNG, KL_PNG))]:
                if path.is_file():
                    client.log_artifact(run_id, str(path), artifact_path="train_report")
    except Exception as exc:  # the weights are saved; a report problem must not fail the stage
        logger.warning("could not write or log the training report in %s: %s", out_dir, exc)
        return None
    return report
