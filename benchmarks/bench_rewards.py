"""Issue 9 benchmark: the GRPO rewards at training-batch scale.

1. rewards_entity: the entity reward over 2,560 synthetic completions of ~3k characters with a synthetic
   20k-term lexicon (names + synonyms; built deterministically), against the naive version: a per-term
   substring loop over every name and synonym of the lexicon (run on a subset, rate compared).
   rewards_format_entity: format + entity rewards together, completions/s on one core.
2. rewards_judge: the async LLM-judge semantic reward against a local OpenAI-compatible server (a
   subprocess on 127.0.0.1 answering every call after 50 ms), against the same calls made one after
   another with the blocking client.
Prints one line each: `rewards_<metric> ours=… anchor=… ratio=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time

from pathreasoner.config import RewardConfig
from pathreasoner.llm_client import JSONChatClient, LLMSettings
from pathreasoner.response import compose_response
from pathreasoner.train.rewards import EntityLexicon, LLMJudge, format_reward, make_entity_reward
from pathreasoner.train.rewards.entity import entity_fbeta
from pathreasoner.train.rewards.judge import JUDGE_SCHEMA
from pathreasoner.train.rewards.spans import reasoning_span

FILLER = [
    "the",
    "of",
    "and",
    "with",
    "in",
    "are",
    "is",
    "a",
    "to",
    "by",
    "on",
    "shows",
    "cells",
    "nuclei",
    "tissue",
    "section",
    "stroma",
    "focal",
    "areas",
    "scattered",
    "numerous",
    "present",
    "seen",
    "within",
    "adjacent",
    "between",
    "moderate",
    "marked",
    "mild",
    "growth",
    "pattern",
    "features",
    "consistent",
    "suggest",
    "findings",
    "region",
    "border",
    "infiltrating",
    "sheets",
    "nests",
    "glands",
    "small",
    "large",
    "irregular",
    "round",
    "oval",
]


# ---- synthetic lexicon and completions ------------------------------------------------------------


def synthetic_lexicon(n_terms: int, seed: int) -> dict[str, list[str]]:
    """`n_terms` canonical names of 1–4 pseudo-words, about half with one or two synonyms."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = sorted({"".join(rng.choices(letters, k=rng.randint(5, 10))) for _ in range(6000)} - set(FILLER))
    lexicon: dict[str, list[str]] = {}
    while len(lexicon) < n_terms:
        name = " ".join(rng.sample(vocab, rng.choice((1, 2, 2, 3, 3, 4))))
        if name in lexicon:
            continue
        synonyms = []
        if rng.random() < 0.5:
            synonyms.append(name.upper()[:3] + str(len(lexicon)))  # an abbreviation-like form
        if rng.random() < 0.3:
            synonyms.append(" ".join(reversed(name.split())) + " type")
        lexicon[name] = synonyms
    return lexicon


def synthetic_completions(
    lexicon: dict[str, list[str]], n: int, chars: int, seed: int
) -> tuple[list[str], list[list[str]]]:
    """`n` well-formed (most) or broken completions of about `chars` characters naming ~25 lexicon terms
    (names or synonyms), and their gt_entities (~15 names, most of them named in the text)."""
    rng = random.Random(seed)
    names = list(lexicon)
    completions, gts = [], []
    for i in range(n):
        chosen = rng.sample(names, 25)
        gt = chosen[:12] + rng.sample(names, 3)
        words: list[str] = []
        for term in chosen:
            forms = [term, *lexicon[term]]
            words.extend(rng.choices(FILLER, k=rng.randint(8, 16)))
            words.append(rng.choice(forms))
        body = " ".join(words)
        while len(body) < chars - 150:
            body += " " + " ".join(rng.choices(FILLER, k=20))
        cut = len(body) // 4
        text = compose_response(body[:cut], body[cut : chars - 150], f"{chosen[0]} with {chosen[1]}.")
        if i % 10 == 0:  # some completions miss the format
            text = text.replace("</think>", "")
        completions.append(text)
        gts.append(gt)
    return completions, gts


def naive_entity_scores(
    completions: list[str], gts: list[list[str]], lexicon: dict[str, list[str]], cfg: RewardConfig
) -> list[float | None]:
    """The straightforward version: every name and synonym searched in the lowercased reasoning text."""
    terms = [(form.lower(), name) for name, synonyms in lexicon.items() for form in (name, *synonyms)]
    scores = []
    for text, gt in zip(completions, gts, strict=True):
        low = reasoning_span(text).lower()
        found = {name for form, name in terms if form in low}
        scores.append(entity_fbeta(found, gt, cfg.entity_beta, cfg.entity_soft_cap))
    return scores


