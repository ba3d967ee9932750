"""Issue 10 benchmark: the evaluation metrics over prediction/reference pairs, and evaluation throughput.

1. eval_metrics: BLEU (sacrebleu), ROUGE-1/2/L (rouge-score), the MiniLM BERT-style F1 and the seeded
   bootstrap 95 % CIs of all of them over `--pairs` (10k) synthetic answer pairs, as `evaluate` computes
   them (each distinct text encoded once in batches, pairs matched as batched similarity matrices, the
   bootstrap as weight-matrix products over per-item statistics), against a naive loop calling the
   same libraries per pair (encode one pair, score one pair, and a bootstrap that re-runs corpus BLEU
   and the means on every resample), run on `--anchor-pairs` and compared as pairs/s.
2. eval_throughput: `evaluate_checkpoint` on a checkpoint and its samples dir (`--checkpoint`,
   `--samples`), items/s of the whole stage and of generation alone; skipped (and said so) without one.
Prints `eval_metrics ours=… anchor=… ratio=…` (pairs/s) and `eval_throughput …`.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

from pathreasoner.eval.bertscore import bertscore_minilm_f1, greedy_f1, load_encoder, token_embeddings
from pathreasoner.eval.metrics import bleu_statistics, rouge_per_pair
from pathreasoner.eval.scores import ItemScores, bootstrap_ci

DIAGNOSES = [
    "invasive ductal carcinoma",
    "invasive lobular carcinoma",
    "adenocarcinoma of the colon",
    "mucinous adenocarcinoma",
    "squamous cell carcinoma",
    "hepatocellular carcinoma",
    "clear cell renal cell carcinoma",
    "papillary thyroid carcinoma",
    "glioblastoma",
    "lung adenocarcinoma",
]
MODIFIERS = [
    "well differentiated",
    "moderately differentiated",
    "poorly differentiated",
    "high grade",
    "low grade",
]
EXTRAS = [
    "with lymphovascular invasion",
    "without perineural invasion",
    "margins are free",
    "extending into the subserosa",
    "grade 2",
    "pT3 N1",
    "with focal necrosis",
    "no evidence of metastasis",
]


def synthetic_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Answer-like (prediction, reference) pairs: a diagnosis, a modifier and 0-3 extra clauses each."""
    rng = random.Random(seed)

    def answer() -> str:
        parts = [rng.choice(MODIFIERS), rng.choice(DIAGNOSES)]
        parts += rng.sample(EXTRAS, rng.randint(0, 3))
        return ", ".join(parts)

    refs = [answer() for _ in range(n)]
    preds = [r if rng.random() < 0.3 else answer() for r in refs]
    return preds, refs


def ours(preds: list[str], refs: list[str], resamples: int) -> dict[str, list[float]]:
    """The metrics and their CIs as evaluate computes them."""
    values = {**rouge_per_pair(preds, refs), "bertscore_minilm_f1": bertscore_minilm_f1(preds, refs)}
    items = ItemScores(values, np.zeros((len(preds), 3)), bleu_statistics(preds, refs))
    return bootstrap_ci(items, resamples, seed=0)


def anchor(preds: list[str], refs: list[str], resamples: int, model: object) -> dict[str, list[float]]:
    """The same metrics, one pair at a time, and a bootstrap that recomputes everything per resample."""
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    rows = []
    for pred, ref in zip(preds, refs, strict=True):
        rouge = scorer.score(ref, pred)
        cand, reference = token_embeddings(model, [pred, ref], batch_size=1)
        rows.append(
            [rouge[t].fmeasure for t in ("rouge1", "rouge2", "rougeL")] + [greedy_f1(cand, reference)]
        )
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {
        m: [] for m in ("rouge1", "rouge2", "rougeL", "bertscore_minilm_f1", "bleu")
    }
    for _ in range(resamples):
        idx = rng.integers(0, len(preds), len(preds))
        for k, name in enumerate(("rouge1", "rouge2", "rougeL", "bertscore_minilm_f1")):
            draws[name].append(sum(rows[i][k] for i in idx) / len(idx))
        draws["bleu"].append(
            sacrebleu.corpus_bleu([preds[i] for i in idx], [[refs[i] for i in idx]]).score / 100
        )
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}


def bench_metrics(n_pairs: int, n_anchor: int, resamples: int) -> None:
    preds, refs = synthetic_pairs(n_pairs)
    model = load_encoder()
    token_embeddings(model, ["warm up"])
    start = time.perf_counter()
    got = ours(preds, refs, resamples)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = anchor(preds[:n_anchor], refs[:n_anchor], resamples, model)
    anchor_s = time.perf_counter() - start
    check = ours(preds[:n_anchor], refs[:n_anchor], resamples)
    drift = max(abs(a - b) for m in naive for a, b in zip(naive[m], check[m], strict=True))
    ours_rate, anchor_rate = n_pairs / ours_s, n_anchor / anchor_s
    print(
        f"eval_metrics ours={ours_rate:.1f} anchor={anchor_rate:.1f} ratio={ours_rate / anchor_rate:.1f} "
        f"(pairs/s; ours {n_pairs} pairs in {ours_s:.1f}s, anchor {n_anchor} pairs in {anchor_s:.1f}s; "
        f"{resamples} bootstrap resamples; CI bounds agree within {drift:.4f} on the anchor's pairs; "
        f"bertscore_minilm_f1 CI {got['bertscore_minilm_f1'][0]:.3f}-{got['bertscore_minilm_f1'][1]:.3f})"
    )


def bench_throughput(checkpoint: str | None, samples: str | None, max_samples: int) -> None:
    if not checkpoint or not samples:
        print("eval_throughput skipped: no checkpoint at hand (pass --checkpoint DIR --samples DIR)")
        return
    from pathreasoner.config import config_from_dict
    from pathreasoner.eval.evaluate import evaluate_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({"project": {"work_dir": tmp}, "eval": {"max_samples": max_samples}})
        result = evaluate_checkpoint(Path(checkpoint), Path(samples), Path(tmp) / "eval", cfg)
        summary = json.loads((Path(tmp) / "eval" / "summary.json").read_text())
        ci = json.loads((Path(tmp) / "eval" / "metrics_ci.json").read_text())
    m = result.metrics
    accuracy = ci.get("answer_accuracy", [float("nan")] * 2)
    print(
        f"eval_throughput items_per_s={summary['samples_per_s']:.2f} generation_items_per_s="
        f"{summary['generation_items_per_s']:.2f} ({result.n_samples} items in {result.seconds:.1f}s on "
        f"{summary['device']} {summary['dtype']}; answer_accuracy={m.get('answer_accuracy', float('nan')):.3f} "
        f"[{accuracy[0]:.3f}, {accuracy[1]:.3f}] over {int(m.get('n_scored', 0))} scored, "
        f"format_compliance={m.get('format_compliance', float('nan')):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--anchor-pairs", type=int, default=300)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--checkpoint", help="a trained checkpoint dir (e.g. the demo model's)")
    parser.add_argument("--samples", help="its samples dir (evaluated on eval.split)")
    parser.add_argument("--max-samples", type=int, default=40)
    args = parser.parse_args()
    bench_metrics(args.pairs, args.anchor_pairs, args.resamples)
    bench_throughput(args.checkpoint, args.samples, args.max_samples)


if __name__ == "__main__":
    main()
