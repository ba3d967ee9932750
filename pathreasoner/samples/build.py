"""build-samples: reports → findings/diagnosis → KG entities and paths → <observe>/<think>/<answer> records.

Writes (atomically, the whole folder) samples.jsonl, train/val/test.jsonl, sft_train.jsonl, evidence.jsonl
(the report spans behind each report's samples), extractions.jsonl (one auditable line per report, quarantined
ones with their reason), entity_lexicon.json, images/, card.json + card.md and
summary.json (with the quarantine list). Records follow docs/contracts.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.dataset import TYPES_FILE
from pathreasoner.errors import ConfigError, DatasetError, ReportError
from pathreasoner.io_utils import atomic_dir, atomic_write_json, atomic_write_text, write_jsonl
from pathreasoner.kg.ancestors import ANCESTORS_FILE, diagnosis_ancestors
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.lexicon import EntityMatcher, entity_types, lexicon_from_kg
from pathreasoner.kg.linking import LinkSettings
from pathreasoner.response import parse_response
from pathreasoner.samples.augment import augment
from pathreasoner.samples.card import SFT_TRAIN_FILE, card_markdown
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import Extraction, extract_report
from pathreasoner.samples.extractions import EXTRACTIONS_FILE, extraction_record, quarantined_record
from pathreasoner.samples.images import copy_views, find_slide_dir, slide_dirs
from pathreasoner.samples.llm import LLMClient, LLMSettings, llm_response
from pathreasoner.samples.llm_extraction import extract_with_llm
from pathreasoner.samples.paths import find_reasoning_paths, select_paths
from pathreasoner.samples.quality import check_records
from pathreasoner.samples.questions import build_questions
from pathreasoner.samples.recovery import CHECK as RECOVERY_CHECK
from pathreasoner.samples.recovery import check_answer_recovery
from pathreasoner.samples.reports import Report, load_reports
from pathreasoner.samples.split import SPLITS, assign_splits
from pathreasoner.samples.writer import render_path, write_response
from pathreasoner.serve.grounding import BUNDLE_FILE as GROUNDING_FILE
from pathreasoner.serve.grounding import bundle_from_kg

logger = logging.getLogger(__name__)

EVIDENCE_FILE = "evidence.jsonl"  # per report: the character spans of the findings and diagnosis it states


@dataclass(frozen=True, slots=True)
class SamplesSummary:
    """What build-samples produced."""

    out_dir: Path
    n_reports: int
    n_records: int
    n_patients: int
    n_quarantined: int
    by_split: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        splits = "/".join(f"{self.by_split.get(s, 0)}" for s in SPLITS)
        return (
            f"build-samples: {self.n_reports} reports ({self.n_patients} patients) -> {self.n_records} samples "
            f"(train/val/test {splits}), {self.n_quarantined} quarantined, in {self.seconds:.1f} s "
            f"({self.n_reports / max(self.seconds, 1e-9):.1f} reports/s) -> {self.out_dir}"
        )


def _unique_key(base: str, used: Counter[str]) -> str:
    used[base] += 1
    return base if used[base] == 1 else f"{base}-{used[base]}"


def _llm_client(cfg: Config, out_dir: Path) -> LLMClient | None:
    """The endpoint client when the extractor or writer is `llm`, or for the answer-recovery check when an
    endpoint is configured; None when everything runs offline."""
    s = cfg.samples
    needed = s.extractor == "llm" or s.writer == "llm"
    if not needed and not (s.answer_recovery and s.llm_base_url and s.llm_model):
        return None
    if not s.llm_base_url or not s.llm_model:
        raise ConfigError(
            f"samples.extractor={s.extractor} / samples.writer={s.writer} need samples.llm_base_url and "
            f"samples.llm_model (got {s.llm_base_url!r}, {s.llm_model!r}); set them or use the offline "
            "backends (extractor=rules, writer=template)"
        )
    return LLMClient(
        LLMSettings(
            base_url=s.llm_base_url,
            model=s.llm_model,
            api_key=os.environ.get(s.llm_api_key_env, ""),
            timeout_s=s.llm_timeout_s,
            max_retries=s.llm_max_retries,
            max_concurrency=s.llm_max_concurrency,
            cache_dir=s.llm_cache_dir or str(Path(out_dir).resolve().parent / "llm_cache"),
        )
    )


def _write_with_llm(
    client: LLMClient,
    records: list[dict[str, Any]],
    jobs: list[tuple[int, str, list[str], list[str]]],
    matcher: EntityMatcher,
    quarantine: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """Fill the responses of `jobs` with the llm writer; a failed sample is quarantined and dropped."""

    def run(job: tuple[int, str, list[str], list[str]]) -> str:
        index, question, findings, paths = job
        record = records[index]
        return llm_response(client, question, findings, paths, record["answer"], record["id"])

    dropped: set[int] = set()
    for job, result in zip(jobs, client.map(run, jobs), strict=True):
        record = records[job[0]]
        if isinstance(result, Exception):
            quarantine.append({"item": record["id"], "reason": str(result)})
            dropped.add(job[0])
            continue
        parsed = parse_response(result)
        record["response"] = result
        record["gt_entities"] = sorted(matcher.entities(f"{parsed.observe}\n{parsed.think}"))
    if dropped:
        logger.warning("llm writer: %d of %d samples failed and were quarantined", len(dropped), len(jobs))
    return [r for i, r in enumerate(records) if i not in dropped]


def _extract_all(
    reports: list[Report], ctx: KGContext, client: LLMClient | None, cfg: Config
) -> Iterator[Extraction | Exception]:
    """Each report's Extraction, or the ReportError that quarantines it, in order (rules: one at a
    time; llm: all requests first, with bounded concurrency)."""
    if cfg.samples.extractor == "llm":
        assert client is not None  # _llm_client raised a ConfigError otherwise
        yield from client.map(lambda report: extract_with_llm(report, client, ctx), reports)
        return
    for report in reports:
        try:
            yield extract_report(report, ctx)
        except ReportError as exc:
            yield exc


@dataclass
class _Build:
    """The state one build-samples run carries from step to step."""

    cfg: Config
    kg: KnowledgeGraph
    ctx: KGContext
    lexicon: dict[str, list[str]]
    reward_matcher: EntityMatcher  # exactly what rewards/eval will use
    client: LLMClient | None
    quarantine: list[dict[str, str]] = field(default_factory=list)
    extraction_lines: list[dict[str, Any]] = field(default_factory=list)  # extractions.jsonl
    records: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # evidence.jsonl: spans behind the samples
    pending_images: list[tuple[Path, str]] = field(default_factory=list)  # (slide folder, slide id) to copy
    llm_jobs: list[tuple[int, str, list[str], list[str]]] = field(default_factory=list)
    used_keys: Counter[str] = field(default_factory=Counter)
    link_methods: Counter[str] = field(default_factory=Counter)
    unlinked: Counter[str] = field(default_factory=Counter)
    ungrounded: int = 0
    n_ok: int = 0
    n_failed: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    check_failures: list[Any] = field(default_factory=list)
    recovery: dict[str, Any] = field(default_factory=dict)


def build_samples(
    reports: Path | str,
    tiles_dir: Path | None,
    kg_dir: Path,
    out_dir: Path,
    cfg: Config,
    progress: Callable[[int, int], None] | None = None,
) -> SamplesSummary:
    """Build question/answer reasoning records from reports (+ slide views) guided by the KG;
    ``progress(done, total)`` is called as each report is processed."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    run = _open_build(Path(kg_dir), out_dir, cfg)
    loaded, run.quarantine = load_reports(reports)
    # extractions.jsonl: one line per report, unusable ones first (with the loader's reason)
    run.extraction_lines = [quarantined_record(q["item"], q["reason"]) for q in run.quarantine]
    n_seen = len(loaded) + len(run.quarantine)
    dirs = slide_dirs(tiles_dir)
    for done, (report, extraction) in enumerate(
        zip(loaded, _extract_all(loaded, run.ctx, run.client, cfg), strict=True), start=1
    ):
        if progress is not None:
            progress(done, len(loaded))
        if isinstance(extraction, Exception):
            _quarantine_report(run, report, extraction)
        else:
            _add_report_samples(run, report, extraction, dirs)
    _write_llm_responses(run)
    _check_samples(run, reports, len(loaded), kg_dir)
    _assign_record_splits(run.records, cfg)
    return _write_outputs(run, out_dir, n_seen, start)


