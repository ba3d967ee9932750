"""One entry function per pipeline stage, shared by the CLI, the KFP components and the DVC stages.

Each takes the validated Config plus explicit input/output locations, calls the library, and returns
the stage's summary object (every summary has `.line()`). Default locations live under
`project.work_dir` (see `default_dir`) so the CLI and dvc.yaml agree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import DatasetError, RegistryError

logger = logging.getLogger(__name__)

STAGE_DIRS = {
    "demo": "demo",
    "tiles": "tiles",
    "kg": "kg",
    "samples": "samples",
    "sft": "sft",
    "grpo": "grpo",
    "eval": "eval",
    "registry": "registry",
}
SLIDE_SUFFIXES = {
    ".svs",
    ".tif",
    ".tiff",
    ".ndpi",
    ".vms",
    ".vmu",
    ".scn",
    ".mrxs",
    ".bif",
    ".svslide",
    ".dcm",
}


def default_dir(cfg: Config, name: str) -> Path:
    """Where a stage writes by default: <work_dir>/<name>."""
    return cfg.work_dir / STAGE_DIRS[name]


def find_slides(inputs: list[Path] | Path) -> list[Path]:
    """Expand folders into slide files; a folder of .dcm files counts as one DICOM slide.

    ``s3://bucket/prefix/`` (also as a Path, which reads ``s3:/bucket/prefix``) is listed the same way;
    S3 slides come back as ``s3://`` strings, which the tiler fetches into its cache.
    """
    from pathreasoner.wsi.s3_cache import is_s3_uri, list_slides

    items = [inputs] if isinstance(inputs, Path | str) else list(inputs)
    found: list[Path] = []
    for raw in items:
        if is_s3_uri(raw):
            found.extend(list_slides(str(raw)))  # type: ignore[arg-type]  # s3 URIs stay strings
            continue
        item = Path(raw)
        if not item.is_dir():
            found.append(item)
            continue
        dicoms = sorted(item.glob("*.dcm"))
        if dicoms:
            found.append(dicoms[0])
        for child in sorted(item.iterdir()):
            if child.is_dir():
                found.extend(find_slides(child))
            elif child.suffix.lower() in SLIDE_SUFFIXES - {".dcm"}:
                found.append(child)
    return found


def slide_shard_items(slides: str) -> list[str] | str:
    """The slides of a tile-slides pipeline task: a JSON list of paths/URIs, ``{"slides": [...]}`` (as
    shard-slides writes it), or one path, folder or URI as is. Bad JSON is an error with its position."""
    if not slides.lstrip().startswith(("[", "{")):
        return slides
    try:
        items = json.loads(slides)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"slide shard {slides[:80]!r} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno} (char {exc.pos}); pass a JSON list of slide paths/URIs, "
            '{"slides": [...]} as shard-slides writes it, or one folder'
        ) from None
    if isinstance(items, dict):
        items = items.get("slides")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise DatasetError(
            f"slide shard {slides[:80]!r} is not a list of slide paths/URIs; pass a JSON list of strings "
            'or {"slides": [...]}'
        )
    return items


def no_slides_error(inputs: list[Path] | list[str] | Path | str) -> DatasetError:
    """The error for inputs that hold no slide: names each folder or file given and what was looked for."""
    items = [inputs] if isinstance(inputs, Path | str) else list(inputs)
    named = ", ".join(str(item) for item in items) or "(no input given)"
    return DatasetError(
        f"no slide files found in {named}: looked for files ending {', '.join(sorted(SLIDE_SUFFIXES))} "
        "(sub-folders too; a folder of .dcm files is one DICOM slide); pass slide files or a folder that "
        "holds them"
    )


def shard_slides(slides: list[Path] | Path | str, n_shards: int) -> list[list[str]]:
    """Split the slides into at most `n_shards` groups of similar total size (largest first, greedy).

    Used to fan tiling out over parallel pipeline tasks; S3 slides count as equal size.
    """
    if n_shards < 1:
        raise DatasetError(f"n_shards={n_shards} must be >= 1; set pipeline.tile_shards to 1 or more")
    paths = find_slides(slides)  # type: ignore[arg-type]
    if not paths:
        raise no_slides_error(slides)

    def size(path: Path | str) -> int:
        local = Path(path)
        return local.stat().st_size if "://" not in str(path) and local.exists() else 1

    groups: list[list[str]] = [[] for _ in range(min(n_shards, len(paths)))]
    loads = [0] * len(groups)
    for path in sorted(paths, key=size, reverse=True):
        target = loads.index(min(loads))
        groups[target].append(str(path))
        loads[target] += size(path)
    return groups


def content_fingerprint(slides: list[str]) -> str:
    """A digest of what the slides hold: (size, mtime) of local files, (key, size, ETag) of S3 objects.

    Pipeline caching keys tile-slides on it, so a slide replaced under the same name is tiled again.
    """
    import hashlib
    import json

    from pathreasoner.wsi.s3_cache import describe, is_s3_uri

    facts: list[Any] = []
    for item in sorted(map(str, slides)):
        if is_s3_uri(item):
            facts.append([item, describe(item).fingerprint()])
        else:
            stat = Path(item).stat()
            facts.append([item, stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def merge_tile_dirs(tile_dirs: list[Path], into: Path) -> Path:
    """One folder of `<slide_id>/` links over several tile-slides outputs (fan-out shards)."""
    into.mkdir(parents=True, exist_ok=True)
    for tiles in map(Path, tile_dirs):
        for slide_dir in sorted(p for p in tiles.iterdir() if p.is_dir() and not p.name.startswith(".")):
            link = into / slide_dir.name
            if link.exists() or link.is_symlink():
                raise DatasetError(
                    f"slide id {slide_dir.name} appears in two tiling shards ({link.resolve()} and {slide_dir}); "
                    "give each slide a unique file name"
                )
            link.symlink_to(slide_dir.resolve(), target_is_directory=True)
    return into


def demo_data(cfg: Config, out_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> Any:
    from pathreasoner.demo_data import write_demo_cohort

    return write_demo_cohort(out_dir or default_dir(cfg, "demo"), cfg, progress=progress)


def tile_slides(
    cfg: Config, slides: list[Path] | Path, out_dir: Path, progress: Callable[[str, int], None] | None = None
) -> Any:
    paths = find_slides(slides)
    if not paths:
        raise no_slides_error(slides)
    from pathreasoner.wsi.tiler import tile_slides as run

    return run(paths, Path(out_dir), cfg.tiling, progress=progress)


def build_kg(cfg: Config, out_dir: Path) -> Any:
    from pathreasoner.kg.build import build_kg as run

    return run(Path(out_dir), cfg.kg)


def build_samples(
    cfg: Config,
    reports: Path | str,
    tiles_dir: Path | list[Path] | None,
    kg_dir: Path,
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """`tiles_dir` may be a list of tile-slides outputs (the pipeline's tiling shards)."""
    import tempfile

    from pathreasoner.samples.build import build_samples as run

    if isinstance(tiles_dir, list):
        with tempfile.TemporaryDirectory(prefix="tiles-merged-") as tmp:
            merged = merge_tile_dirs(tiles_dir, Path(tmp) / "tiles")
            return run(reports, merged, Path(kg_dir), Path(out_dir), cfg, progress)
    tiles = Path(tiles_dir) if tiles_dir else None
    return run(reports, tiles, Path(kg_dir), Path(out_dir), cfg, progress)


def train_sft(cfg: Config, samples_dir: Path, out_dir: Path) -> Any:
    from pathreasoner.train.sft import train_sft as run

    return run(Path(samples_dir), Path(out_dir), cfg)


def train_grpo(cfg: Config, samples_dir: Path, init_checkpoint: Path, out_dir: Path) -> Any:
    from pathreasoner.train.grpo import train_grpo as run

    return run(Path(samples_dir), Path(init_checkpoint), Path(out_dir), cfg)


def checkpoint_dir(train_out: Path) -> Path:
    """A training stage's output folder holds its checkpoint under `checkpoint/`."""
    train_out = Path(train_out)
    return train_out / "checkpoint" if (train_out / "checkpoint").is_dir() else train_out


def champion_metrics(cfg: Config) -> dict[str, Any] | None:
    """The current champion's eval metrics, for the report's candidate-vs-champion columns; None (logged)
    when there is no champion or the registry cannot be read: evaluation does not depend on the registry."""
    from pathreasoner.registry.mlflow_registry import champion_eval_metrics

    try:
        return champion_eval_metrics(cfg)
    except RegistryError as exc:
        logger.warning("report without the champion's column: %s", exc)
        return None


def evaluate(cfg: Config, checkpoint: Path, samples_dir: Path, out_dir: Path) -> Any:
    from pathreasoner.eval.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(
        checkpoint_dir(checkpoint), Path(samples_dir), Path(out_dir), cfg, champion=champion_metrics(cfg)
    )


def register(
    cfg: Config, checkpoint: Path, eval_dir: Path, samples_dir: Path | None = None, **lineage_extra: str
) -> Any:
    from pathreasoner.lineage import collect_lineage, training_runs
    from pathreasoner.registry.mlflow_registry import register_model

    lineage = collect_lineage(cfg, samples_dir, **training_runs(Path(checkpoint)), **lineage_extra)
    if samples_dir is not None:  # the KG slice the served answers are grounded with (docs/serving.md)
        from pathreasoner.serve.grounding import write_grounding_bundle

        bundle = write_grounding_bundle(
            checkpoint_dir(checkpoint), Path(samples_dir), data_version=lineage.get("data_version", "unknown")
        )
        if bundle is None:
            logger.warning(
                "no grounding.json: no entity lexicon or no KG beside %s; answers list no entities",
                samples_dir,
            )
    return register_model(checkpoint_dir(checkpoint), Path(eval_dir), cfg, lineage)


def promote(cfg: Config, version: str | None = None) -> Any:
    from pathreasoner.registry.mlflow_registry import promote as run

    return run(cfg, version)
