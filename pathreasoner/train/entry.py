"""Shared command line of the training modules (runnable directly or under torchrun)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pathreasoner.config import Config, load_config
from pathreasoner.train.result import TrainResult


def parser(stage: str, needs_init: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m pathreasoner.train.{stage}", description=f"Run {stage} training."
    )
    p.add_argument(
        "--config", type=Path, default=Path("params.yaml"), help="params.yaml (default: ./params.yaml)"
    )
    p.add_argument("--samples", type=Path, required=True, help="samples dir with train.jsonl + images/")
    p.add_argument(
        "--out", type=Path, required=True, help="output dir (checkpoint/, train_log.json, summary.json)"
    )
    if needs_init:
        p.add_argument("--init", type=Path, required=True, help="checkpoint to start from (the SFT output)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    return p


def run(
    stage: str, train: Callable[..., TrainResult], argv: list[str] | None = None, needs_init: bool = False
) -> int:
    """Parse args, configure logging, train; rank 0 prints the summary line as JSON."""
    args = parser(stage, needs_init).parse_args(argv)
    cfg: Config = load_config(args.config, args.overrides)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=cfg.project.log_level if rank == 0 else "WARNING",
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
    )
    result = (
        train(args.samples, args.init, args.out, cfg) if needs_init else train(args.samples, args.out, cfg)
    )
    if rank == 0:
        print(json.dumps({"line": result.line(), "checkpoint": result.checkpoint, "steps": result.steps}))
    return 0
