"""Serving throughput and HTTP overhead with the tiny demo model (issue 11 "Benchmarks and load").

- anchor: sequential in-process ``Generator.generate`` (one request at a time, what a lock-guarded
  predictor does), ``--requests`` requests of ``--new-tokens`` new tokens;
- ours: the same requests through HTTP (``POST /v1/models/pathreasoner:predict``) from ``--clients``
  concurrent clients against ``pathreasoner serve`` on 127.0.0.1 (micro-batching across requests);
- overhead: p50/p99 of one HTTP request at 1 new token, sequential, minus the p50 of in-process
  ``generate`` at 1 new token (JSON, base64 and image decode, routing, batching queue, response).

Prints ``serving ours=<req/s> anchor=<req/s> ratio=<x> target>=4x`` with p50/p99 latency of the concurrent
requests, and ``serving_overhead p50=<ms> p99=<ms> target p50<=5ms``. Targets: ratio >= 4, overhead p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from pathreasoner.config import ModelConfig, config_from_dict
from pathreasoner.demo import free_port, start_server
from pathreasoner.model.factory import tiny_checkpoint
from pathreasoner.model.inference import Generator

QUESTION = "What is the diagnosis?"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def request_image() -> tuple[Image.Image, str]:
    img = Image.new("RGB", (224, 224), (190, 80, 150))
    for x in range(0, 224, 8):  # some structure so the JPEG is not trivial
        img.paste((60, 40 + x % 120, 120), (x, x, x + 8, x + 8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), base64.b64encode(buf.getvalue()).decode()


def wait_ready(url: str, proc, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} not ready after {timeout_s} s")


async def concurrent_load(url: str, body: dict, n_requests: int, clients: int) -> tuple[float, list[float]]:
    """n_requests spread over `clients` concurrent clients; (wall seconds, per-request latencies)."""
    latencies: list[float] = []
    remaining = iter(range(n_requests))

    async def client(http: httpx.AsyncClient) -> None:
        for _ in remaining:
            start = time.perf_counter()
            res = await http.post(f"{url}/v1/models/pathreasoner:predict", json=body, timeout=300)
            res.raise_for_status()
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - start, latencies


def batch_stats(url: str) -> float:
    """Mean instances per generate() call so far (pathreasoner_batch_size on /metrics)."""
    samples = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(("pathreasoner_batch_size_sum ", "pathreasoner_batch_size_count ")):
            name, value = line.split()
            samples[name] = float(value)
    return samples["pathreasoner_batch_size_sum"] / max(samples["pathreasoner_batch_size_count"], 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=64, help="requests in the throughput comparison")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--new-tokens", type=int, default=16, help="new tokens per request (throughput)")
    parser.add_argument("--max-batch", type=int, default=8, help="serving.max_batch_size (default as config)")
    parser.add_argument("--overhead-requests", type=int, default=60, help="sequential 1-token requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        model_dir = tiny_checkpoint(ModelConfig(cache_dir=str(work / "model-cache")))
        image, b64 = request_image()

        generator = Generator.from_checkpoint(
            model_dir, max_new_tokens=args.new_tokens, device="cpu", dtype="float32"
        )
        generator.generate([image], QUESTION)  # warm-up

        def anchor_rate() -> float:
            generator.max_new_tokens = args.new_tokens
            start = time.perf_counter()
            for _ in range(args.requests):
                generator.generate([image], QUESTION)
            return args.requests / (time.perf_counter() - start)

        cfg = config_from_dict(
            {
                "project": {"log_level": "WARNING"},
                "serving": {
                    "model_uri": str(model_dir),
                    "max_new_tokens": args.new_tokens,
                    "max_batch_size": args.max_batch,
                    "allow_cpu": True,
                },
            },
            work,
        )
        port = free_port()
        proc = start_server(cfg, port, work / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc)
            body = {"instances": [{"image": b64, "question": QUESTION}]}
            asyncio.run(concurrent_load(url, body, args.clients, args.clients))  # warm-up
            anchors = [anchor_rate()]  # before and after ours: the host is shared, take the faster
            wall, latencies = asyncio.run(concurrent_load(url, body, args.requests, args.clients))
            anchors.append(anchor_rate())
            batches = batch_stats(url)
            anchor, ours = max(anchors), args.requests / wall
            # overhead: HTTP and in-process at 1 new token, interleaved so both see the same host load
            generator.max_new_tokens = 1
            one = {**body, "parameters": {"max_new_tokens": 1}}
            http_one, in_process = [], []
            with httpx.Client() as http:
                for i in range(args.overhead_requests + 3):
                    start = time.perf_counter()
                    generator.generate([image], QUESTION)
                    local = time.perf_counter() - start
                    start = time.perf_counter()
                    http.post(
                        f"{url}/v1/models/pathreasoner:predict", json=one, timeout=60
                    ).raise_for_status()
                    if i >= 3:  # warm-up
                        in_process.append(local)
                        http_one.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    base = statistics.median(in_process)
    over = [(t - base) * 1000 for t in http_one]
    print(
        f"serving ours={ours:.1f}req/s anchor={anchor:.1f}req/s ratio={ours / anchor:.1f}x target>=4x "
        f"p50={percentile(latencies, 50) * 1000:.0f}ms p99={percentile(latencies, 99) * 1000:.0f}ms "
        f"mean_batch={batches:.1f} ({args.requests} requests, {args.clients} clients, {args.new_tokens} new "
        "tokens, tiny model, CPU)"
    )
    print(
        f"serving_overhead p50={percentile(over, 50):.1f}ms p99={percentile(over, 99):.1f}ms target p50<=5ms "
        f"(HTTP at 1 new token p50={percentile(http_one, 50) * 1000:.1f}ms minus in-process generate "
        f"p50={base * 1000:.1f}ms, {args.overhead_requests} sequential requests)"
    )


if __name__ == "__main__":
    main()
