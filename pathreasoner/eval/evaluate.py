"""The evaluate stage: generate answers for a split with a checkpoint, score them, write the report.

Outputs in ``out_dir``: ``metrics.json`` (flat name -> float, plus ``n_samples`` and ``split``),
``metrics_by_type.json``, ``predictions.jsonl``, ``report.md``, ``by_question_type.png``, ``radar.png``
and ``summary.json`` (with the ``quarantine`` list of samples that could not be evaluated).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from pathreasoner.config import Config
from pathreasoner.dataset import load_entity_types, load_lexicon
from pathreasoner.errors import DatasetError, PathReasonerError
from pathreasoner.eval import report
from pathreasoner.eval.diagnosis import diagnosis_scores, diagnosis_verdicts
from pathreasoner.eval.metrics import (
    answer_matches,
    compute_metrics,
    entity_text,
    metrics_by_question_type,
)
from pathreasoner.io_utils import atomic_write_json, read_jsonl, write_jsonl
from pathreasoner.response import parse_response

logger = logging.getLogger(__name__)

FALLBACK_SPLITS = ("val", "train")
HEADLINE = ("format_compliance", "diagnosis_accuracy", "entity_f1", "answer_match", "rougeL", "bleu")


class EntityFinder(Protocol):
    def entities(self, text: str) -> set[str]: ...


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


def _matcher(lexicon: Mapping[str, Sequence[str]] | EntityFinder) -> EntityFinder:
    if hasattr(lexicon, "entities"):
        return lexicon  # type: ignore[return-value]
    from pathreasoner.kg.lexicon import EntityMatcher

    return EntityMatcher.from_lexicon({k: list(v) for k, v in lexicon.items()})  # type: ignore[union-attr]


def evaluate_predictions(
    records: Sequence[Mapping[str, Any]],
    predictions: Sequence[str],
    lexicon: Mapping[str, Sequence[str]] | EntityFinder,
    entity_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Score predictions against sample records (no model needed).

    ``lexicon`` is ``{canonical name: [synonyms]}`` (or anything with ``.entities(text) -> set[str]``);
    with ``entity_types`` ({name: KG type}) the diagnosis accuracy and its chance level are added.
    Returns ``{"metrics": {name: float, "n_samples": float}, "by_question_type": {type: {name: float}},
    "pred_entities": [sorted names per sample], "diagnosis": [True/False/None per sample]}``.
    """
    if len(records) != len(predictions):
        raise ValueError(
            f"{len(records)} records but {len(predictions)} predictions; pass one prediction per record"
        )
    if not records:
        raise DatasetError("no records to evaluate; check the split file and eval.max_samples")
    matcher = _matcher(lexicon)
    pred_entities = [sorted(matcher.entities(entity_text(p))) for p in predictions]
    columns = {
        "predictions": list(predictions),
        "references": [str(r.get("response", "")) for r in records],
        "answers": [str(r.get("answer", "")) for r in records],
        "predicted_entities": pred_entities,
        "gold_entities": [list(r.get("gt_entities") or []) for r in records],
    }
    overall: dict[str, float] = compute_metrics(**columns)
    overall["n_samples"] = float(len(records))
    overall.update(diagnosis_scores(records, predictions, matcher, entity_types or {}))
    by_type = metrics_by_question_type([str(r.get("question_type", "unknown")) for r in records], **columns)
    return {
        "metrics": overall,
        "by_question_type": by_type,
        "pred_entities": pred_entities,
        "diagnosis": diagnosis_verdicts(records, predictions, matcher, entity_types or {}),
    }


def select_split(samples_dir: Path, split: str) -> tuple[str, list[dict[str, Any]]]:
    """Records of `<split>.jsonl`; falls back to val, then train, when it is missing or empty (logged)."""
    tried = []
    for name in (split, *(s for s in FALLBACK_SPLITS if s != split)):
        path = samples_dir / f"{name}.jsonl"
        records = read_jsonl(path) if path.exists() else []
        if records:
            if name != split:
                logger.warning(
                    "split %r is empty or missing in %s; evaluating on %r instead (%s)",
                    split,
                    samples_dir,
                    name,
                    ", ".join(tried),
                )
            return name, records
        tried.append(f"{path.name}: {'empty' if path.exists() else 'missing'}")
    raise DatasetError(
        f"no samples to evaluate in {samples_dir} ({'; '.join(tried)}); run build-samples first "
        "or point --samples-dir at its output"
    )


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