def _open_build(kg_dir: Path, out_dir: Path, cfg: Config) -> _Build:
    """Load the KG, its extraction context and lexicon, and the LLM client when one is needed."""
    kg = KnowledgeGraph.load(kg_dir)
    ctx = KGContext.from_kg(
        kg,
        LinkSettings(
            fuzzy_threshold=cfg.samples.link_fuzzy_threshold,
            embedding_threshold=cfg.samples.link_embedding_threshold,
            use_embedding=cfg.samples.link_embedding,
        ),
    )
    lexicon = lexicon_from_kg(kg)
    return _Build(cfg, kg, ctx, lexicon, EntityMatcher.from_lexicon(lexicon), _llm_client(cfg, out_dir))


def _quarantine_report(run: _Build, report: Report, error: Exception) -> None:
    run.quarantine.append({"item": report.source, "reason": str(error)})
    run.extraction_lines.append(
        quarantined_record(report.source, str(error), report.patient_id, report.organ)
    )
    logger.info("quarantined %s: %s", report.source, error)
    run.n_failed += 1


def _add_report_samples(run: _Build, report: Report, extraction: Extraction, dirs: list[Path]) -> None:
    """One report's extraction line, evidence and question records (responses now, or queued for the llm)."""
    cfg = run.cfg
    run.n_ok += 1
    run.extraction_lines.append(extraction_record(report, extraction, run.ctx))
    run.link_methods[extraction.diagnosis_link] += 1
    run.unlinked.update(extraction.unlinked)
    run.ungrounded += len(extraction.ungrounded)
    slide_dir = find_slide_dir(dirs, report.slide_id, report.patient_id)
    slide_id = report.slide_id or (slide_dir.name if slide_dir else None)
    if slide_dir is not None:
        run.pending_images.append((slide_dir, slide_id or slide_dir.name))
    key = _unique_key(slide_id or report.patient_id, run.used_keys)
    run.evidence.append(
        {
            "report_source": report.source,
            "patient_id": report.patient_id,
            "sample_key": key,
            "spans": extraction.evidence,
        }
    )
    paths = find_reasoning_paths(run.kg, extraction.finding_entities, extraction.diagnosis_entities, cfg.kg)
    for question in build_questions(extraction, list(cfg.samples.question_types), key):
        chosen = select_paths(
            paths, list(question.targets), cfg.kg.top_k_paths, extraction.path_nodes_allowed()
        )
        if cfg.samples.writer == "template":
            response = write_response(extraction, question, chosen, run.ctx)
        else:  # written after the loop, with bounded concurrency
            response = ""
            run.llm_jobs.append(
                (len(run.records), question.question, extraction.findings, [render_path(p) for p in chosen])
            )
        parsed = parse_response(response)
        gt_entities = sorted(run.reward_matcher.entities(f"{parsed.observe}\n{parsed.think}"))
        run.records.append(
            {
                "id": f"{key}:{question.question_type}",
                "patient_id": report.patient_id,
                "slide_id": slide_id,
                "organ": extraction.organ,
                "split": "",
                "question_type": question.question_type,
                "question": question.question,
                "images": [],
                "findings": extraction.findings,
                "diagnosis": extraction.diagnosis,
                "gt_entities": gt_entities,
                "kg_paths": [p.to_dict() for p in chosen],
                "response": response,
                "answer": question.answer,
                "provenance": {
                    "extractor": cfg.samples.extractor,
                    "writer": cfg.samples.writer,
                    "kg_version": run.kg.version,
                    "report_source": report.source,
                },
                "_slide_dir": str(slide_dir) if slide_dir else None,
            }
        )


