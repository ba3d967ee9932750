"""The evaluate stage: generate answers for a split with a checkpoint, score them, write the report.

Outputs in ``out_dir`` (the contract the registry reads):

* ``metrics.json``: flat; a float per metric (see ``eval.scoring``) plus ``split``, ``eval_set_hash``
  (``eval_set_hash``), ``n_samples`` and ``n_scored``;
* ``metrics_ci.json``: ``{metric: [low, high]}`` seeded bootstrap 95 % CIs;
* ``metrics_by_type.json`` / ``metrics_by_organ.json``: ``{group: {metric, metric_ci, n}}``;
* ``predictions.jsonl``: per item ``id``, ``question_type``, ``organ``, ``prediction``, ``reference``,
  ``correct`` (true/false/null = not scorable), ``format_ok`` and the details;
* ``report.md`` with ``radar.png`` and ``by_question_type.png`` beside it, and ``summary.json`` (with
  the ``quarantine`` list of samples that could not be evaluated).

The split must exist and hold records: there is no fallback to another split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pathreasoner.config import Config
from pathreasoner.dataset import load_entity_types, load_lexicon
from pathreasoner.errors import DatasetError, PathReasonerError
from pathreasoner.eval import report
from pathreasoner.eval.hierarchy import load_ancestors
from pathreasoner.eval.metrics import answer_matches
from pathreasoner.eval.scoring import Scored, score_predictions
from pathreasoner.io_utils import atomic_write_json, read_jsonl, write_jsonl
from pathreasoner.response import parse_response

logger = logging.getLogger(__name__)

HEADLINE = ("answer_accuracy", "format_compliance", "diagnosis_accuracy", "entity_f1", "rougeL", "bleu")


@dataclass(frozen=True)
class EvalResult:
    """Summary of one evaluation run."""

    out_dir: Path
    split: str
    n_samples: int
    metrics: dict[str, float]
    seconds: float
    quarantine: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir), "line": self.line()}

    def line(self) -> str:
        rate = self.n_samples / self.seconds if self.seconds > 0 else float("inf")
        scores = " ".join(f"{k}={self.metrics[k]:.3f}" for k in HEADLINE if k in self.metrics)
        return (
            f"evaluate: {self.n_samples} samples ({self.split}) in {self.seconds:.1f}s "
            f"({rate:.2f} samples/s); {scores}; {len(self.quarantine)} quarantined -> {self.out_dir}"
        )


def select_split(samples_dir: Path, split: str) -> list[dict[str, Any]]:
    """Records of `<split>.jsonl`; DatasetError when it is missing or empty (no fallback to another split)."""
    path = Path(samples_dir) / f"{split}.jsonl"
    if not path.exists():
        raise DatasetError(
            f"split {split!r} is missing: {path} does not exist; run build-samples (or `benchmark load`) first, "
            "point --samples at its output, or choose another split with --set eval.split=..."
        )
    records = read_jsonl(path)
    if not records:
        raise DatasetError(
            f"split {split!r} is empty: {path} holds no records; rebuild the samples with records in that split "
            "or choose another split with --set eval.split=..."
        )
    return records


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def eval_set_hash(records: Sequence[Mapping[str, Any]], samples_dir: Path) -> str:
    """sha256 over the records' ids, questions, reference answers, options and image file contents (in id
    order): any change of the evaluated set changes it."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: str(r.get("id"))):
        images = []
        for rel in record.get("images") or []:
            path = Path(samples_dir) / rel
            images.append(_file_sha256(path) if path.is_file() else f"missing:{rel}")
        item = {
            "id": record.get("id"),
            "question": record.get("question"),
            "answer": record.get("answer"),
            "options": record.get("options"),
            "answer_index": record.get("answer_index"),
            "images": images,
        }
        digest.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def load_images(record: Mapping[str, Any], samples_dir: Path) -> list[Image.Image]:
    """Open the record's views (paths relative to the samples dir) as RGB images."""
    paths = record.get("images") or []
    if not paths:
        raise DatasetError(f"sample {record.get('id')!r} has no images; every sample needs at least one view")
    images = []
    for rel in paths:
        path = samples_dir / rel
        try:
            with Image.open(path) as img:
                images.append(img.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"sample {record.get('id')!r}: cannot read image {path}: {exc}") from None
    return images