def _prediction_row(
    record: Mapping[str, Any], prediction: str, entities: list[str], diagnosis_correct: bool | None
) -> dict[str, Any]:
    parsed = parse_response(prediction)
    return {
        "id": record.get("id"),
        "question_type": record.get("question_type"),
        "question": record.get("question"),
        "prediction": prediction,
        "parsed": {
            "observe": parsed.observe,
            "think": parsed.think,
            "answer": parsed.answer,
            "well_formed": parsed.well_formed,
        },
        "reference": record.get("response"),
        "answer": record.get("answer"),
        "answer_match": answer_matches(prediction, str(record.get("answer", ""))),
        "diagnosis_correct": diagnosis_correct,
        "gt_entities": list(record.get("gt_entities") or []),
        "pred_entities": entities,
    }


def evaluate_checkpoint(checkpoint: Path, samples_dir: Path, out_dir: Path, cfg: Config) -> EvalResult:
    """Generate for up to cfg.eval.max_samples records of cfg.eval.split (all `eval.first_types` questions
    first), score, and write the outputs."""
    from pathreasoner.model.inference import Generator

    start = time.perf_counter()
    checkpoint, samples_dir, out_dir = Path(checkpoint), Path(samples_dir), Path(out_dir)
    split, records = select_split(samples_dir, cfg.eval.split)
    records = pick_records(records, cfg.eval.max_samples, cfg.eval.first_types)
    lexicon = load_lexicon(samples_dir)
    entity_types = load_entity_types(samples_dir)

    quarantine: list[dict[str, str]] = []
    loaded: list[tuple[dict[str, Any], list[Image.Image]]] = []
    for record in records:
        try:
            loaded.append((record, load_images(record, samples_dir)))
        except DatasetError as exc:
            quarantine.append({"id": str(record.get("id")), "reason": str(exc)})

    generator = Generator.from_checkpoint(
        checkpoint, max_new_tokens=cfg.eval.max_new_tokens, dtype=cfg.model.torch_dtype
    )
    kept: list[dict[str, Any]] = []
    predictions: list[str] = []
    batch = cfg.eval.batch_size
    for i in range(0, len(loaded), batch):
        chunk = loaded[i : i + batch]
        items = [(images, str(rec.get("question", ""))) for rec, images in chunk]
        outputs = _generate(generator, items, [str(rec.get("id")) for rec, _ in chunk], quarantine)
        for (rec, _), text in zip(chunk, outputs, strict=True):
            if text is not None:
                kept.append(rec)
                predictions.append(text)
        logger.info("evaluate: generated %d/%d", min(i + batch, len(loaded)), len(loaded))
    if not kept:
        raise DatasetError(
            f"none of the {len(records)} samples of {split!r} could be evaluated "
            f"(first problem: {quarantine[0]['reason'] if quarantine else 'none'}); fix the samples or checkpoint"
        )

    scored = evaluate_predictions(kept, predictions, lexicon, entity_types)
    metrics: dict[str, Any] = dict(scored["metrics"])
    metrics["n_samples"] = len(kept)
    metrics["split"] = split
    by_type = scored["by_question_type"]
    rows = [
        _prediction_row(r, p, e, v)
        for r, p, e, v in zip(kept, predictions, scored["pred_entities"], scored["diagnosis"], strict=True)
    ]

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "metrics.json", metrics)
    atomic_write_json(out_dir / "metrics_by_type.json", by_type)
    write_jsonl(out_dir / "predictions.jsonl", rows)
    report.plot_by_question_type(by_type, out_dir / report.BARS_PNG)
    report.plot_radar(scored["metrics"], out_dir / report.RADAR_PNG)
    report.write_report(
        out_dir,
        report.render_report(
            checkpoint=str(checkpoint),
            split=split,
            metrics=scored["metrics"],
            by_type=by_type,
            quarantine=quarantine,
            examples=rows[:3],
        ),
    )
    seconds = time.perf_counter() - start
    result = EvalResult(out_dir, split, len(kept), dict(scored["metrics"]), seconds, quarantine)
    atomic_write_json(
        out_dir / "summary.json",
        {
            "stage": "evaluate",
            "checkpoint": str(checkpoint),
            "split": split,
            "n_samples": len(kept),
            "seconds": round(seconds, 3),
            "samples_per_s": round(len(kept) / seconds, 4) if seconds > 0 else None,
            "metrics": scored["metrics"],
            "quarantine": quarantine,
        },
    )
    logger.info(result.line())
    return result