def _write_llm_responses(run: _Build) -> None:
    if run.client is not None and run.llm_jobs:
        run.records = _write_with_llm(
            run.client, run.records, run.llm_jobs, run.reward_matcher, run.quarantine
        )


def _check_samples(run: _Build, reports: Path | str, n_loaded: int, kg_dir: Path) -> None:
    """Quality checks and the optional answer-recovery check; DatasetError when no sample is left."""
    if run.n_failed:
        logger.warning(
            "%d of %d reports gave no usable diagnosis and were quarantined (see summary.json)",
            run.n_failed,
            n_loaded,
        )
    if not run.records:
        reasons = Counter(q["reason"].split(";")[0][:80] for q in run.quarantine)
        raise DatasetError(
            f"no samples could be built from {reports}: {n_loaded} usable reports, {len(run.quarantine)} quarantined "
            f"({dict(reasons.most_common(3))}); check the reports file and the KG in {kg_dir}"
        )
    run.records, run.checks, run.check_failures = check_records(run.records, run.ctx.has, run.reward_matcher)
    s = run.cfg.samples
    run.recovery = {"run": False, "why": "samples.answer_recovery is false"}
    if s.answer_recovery and run.client is None:
        run.recovery["why"] = "no LLM endpoint configured (samples.llm_base_url, samples.llm_model)"
    elif s.answer_recovery and run.client is not None and run.records:
        result = check_answer_recovery(run.client, run.records, run.reward_matcher)
        run.records, run.checks[RECOVERY_CHECK] = result.kept, result.counts
        run.check_failures += result.failures
        run.recovery = {"run": True, "decided_by": result.decided_by, "llm_calls": run.client.calls}
    if not run.records:
        raise DatasetError(
            f"every sample from {reports} failed a quality check ({run.check_failures[:3]}); see the checks in "
            "pathreasoner/samples/quality.py and pathreasoner/samples/recovery.py"
        )