def _generate(
    generator: Any,
    items: list[tuple[list[Image.Image], str]],
    ids: list[str],
    quarantine: list[dict[str, str]],
) -> list[str | None]:
    """One batch; if it fails, item by item, quarantining the items that still fail."""
    try:
        return list(generator.generate_batch(items))
    except PathReasonerError as exc:
        logger.warning("batch of %d failed (%s); retrying one by one", len(items), exc)
    out: list[str | None] = []
    for item, sample_id in zip(items, ids, strict=True):
        try:
            out.append(generator.generate(*item))
        except PathReasonerError as exc:
            quarantine.append({"id": sample_id, "reason": f"generation failed: {exc}"})
            out.append(None)
    return out


def pick_records(records: list[dict[str, Any]], n: int, first_types: Sequence[str]) -> list[dict[str, Any]]:
    """Up to `n` records: every record of `first_types` (in file order), then the other question types
    round-robin, so that each type is represented."""
    first = [r for r in records if r.get("question_type") in first_types]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("question_type") not in first_types:
            by_type.setdefault(str(record.get("question_type")), []).append(record)
    rest: list[dict[str, Any]] = []
    queues = list(by_type.values())
    while any(queues):
        for queue in queues:
            if queue:
                rest.append(queue.pop(0))
    return (first + rest)[:n]


def _prediction_row(record: Mapping[str, Any], prediction: str, scored: Scored, i: int) -> dict[str, Any]:
    parsed = parse_response(prediction)
    per_item = {
        name: (None if value != value else round(float(value), 6))  # NaN -> null
        for name, value in ((k, v[i]) for k, v in scored.items.values.items())
        if name not in ("answer_accuracy", "diagnosis_accuracy", "format_compliance")
    }
    return {
        "id": record.get("id"),
        "question_type": record.get("question_type"),
        "organ": record.get("organ") or "unknown",
        "question": record.get("question"),
        "options": record.get("options"),
        "prediction": prediction,
        "parsed": {
            "observe": parsed.observe,
            "think": parsed.think,
            "answer": parsed.answer,
            "well_formed": parsed.well_formed,
        },
        "reference": scored.references[i],
        "reference_response": record.get("response"),
        "correct": scored.correct[i],
        "format_ok": parsed.well_formed,
        "answer_match": answer_matches(prediction, scored.references[i]),
        "diagnosis_correct": scored.diagnosis[i],
        "scores": per_item,
        "gt_entities": list(record.get("gt_entities") or []),
        "pred_entities": scored.pred_entities[i],
        "grounding": {
            "findings": list(record.get("findings") or []),
            "kg_paths": list(record.get("kg_paths") or [])[:5],
            "evidence": record.get("evidence"),
        },
    }


def _generate_all(
    generator: Any, loaded: list[tuple[dict[str, Any], list[Image.Image]]], batch: int, quarantine: list
) -> tuple[list[dict[str, Any]], list[str]]:
    kept: list[dict[str, Any]] = []
    predictions: list[str] = []
    for i in range(0, len(loaded), batch):
        chunk = loaded[i : i + batch]
        items = [(images, str(rec.get("question", ""))) for rec, images in chunk]
        outputs = _generate(generator, items, [str(rec.get("id")) for rec, _ in chunk], quarantine)
        for (rec, _), text in zip(chunk, outputs, strict=True):
            if text is not None:
                kept.append(rec)
                predictions.append(text)
        logger.info("evaluate: generated %d/%d", min(i + batch, len(loaded)), len(loaded))
    return kept, predictions


