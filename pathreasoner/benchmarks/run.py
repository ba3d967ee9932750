"""`evaluate --benchmark`: a public benchmark's items with slides, evaluated like the test split."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathreasoner.benchmarks.loaders import load_benchmark
from pathreasoner.benchmarks.manifest import SlideManifest
from pathreasoner.benchmarks.samples import SPLIT, SUMMARY_FILE, BenchmarkCounts, write_benchmark_samples
from pathreasoner.config import Config
from pathreasoner.errors import DatasetError

logger = logging.getLogger(__name__)


def benchmark_dir(cfg: Config, name: str) -> Path:
    """Where a benchmark's tiles, samples and (by default) evaluation go: <work_dir>/benchmarks/<name>."""
    return cfg.work_dir / "benchmarks" / name


@dataclass(frozen=True)
class BenchmarkEvalResult:
    counts: BenchmarkCounts
    samples_dir: Path
    evaluation: Any  # eval.evaluate.EvalResult

    def line(self) -> str:
        c = self.counts
        return (
            f"benchmark {c.benchmark}: {c.with_slide}/{c.items} items with a slide, {c.missing_slide} missing "
            f"(listed in {self.samples_dir / SUMMARY_FILE}); {self.evaluation.line()}"
        )


def evaluate_benchmark(
    cfg: Config,
    name: str,
    file: Path,
    slides: str | None,
    checkpoint: Path,
    out_dir: Path | None = None,
    lexicon_from: Path | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> BenchmarkEvalResult:
    """Load the benchmark, tile the slides `slides` maps its items to, write the samples dir under
    <work_dir>/benchmarks/<name>/ and evaluate `checkpoint` on it (split test); the eval dir gets a copy
    of benchmark.json."""
    from pathreasoner.stages import evaluate

    loaded = load_benchmark(name, file)
    root = benchmark_dir(cfg, loaded.name)
    samples_dir, counts = write_benchmark_samples(
        loaded, SlideManifest.from_source(slides), root, cfg, lexicon_from, progress
    )
    if counts.with_slide == 0:
        first = counts.missing[0]["reason"] if counts.missing else "none"
        raise DatasetError(
            f"none of the {counts.items} {loaded.name} items has a usable slide (first reason: {first}); "
            f"pass --slides with the folder, s3:// prefix or manifest that holds the benchmark's slides "
            f"(per-item reasons in {samples_dir / SUMMARY_FILE})"
        )
    if counts.with_slide > cfg.eval.max_samples:
        logger.warning(
            "%s: %d items have a slide but eval.max_samples=%d are evaluated; pass --set eval.max_samples=%d "
            "to evaluate all of them",
            loaded.name,
            counts.with_slide,
            cfg.eval.max_samples,
            counts.with_slide,
        )
    on_test = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"split": SPLIT})})
    out_dir = Path(out_dir or root / "eval")
    result = evaluate(on_test, checkpoint, samples_dir, out_dir)
    shutil.copyfile(samples_dir / SUMMARY_FILE, out_dir / SUMMARY_FILE)  # which benchmark, what was missing
    return BenchmarkEvalResult(counts, samples_dir, result)
