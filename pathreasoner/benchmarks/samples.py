"""A benchmark as a samples dir that `evaluate` reads as its test split.

The slides the manifest finds are tiled like training slides (`wsi.tiler.tile_slides`, `tiling.*`) and
their views copied like build-samples does (`samples.images.copy_views`, `samples.views_per_sample` and
`samples.view_px`). Items whose slide is missing or could not be tiled are not written to ``test.jsonl``;
they are counted and listed, with the reason, in ``benchmark.json``.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.benchmarks.items import LoadedBenchmark
from pathreasoner.benchmarks.manifest import SlideManifest
from pathreasoner.config import Config
from pathreasoner.dataset import LEXICON_FILE, TYPES_FILE
from pathreasoner.eval.hierarchy import ANCESTORS_FILE
from pathreasoner.io_utils import atomic_dir, atomic_write_json, write_jsonl
from pathreasoner.wsi.s3_cache import is_s3_uri, normalize_uri

logger = logging.getLogger(__name__)

SUMMARY_FILE = "benchmark.json"
SPLIT = "test"
NO_SLIDE = "no slide for this id in --slides"


@dataclass
class BenchmarkCounts:
    """What one benchmark file holds and how many of its items have a slide."""

    benchmark: str
    file: str
    slides: str | None
    items: int
    with_slide: int
    missing_slide: int
    by_type: dict[str, int]
    rejected: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)

    def line(self) -> dict[str, Any]:
        """The one JSON line `pathreasoner benchmark load` prints."""
        out: dict[str, Any] = {
            "benchmark": self.benchmark,
            "items": self.items,
            "with_slide": self.with_slide,
            "missing_slide": self.missing_slide,
            "by_type": self.by_type,
        }
        if self.rejected:
            out["rejected"] = len(self.rejected)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.benchmark,
            **self.line(),
            "file": self.file,
            "slides": self.slides,
            "rejected": self.rejected,
            "missing": self.missing,
        }


def _location_key(location: str) -> str:
    """How the tiler names a slide's source (its results' ``slide``)."""
    return normalize_uri(location) if is_s3_uri(location) else str(Path(location))


def count_slides(loaded: LoadedBenchmark, manifest: SlideManifest) -> BenchmarkCounts:
    """Items with and without a slide in the manifest (nothing is tiled or downloaded; a local path the
    manifest names must exist)."""
    missing = []
    for item in loaded.items:
        location = manifest.locate(item.slide_id)
        if location is None:
            missing.append({"id": item.id, "slide_id": item.slide_id, "reason": NO_SLIDE})
        elif not is_s3_uri(location) and not Path(location).exists():
            reason = f"slide {location} does not exist"
            missing.append({"id": item.id, "slide_id": item.slide_id, "reason": reason})
    return BenchmarkCounts(
        benchmark=loaded.name,
        file=loaded.file,
        slides=manifest.source,
        items=len(loaded.items),
        with_slide=len(loaded.items) - len(missing),
        missing_slide=len(missing),
        by_type=loaded.by_type(),
        rejected=list(loaded.rejected),
        missing=missing,
    )


def write_benchmark_samples(
    loaded: LoadedBenchmark,
    manifest: SlideManifest,
    work_dir: Path,
    cfg: Config,
    lexicon_from: Path | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[Path, BenchmarkCounts]:
    """Tile the benchmark's slides into ``work_dir/tiles`` and write ``work_dir/samples`` (``test.jsonl``,
    ``images/``, ``entity_lexicon.json``/``entity_types.json`` from `lexicon_from` when it has them, else
    ``{}``, and ``benchmark.json``). Returns the samples dir and the counts (an item is `with_slide` only
    if its slide was tiled and gave views)."""
    from pathreasoner.samples.images import copy_views
    from pathreasoner.wsi.tiler import tile_slides

    work_dir = Path(work_dir)
    wanted = {item.id: manifest.locate(item.slide_id) for item in loaded.items}
    locations = sorted({_location_key(loc) for loc in wanted.values() if loc is not None})
    tiled: dict[str, Path] = {}
    failed: dict[str, str] = {}
    if locations:
        summary = tile_slides(locations, work_dir / "tiles", cfg.tiling, progress=progress)  # type: ignore[arg-type]
        tiled = {r.slide: Path(r.slide_dir) for r in summary.slides}
        failed = {q["slide"]: f"tiling failed: {q['error_type']}: {q['message']}" for q in summary.quarantine}

    samples_dir = work_dir / "samples"
    with atomic_dir(samples_dir) as tmp:
        views: dict[str, list[str]] = {}
        for key, slide_dir in tiled.items():
            views[key] = copy_views(slide_dir, tmp, cfg.samples.views_per_sample, cfg.samples.view_px)
        records, missing = [], []
        for item in loaded.items:
            location = wanted[item.id]
            key = _location_key(location) if location is not None else None
            images = views.get(key, []) if key else []
            if images:
                records.append(item.record(images, loaded.name))
                continue
            reason = NO_SLIDE if key is None else failed.get(key, f"slide {location} gave no views")
            missing.append({"id": item.id, "slide_id": item.slide_id, "reason": reason})
        write_jsonl(tmp / f"{SPLIT}.jsonl", records)
        for name in (LEXICON_FILE, TYPES_FILE, ANCESTORS_FILE):
            source = Path(lexicon_from) / name if lexicon_from else None
            if source is not None and source.is_file():
                shutil.copyfile(source, tmp / name)
            else:
                atomic_write_json(tmp / name, {})
        counts = BenchmarkCounts(
            benchmark=loaded.name,
            file=loaded.file,
            slides=manifest.source,
            items=len(loaded.items),
            with_slide=len(records),
            missing_slide=len(missing),
            by_type=loaded.by_type(),
            rejected=list(loaded.rejected),
            missing=missing,
        )
        atomic_write_json(tmp / SUMMARY_FILE, counts.to_dict())
    reasons = Counter(m["reason"] for m in missing)
    for reason, n in reasons.most_common():
        logger.warning("%s: %d item(s) without a slide: %s", loaded.name, n, reason)
    return samples_dir, counts