def evaluate_checkpoint(
    checkpoint: Path,
    samples_dir: Path,
    out_dir: Path,
    cfg: Config,
    champion: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Generate for up to cfg.eval.max_samples records of cfg.eval.split (all `eval.first_types` questions
    first), score, and write the outputs. `champion` (the current champion's metrics.json mapping, and
    optionally its ``by_type``) is shown beside the candidate in report.md."""
    from pathreasoner.eval.judge import eval_judge
    from pathreasoner.model.inference import Generator

    start = time.perf_counter()
    checkpoint, samples_dir, out_dir = Path(checkpoint), Path(samples_dir), Path(out_dir)
    split = cfg.eval.split
    records = pick_records(select_split(samples_dir, split), cfg.eval.max_samples, cfg.eval.first_types)
    lexicon = load_lexicon(samples_dir)
    entity_types = load_entity_types(samples_dir)
    ancestors = load_ancestors(samples_dir)
    judge = eval_judge(cfg.eval, Path(cfg.project.work_dir) / "judge_cache")

    quarantine: list[dict[str, str]] = []
    loaded: list[tuple[dict[str, Any], list[Image.Image]]] = []
    for record in records:
        try:
            loaded.append((record, load_images(record, samples_dir)))
        except DatasetError as exc:
            quarantine.append({"id": str(record.get("id")), "reason": str(exc)})

    generator = Generator.from_checkpoint(
        checkpoint, max_new_tokens=cfg.eval.max_new_tokens, device="auto", dtype=cfg.model.torch_dtype
    )
    generate_start = time.perf_counter()
    kept, predictions = _generate_all(generator, loaded, cfg.eval.batch_size, quarantine)
    generate_s = time.perf_counter() - generate_start
    if not kept:
        raise DatasetError(
            f"none of the {len(records)} samples of {split!r} could be evaluated "
            f"(first problem: {quarantine[0]['reason'] if quarantine else 'none'}); fix the samples or checkpoint"
        )

    scored = score_predictions(
        kept,
        predictions,
        lexicon,
        entity_types,
        ancestors=ancestors,
        rule=cfg.eval.hierarchy_match,
        judge=judge,
        resamples=cfg.eval.bootstrap_resamples,
        seed=cfg.project.seed,
    )
    metrics: dict[str, Any] = dict(scored.metrics)
    metrics["n_samples"] = len(kept)
    metrics["n_scored"] = int(metrics["n_scored"])
    metrics["split"] = split
    metrics["eval_set_hash"] = eval_set_hash(kept, samples_dir)
    rows = [_prediction_row(r, p, scored, i) for i, (r, p) in enumerate(zip(kept, predictions, strict=True))]

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "metrics.json", metrics)
    atomic_write_json(out_dir / "metrics_ci.json", scored.ci)
    atomic_write_json(out_dir / "metrics_by_type.json", scored.by_type)
    atomic_write_json(out_dir / "metrics_by_organ.json", scored.by_organ)
    write_jsonl(out_dir / "predictions.jsonl", rows)
    report.write_all(
        out_dir,
        checkpoint=str(checkpoint),
        metrics=metrics,
        ci=scored.ci,
        by_type=scored.by_type,
        by_organ=scored.by_organ,
        quarantine=quarantine,
        examples=report.pick_examples(rows, cfg.eval.report_examples),
        champion=champion,
    )
    seconds = time.perf_counter() - start
    floats = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    result = EvalResult(out_dir, split, len(kept), floats, seconds, quarantine)
    atomic_write_json(
        out_dir / "summary.json",
        {
            "stage": "evaluate",
            "checkpoint": str(checkpoint),
            "split": split,
            "eval_set_hash": metrics["eval_set_hash"],
            "n_samples": len(kept),
            "seconds": round(seconds, 3),
            "samples_per_s": round(len(kept) / seconds, 4) if seconds > 0 else None,
            "generation_items_per_s": round(len(kept) / generate_s, 4) if generate_s > 0 else None,
            "device": generator.device,
            "dtype": str(getattr(generator.model, "dtype", "")),
            "hierarchy_match": cfg.eval.hierarchy_match,
            "judge": cfg.eval.judge_model,
            "metrics": floats,
            "quarantine": quarantine,
        },
    )
    logger.info(result.line())
    return result