def bench_entity(args: argparse.Namespace) -> None:
    cfg = RewardConfig()
    lexicon = synthetic_lexicon(args.terms, seed=0)
    completions, gts = synthetic_completions(lexicon, args.completions, args.chars, seed=1)
    surfaces = sum(1 + len(s) for s in lexicon.values())
    mean_chars = sum(map(len, completions)) / len(completions)
    start = time.perf_counter()
    lex = EntityLexicon.of(lexicon)
    build_s = time.perf_counter() - start
    entity_reward = make_entity_reward(lex, cfg.entity_beta, cfg.entity_soft_cap)
    batch = args.batch

    start = time.perf_counter()
    ours: list[float | None] = []
    for i in range(0, len(completions), batch):
        ours += entity_reward(completions[i : i + batch], gt_entities=gts[i : i + batch])
    entity_s = time.perf_counter() - start

    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(completions), batch):
        format_reward(completions[i : i + batch])
        entity_reward(completions[i : i + batch], gt_entities=gts[i : i + batch])
    both_s, both_cpu = time.perf_counter() - start, time.process_time() - cpu

    subset = args.anchor_completions
    start = time.perf_counter()
    naive_entity_scores(completions[:subset], gts[:subset], lexicon, cfg)
    anchor_s = time.perf_counter() - start
    # the naive loop also counts forms inside other words and inside longer terms, so its sets contain
    # ours, except a term broken across the observe/think join (the matcher folds the newline)
    terms = [(f.lower(), name) for name, syn in lexicon.items() for f in (name, *syn)]
    contained = 0
    for text in completions[:subset]:
        span = reasoning_span(text)
        low = span.lower()
        contained += lex.entities(span) <= {name for f, name in terms if f in low}
    ours_rate, anchor_rate = len(completions) / entity_s, subset / anchor_s
    print(
        f"rewards_entity ours={ours_rate:.0f}compl/s anchor={anchor_rate:.1f}compl/s "
        f"ratio={ours_rate / anchor_rate:.0f}x target>=50x ({len(completions)} completions of {mean_chars:.0f} "
        f"chars ours, {subset} anchor; lexicon {len(lexicon)} terms / {surfaces} surface forms, matcher built "
        f"once in {build_s:.2f}s; our entity sets within the anchor's on {contained}/{subset})"
    )
    print(
        f"rewards_format_entity ours={len(completions) / both_s:.0f}compl/s target>=2000compl/s "
        f"({len(completions) / both_cpu:.0f}compl/s of process CPU time; {len(completions)} completions, "
        f"batches of {batch}, one process, one thread)"
    )


# ---- judge -------------------------------------------------------------------------------------


def serve_judge(latency_s: float) -> None:
    """Run the stand-in judge, an async OpenAI-compatible server that answers every chat completion after
    `latency_s` (as an async server like vLLM would); prints its port, then serves until terminated."""
    from aiohttp import web

    content = json.dumps({"score": 0.5})
    answer = {"choices": [{"message": {"role": "assistant", "content": content}}]}

    async def chat(request: web.Request) -> web.Response:
        await request.json()
        await asyncio.sleep(latency_s)
        return web.json_response(answer)

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def bench_judge(args: argparse.Namespace) -> None:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-judge", "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}/v1"
        settings = LLMSettings(
            url, "judge", timeout_s=30, max_retries=0, max_concurrency=args.judge_concurrency
        )
        judge = LLMJudge(settings)
        n = args.judge_calls
        candidates = [f"candidate answer {i}" for i in range(n)]
        refs = [f"reference answer {i}" for i in range(n)]
        asyncio.run(judge.score(candidates[:4], refs[:4]))  # warm-up (imports, first connection)
        start = time.perf_counter()
        scores = asyncio.run(judge.score(candidates, refs))
        ours_s = time.perf_counter() - start
        assert all(s == 0.5 for s in scores) and judge.failed == 0

        blocking = JSONChatClient(LLMSettings(url, "judge", timeout_s=30, max_retries=0))
        subset = args.judge_anchor_calls
        start = time.perf_counter()
        for i in range(subset):
            messages = judge.messages(candidates[i], refs[i])
            assert blocking.complete_json(messages, JUDGE_SCHEMA, "answer_score", f"c{i}")["score"] == 0.5
        anchor_s = time.perf_counter() - start
        ours_rate, anchor_rate = n / ours_s, subset / anchor_s
        print(
            f"rewards_judge ours={ours_rate:.0f}calls/s anchor={anchor_rate:.1f}calls/s "
            f"ratio={ours_rate / anchor_rate:.1f}x target>=20x ({n} calls async, {args.judge_concurrency} in flight; "
            f"{subset} sequential; server latency {args.latency_ms:.0f}ms, no cache)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", type=int, default=20_000)
    parser.add_argument("--completions", type=int, default=2_560)
    parser.add_argument("--chars", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=256, help="completions per reward call (a GRPO step)")
    parser.add_argument("--anchor-completions", type=int, default=64, help="completions the naive loop runs")
    parser.add_argument("--judge-calls", type=int, default=512)
    parser.add_argument("--judge-anchor-calls", type=int, default=40)
    parser.add_argument(
        "--judge-concurrency",
        type=int,
        default=RewardConfig().judge_concurrency,
        help="reward.judge_concurrency",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--serve-judge", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("entity", "judge"), default=None)
    args = parser.parse_args()
    if args.serve_judge:
        serve_judge(args.latency_ms / 1000)
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.only in (None, "entity"):
        bench_entity(args)
    if args.only in (None, "judge"):
        bench_judge(args)


if __name__ == "__main__":
    main()