def _assign_record_splits(records: list[dict[str, Any]], cfg: Config) -> None:
    """Patient-level train/val/test split, stratified by organ."""
    split_of = assign_splits(
        [r["patient_id"] for r in records],
        dict(cfg.samples.split_fractions),
        cfg.project.seed,
        strata={r["patient_id"]: str(r.get("organ") or "") for r in records},
    )
    for record in records:
        record["split"] = split_of[record["patient_id"]]


def _write_outputs(run: _Build, out_dir: Path, n_seen: int, start: float) -> SamplesSummary:
    """Every output file, written into a temporary folder that replaces `out_dir` at once."""
    cfg, records, kg, lexicon = run.cfg, run.records, run.kg, run.lexicon
    n_patients = len({r["patient_id"] for r in records})
    with atomic_dir(out_dir) as tmp:
        copied: dict[str, list[str]] = {}
        for slide_dir, _ in run.pending_images:
            if str(slide_dir) not in copied:
                copied[str(slide_dir)] = copy_views(
                    slide_dir, tmp, cfg.samples.views_per_sample, cfg.samples.view_px
                )
        for record in records:
            source_dir = record.pop("_slide_dir")
            record["images"] = copied.get(source_dir, []) if source_dir else []
        write_jsonl(tmp / "samples.jsonl", records)
        for split in SPLITS:
            write_jsonl(tmp / f"{split}.jsonl", [r for r in records if r["split"] == split])
        variants = augment([r for r in records if r["split"] == "train"], cfg.samples.trajectory_variants)
        write_jsonl(tmp / SFT_TRAIN_FILE, variants)
        kept_keys = {str(r["id"]).rsplit(":", 1)[0] for r in records}
        write_jsonl(tmp / EXTRACTIONS_FILE, run.extraction_lines)
        write_jsonl(tmp / EVIDENCE_FILE, [e for e in run.evidence if e["sample_key"] in kept_keys])
        atomic_write_json(tmp / "entity_lexicon.json", lexicon)
        types = entity_types(kg, lexicon)
        atomic_write_json(tmp / TYPES_FILE, types)
        atomic_write_json(tmp / ANCESTORS_FILE, diagnosis_ancestors(kg, lexicon, types))
        # the KG slice served answers are grounded with; register puts it into the checkpoint
        atomic_write_json(tmp / GROUNDING_FILE, bundle_from_kg(kg, lexicon))
        card = dataset_card(records, lexicon, kg.version, len(run.quarantine), run.n_ok, cfg)
        card["checks"] = run.checks
        card["check_failures"] = run.check_failures[:50]
        card["answer_recovery"] = run.recovery
        card["linking"] = {
            "diagnosis_link": dict(sorted(run.link_methods.items())),
            "unlinked_mentions": sum(run.unlinked.values()),
            "most_common_unlinked": run.unlinked.most_common(20),
            "ungrounded_llm_findings": run.ungrounded,
        }
        card["trajectory_augmentation"] = {
            "file": SFT_TRAIN_FILE,
            "variants_per_sample": cfg.samples.trajectory_variants,
            "train_records": card["records_by_split"]["train"],
            "variants": len(variants),
        }
        atomic_write_json(tmp / "card.json", card)
        atomic_write_text(tmp / "card.md", card_markdown(card))
        seconds = time.perf_counter() - start
        summary = SamplesSummary(
            out_dir,
            run.n_ok,
            len(records),
            n_patients,
            len(run.quarantine),
            card["records_by_split"],
            seconds,
        )
        atomic_write_json(
            tmp / "summary.json",
            {
                "n_reports": n_seen,
                "n_reports_used": run.n_ok,
                "n_records": len(records),
                "n_patients": n_patients,
                "records_by_split": card["records_by_split"],
                "kg_version": kg.version,
                "quarantine": run.quarantine,
                "seconds": round(seconds, 3),
            },
        )
    logger.info(summary.line())
    return summary


