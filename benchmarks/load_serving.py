"""Load test: `--clients` async HTTP clients for `--seconds` against `pathreasoner serve` on 127.0.0.1.

Starts the server with the tiny demo model (or targets ``--url`` with ``--pid`` for its RSS), warms it up
with `--warmup` seconds of the same load, then runs the measured window. Every response must be HTTP 200
with one well-formed-shaped prediction; anything else (status, timeout, connection error) counts as an error.
The server's RSS (psutil, children included) is sampled once a second; growth = last sample over the first
sample of the measured window.

Prints ``serving_load requests=<n> errors=<n> rps=<r> p50=<ms> p99=<ms> rss_start=<MB> rss_end=<MB>
growth=<%> target errors=0 growth<=5%``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
from serving_common import PREDICT, percentile, request_image, served, tiny_model

KEYS = {"text", "observe", "think", "answer", "well_formed"}


def rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


async def run_load(
    url: str, body: dict, clients: int, seconds: float, proc: psutil.Process | None
) -> tuple[list[float], Counter[str], list[float]]:
    """(latencies of the 200s, errors by kind, RSS samples in MB) over `seconds`."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    rss: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                res = await http.post(f"{url}{PREDICT}", json=body, timeout=120)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            if res.status_code != 200:
                errors[f"HTTP {res.status_code}"] += 1
            elif set(res.json()["predictions"][0]) < KEYS:
                errors["bad body"] += 1
            else:
                latencies.append(time.perf_counter() - start)

    async def sample() -> None:
        while proc is not None and time.monotonic() < deadline:
            rss.append(rss_mb(proc))
            await asyncio.sleep(1)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as http:
        await asyncio.gather(sample(), *(client(http) for _ in range(clients)))
    if proc is not None:
        rss.append(rss_mb(proc))
    return latencies, errors, rss


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--url", default=None, help="an already running server (default: start one)")
    parser.add_argument("--pid", type=int, default=None, help="with --url: the server's pid, for its RSS")
    args = parser.parse_args()

    body = {
        "instances": [{"image": request_image()[1], "question": "What is the diagnosis?"}],
        "parameters": {"max_new_tokens": args.new_tokens},
    }
    with tempfile.TemporaryDirectory(prefix="load-serving-") as tmp, contextlib.ExitStack() as stack:
        if args.url:
            url, pid = args.url.rstrip("/"), args.pid
        else:
            work = Path(tmp)
            url, pid = stack.enter_context(
                served(work, tiny_model(work), max_new_tokens=args.new_tokens, max_batch_size=args.clients)
            )
        proc = psutil.Process(pid) if pid else None
        asyncio.run(run_load(url, body, args.clients, args.warmup, None))
        latencies, errors, rss = asyncio.run(run_load(url, body, args.clients, args.seconds, proc))

    n_errors = sum(errors.values())
    growth = (rss[-1] / rss[0] - 1) * 100 if len(rss) >= 2 else float("nan")
    print(
        f"serving_load requests={len(latencies) + n_errors} errors={n_errors} "
        f"rps={len(latencies) / args.seconds:.1f} p50={percentile(latencies, 50) * 1000:.0f}ms "
        f"p99={percentile(latencies, 99) * 1000:.0f}ms "
        + (f"rss_start={rss[0]:.0f}MB rss_end={rss[-1]:.0f}MB growth={growth:+.1f}% " if rss else "")
        + f"target errors=0 growth<=5% ({args.clients} clients x {args.seconds:g} s, "
        f"{args.new_tokens} new tokens, tiny model){' ' + dict(errors).__repr__() if errors else ''}"
    )
    return 0 if n_errors == 0 and not growth > 5 else 1


if __name__ == "__main__":
    sys.exit(main())
