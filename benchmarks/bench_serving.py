"""Serving throughput and HTTP overhead with the tiny demo model (issue 11 "Benchmarks and load").

- anchor: sequential in-process ``Generator.generate`` (one request at a time, what a lock-guarded
  predictor does), ``--requests`` requests of ``--new-tokens`` new tokens, at torch's default thread count
  and at the server's (``serving.cpu_threads``), measured before and after ours: the fastest counts;
- ours: the same requests through HTTP (``POST /v1/models/pathreasoner:predict``) from ``--clients``
  concurrent clients (one aiohttp session, the JSON body encoded once) against ``pathreasoner serve`` on
  127.0.0.1 with the default serving settings (micro-batching across requests);
- overhead: p50/p99 of one HTTP request at 1 new token, sequential, minus the p50 of in-process
  ``generate`` at 1 new token (JSON, base64 and image decode, routing, batching queue, response).

Prints ``serving ours=<req/s> anchor=<req/s> ratio=<x> target>=4x`` with p50/p99 latency of the concurrent
requests, and ``serving_overhead p50=<ms> p99=<ms> target p50<=5ms``. Targets: ratio >= 4, overhead p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import torch
from serving_common import PREDICT, QUESTION, percentile, request_image, served, tiny_model

from pathreasoner.model.inference import Generator
from pathreasoner.serve.predictor import usable_cores


async def concurrent_load(url: str, body: dict, n_requests: int, clients: int) -> tuple[float, list[float]]:
    """n_requests spread over `clients` concurrent clients; (wall seconds, per-request latencies)."""
    latencies: list[float] = []
    remaining = iter(range(n_requests))
    data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}

    async def client(http: aiohttp.ClientSession) -> None:
        for _ in remaining:
            start = time.perf_counter()
            async with http.post(f"{url}{PREDICT}", data=data, headers=headers) as res:
                res.raise_for_status()
                await res.read()
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - start, latencies


def server_counters(url: str) -> dict[str, float]:
    """Batch-size and generate-time sums and counts on /metrics."""
    wanted = ("pathreasoner_batch_size", "pathreasoner_generate_seconds")
    samples = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name.removesuffix("_sum").removesuffix("_count") in wanted and name.endswith(("_sum", "_count")):
            samples[name] = float(value)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=256, help="requests in the throughput comparison")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--new-tokens", type=int, default=16, help="new tokens per request (throughput)")
    parser.add_argument(
        "--max-batch", type=int, default=None, help="serving.max_batch_size (default: config's)"
    )
    parser.add_argument(
        "--max-wait-ms", type=float, default=None, help="serving.max_batch_wait_ms (default: config's)"
    )
    parser.add_argument(
        "--model-worker", default=None, help="serving.model_worker: process | thread (default: config's)"
    )
    parser.add_argument("--overhead-requests", type=int, default=60, help="sequential 1-token requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        model_dir = tiny_model(work)
        image, b64 = request_image()
        generator = Generator.from_checkpoint(
            model_dir, max_new_tokens=args.new_tokens, device="cpu", dtype="float32"
        )
        generator.generate([image], QUESTION)  # warm-up
        default_threads = torch.get_num_threads()
        server_threads = max(1, usable_cores() - 1)  # serving.cpu_threads 0

        def anchor_rate() -> float:
            """Sequential in-process requests/s at the faster of the two thread counts."""
            generator.max_new_tokens = args.new_tokens
            rates = []
            for threads in sorted({default_threads, server_threads}):
                torch.set_num_threads(threads)
                generator.generate([image], QUESTION)
                start = time.perf_counter()
                for _ in range(args.requests):
                    generator.generate([image], QUESTION)
                rates.append(args.requests / (time.perf_counter() - start))
            torch.set_num_threads(default_threads)
            return max(rates)

        settings = {"max_new_tokens": args.new_tokens}
        if args.max_batch:
            settings["max_batch_size"] = args.max_batch
        if args.max_wait_ms is not None:
            settings["max_batch_wait_ms"] = args.max_wait_ms
        if args.model_worker:
            settings["model_worker"] = args.model_worker
        with served(work, model_dir, **settings) as (url, _):
            body = {"instances": [{"image": b64, "question": QUESTION}]}
            asyncio.run(concurrent_load(url, body, args.clients, args.clients))  # warm-up
            anchors = [anchor_rate()]  # before and after ours: the host is shared, take the faster
            before = server_counters(url)
            wall, latencies = asyncio.run(concurrent_load(url, body, args.requests, args.clients))
            after = server_counters(url)
            anchors.append(anchor_rate())
            delta = {k: after[k] - before.get(k, 0.0) for k in after}
            batches = delta["pathreasoner_batch_size_sum"] / max(delta["pathreasoner_batch_size_count"], 1)
            busy = delta["pathreasoner_generate_seconds_sum"] / wall
            anchor, ours = max(anchors), args.requests / wall
            # overhead: HTTP and in-process at 1 new token, interleaved so both see the same host load
            generator.max_new_tokens = 1
            torch.set_num_threads(server_threads)  # the server's thread count: only the HTTP path differs
            one = {**body, "parameters": {"max_new_tokens": 1}}
            http_one, in_process = [], []
            with httpx.Client() as http:
                for i in range(args.overhead_requests + 3):
                    start = time.perf_counter()
                    generator.generate([image], QUESTION)
                    local = time.perf_counter() - start
                    start = time.perf_counter()
                    http.post(f"{url}{PREDICT}", json=one, timeout=60).raise_for_status()
                    if i >= 3:  # warm-up
                        in_process.append(local)
                        http_one.append(time.perf_counter() - start)

    base = statistics.median(in_process)
    over = [(t - base) * 1000 for t in http_one]
    print(
        f"serving ours={ours:.1f}req/s anchor={anchor:.1f}req/s ratio={ours / anchor:.1f}x target>=4x "
        f"p50={percentile(latencies, 50) * 1000:.0f}ms p99={percentile(latencies, 99) * 1000:.0f}ms "
        f"mean_batch={batches:.1f} model_busy={busy:.0%} ({args.requests} requests, {args.clients} clients, {args.new_tokens} new "
        f"tokens, server torch threads {server_threads}, tiny model, CPU)"
    )
    print(
        f"serving_overhead p50={percentile(over, 50):.1f}ms p99={percentile(over, 99):.1f}ms target p50<=5ms "
        f"(HTTP at 1 new token p50={percentile(http_one, 50) * 1000:.1f}ms minus in-process generate "
        f"p50={base * 1000:.1f}ms, {args.overhead_requests} sequential requests)"
    )


if __name__ == "__main__":
    main()