def dataset_card(
    records: list[dict[str, Any]],
    lexicon: dict[str, list[str]],
    kg_version: str,
    n_quarantined: int,
    n_reports: int,
    cfg: Config,
) -> dict[str, Any]:
    """Counts by organ / question type / split, entity coverage, provenance."""
    entities = Counter(e for r in records for e in r["gt_entities"])
    patients_by_split: dict[str, set[str]] = {s: set() for s in SPLITS}
    for r in records:
        patients_by_split[r["split"]].add(r["patient_id"])
    return {
        "n_records": len(records),
        "n_reports": n_reports,
        "n_patients": len({r["patient_id"] for r in records}),
        "records_by_organ": dict(sorted(Counter(r["organ"] or "unknown" for r in records).items())),
        "records_by_question_type": dict(sorted(Counter(r["question_type"] for r in records).items())),
        "records_by_split": {s: sum(1 for r in records if r["split"] == s) for s in SPLITS},
        "patients_by_split": {s: len(p) for s, p in patients_by_split.items()},
        "records_with_images": sum(1 for r in records if r["images"]),
        "entities": {
            "distinct_gt_entities": len(entities),
            "mean_gt_entities_per_record": round(sum(entities.values()) / max(len(records), 1), 2),
            "records_with_entities": round(
                sum(1 for r in records if r["gt_entities"]) / max(len(records), 1), 4
            ),
            "records_with_kg_paths": round(
                sum(1 for r in records if r["kg_paths"]) / max(len(records), 1), 4
            ),
            "lexicon_size": len(lexicon),
            "lexicon_coverage": round(len(entities) / max(len(lexicon), 1), 4),
            "most_common": entities.most_common(20),
        },
        "kg_version": kg_version,
        "extractor": cfg.samples.extractor,
        "writer": cfg.samples.writer,
        "quarantined": n_quarantined,
        "question_types": list(cfg.samples.question_types),
        "split_fractions": dict(cfg.samples.split_fractions),
        "seed": cfg.project.seed,
    }
