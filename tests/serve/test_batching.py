"""Micro-batching, generation options, timeouts and the GPU check, against `pathreasoner serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from pathreasoner.serve.batching import GenerationOptions, MicroBatcher
from tests.serve.predictor_process import Served, predictor_server

CAP = 4096  # serving.max_new_tokens: the tiny model always generates up to the limit (4096 tokens: minutes)


@pytest.fixture(scope="module")
def served(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with predictor_server(
        tiny_dir,
        tmp_path_factory.mktemp("batching"),
        max_new_tokens=CAP,
        max_batch_size=8,
        max_batch_wait_ms=300,
        request_timeout_s=3,
        model_worker="process",  # timeouts and disconnects cancel rows across the pipe
        model_processes=1,  # one batch at a time: a request waits for the cancelled rows to stop
    ) as served:
        yield served


def body(image: str, **parameters: object) -> dict:
    return {"instances": [{"image": image, "question": "What is the diagnosis?"}], "parameters": parameters}


def test_concurrent_requests_share_a_batch(served: Served, jpeg_b64: str) -> None:
    calls = served.metric("pathreasoner_batch_size_count")
    items = served.metric("pathreasoner_batch_size_sum")
    with ThreadPoolExecutor(8) as pool:
        # 32 tokens: the other requests arrive while the first (alone: the server was idle) generates
        responses = list(pool.map(lambda _: served.predict(body(jpeg_b64, max_new_tokens=32)), range(8)))
    assert [r.status_code for r in responses] == [200] * 8, responses[0].text
    assert all(r.json()["predictions"][0]["text"] for r in responses)
    calls = served.metric("pathreasoner_batch_size_count") - calls
    assert served.metric("pathreasoner_batch_size_sum") - items == 8
    assert 1 <= calls < 8, f"8 concurrent requests ran as {calls} generate() calls: no batching"


def test_max_new_tokens_is_honoured(served: Served, jpeg_b64: str) -> None:
    before = served.metric("pathreasoner_generated_tokens_total")
    res = served.predict(body(jpeg_b64, max_new_tokens=3))
    assert res.status_code == 200, res.text
    assert served.metric("pathreasoner_generated_tokens_total") - before == 3


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"max_new_tokens": 0}, "parameters.max_new_tokens"),
        ({"max_new_tokens": CAP + 1}, "parameters.max_new_tokens"),
        ({"max_new_tokens": "8"}, "parameters.max_new_tokens"),
        ({"temperature": -0.5}, "parameters.temperature"),
        ({"temperature": 2.5}, "parameters.temperature"),
        ({"top_k": 3}, "unknown field(s) ['top_k']"),
    ],
)
def test_out_of_bounds_parameters_are_400(
    served: Served, jpeg_b64: str, parameters: dict, field: str
) -> None:
    res = served.predict(body(jpeg_b64, **parameters))
    assert res.status_code == 400, res.text
    assert field in res.json()["error"]


def test_sampling_temperature_is_accepted(served: Served, jpeg_b64: str) -> None:
    res = served.predict(body(jpeg_b64, max_new_tokens=4, temperature=0.7))
    assert res.status_code == 200 and res.json()["predictions"][0]["text"], res.text


def test_timeout_is_504_and_frees_the_slot(served: Served, jpeg_b64: str) -> None:
    start = time.monotonic()
    res = served.predict(body(jpeg_b64, max_new_tokens=CAP), headers={"X-Request-Id": "slow-1"})
    waited = time.monotonic() - start
    assert res.status_code == 504, res.text
    assert "serving.request_timeout_s" in res.json()["error"] and waited < 15
    assert res.headers["x-request-id"] == "slow-1"
    # the timed-out rows stop at the next token: a short request does not wait for the 4096 tokens
    start = time.monotonic()
    quick = served.predict(body(jpeg_b64, max_new_tokens=1))
    assert quick.status_code == 200, quick.text
    assert time.monotonic() - start < 10
    assert served.metric("pathreasoner_request_errors_total", type="timeout") >= 1
    logged = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    assert any(e["level"] == "WARNING" and e.get("request_id") == "slow-1" for e in logged)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a GPU is visible: the CPU-fallback refusal cannot happen"
)
def test_absent_gpu_is_a_startup_error(tiny_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pathreasoner.serve", "--model-uri", str(tiny_dir), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no GPU is visible" in proc.stderr and "serving.allow_cpu=true" in proc.stderr


def test_bare_instance_carries_its_parameters(served: Served, jpeg_b64: str) -> None:
    before = served.metric("pathreasoner_generated_tokens_total")
    bare = {"image": jpeg_b64, "question": "What is the diagnosis?", "parameters": {"max_new_tokens": 2}}
    res = served.predict(bare)
    assert res.status_code == 200, res.text
    assert served.metric("pathreasoner_generated_tokens_total") - before == 2
    bad = served.predict({**bare, "parameters": {"max_new_tokens": 0}})
    assert bad.status_code == 400 and "parameters.max_new_tokens" in bad.json()["error"]


def test_client_disconnect_cancels_the_request(served: Served, jpeg_b64: str) -> None:
    before = served.metric("pathreasoner_request_errors_total", type="client_disconnected")
    timeouts = served.metric("pathreasoner_request_errors_total", type="timeout")
    payload = json.dumps(body(jpeg_b64, max_new_tokens=CAP)).encode()
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # a client that gives up
        sock.sendall(
            f"POST /v1/models/pathreasoner:predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
            f"\r\nX-Request-Id: gone-1\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        time.sleep(0.5)  # in its batch, generating 4096 tokens
    deadline = time.monotonic() + 2.0  # well before serving.request_timeout_s (3 s) could end it
    while served.metric("pathreasoner_request_errors_total", type="client_disconnected") == before:
        assert time.monotonic() < deadline, "the abandoned request was not cancelled"
        time.sleep(0.05)
    quick = served.predict(body(jpeg_b64, max_new_tokens=1))  # its rows stopped: no 4096-token wait
    assert quick.status_code == 200, quick.text
    assert served.metric("pathreasoner_request_errors_total", type="timeout") == timeouts
    logged = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    assert any(
        e["level"] == "INFO" and e.get("request_id") == "gone-1" and "client disconnected" in e["message"]
        for e in logged
    )


def test_batch_stops_waiting_once_the_last_batchs_clients_are_back() -> None:
    """max_wait is a cap: when as many items as the previous batch held have arrived, the batch starts."""
    batches: list[int] = []

    def run(items: list, options: GenerationOptions, stopping: object) -> tuple[list[str], list[int]]:
        batches.append(len(items))
        return [question for _, question in items], [1] * len(items)

    async def scenario() -> float:
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_s=5.0)
        options = GenerationOptions(max_new_tokens=4)

        async def client(i: int) -> list[str]:
            return await batcher.submit([([], f"q{i}")], options, timeout_s=30)

        first = await asyncio.gather(*(client(i) for i in range(4)))  # 4 concurrent clients
        start = time.monotonic()
        second = await asyncio.gather(*(client(i) for i in range(4, 8)))  # the same 4 come back
        elapsed = time.monotonic() - start
        await batcher.close()
        assert [t[0] for t in first + second] == [f"q{i}" for i in range(8)]
        return elapsed

    elapsed = asyncio.run(scenario())
    assert batches[-1] == 4 and sum(batches) == 8
    assert elapsed < 2.0, f"the batch waited {elapsed:.1f} s for clients that were all back (cap 5 s)"


def test_split_batches_merge_again() -> None:
    """Clients queued during a batch count as active: the next batch waits for them and the returning ones."""
    batches: list[int] = []

    def run(items: list, options: GenerationOptions, stopping: object) -> tuple[list[str], list[int]]:
        time.sleep(0.3)
        batches.append(len(items))
        return [question for _, question in items], [1] * len(items)

    async def scenario() -> None:
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_s=2.0)
        options = GenerationOptions(max_new_tokens=4)

        async def client(name: str, delay: float = 0.0) -> list[str]:
            await asyncio.sleep(delay)
            return await batcher.submit([([], name)], options, timeout_s=30)

        async def early_client(i: int) -> None:  # answered in the first batch, back 0.1-0.2 s later
            await client(f"a{i}")
            await client(f"a{i}-again", delay=0.1 + 0.05 * i)

        late = [client(f"b{i}", delay=0.1) for i in range(2)]  # queued while the first batch runs
        await asyncio.gather(*(early_client(i) for i in range(3)), *late)
        await batcher.close()

    asyncio.run(scenario())
    # 3 early clients run first (the first batch never waits); then the 2 queued ones and the 3 returning
    # ones share one batch instead of splitting into 2 + 3
    assert sum(batches) == 8 and batches[-1] == 5, batches


class SlowRun:
    """A MicroBatcher `run` that takes `seconds` per batch and records the batch sizes and the most batches
    that ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: list[int] = []
        self.running = self.peak = 0
        self.lock = threading.Lock()

    def __call__(
        self, items: list, options: GenerationOptions, stopping: object
    ) -> tuple[list[str], list[int]]:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.batches.append(len(items))
        return [question for _, question in items], [1] * len(items)


def test_lanes_run_batches_side_by_side() -> None:
    """With two lanes (two model processes) a request that arrives while a batch generates starts at once in
    the free lane; with one it waits for that batch."""

    async def scenario(run: SlowRun, lanes: int) -> float:
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_s=0.0, lanes=lanes)
        options = GenerationOptions(max_new_tokens=4)

        async def client(name: str, delay: float) -> list[str]:
            await asyncio.sleep(delay)
            return await batcher.submit([([], name)], options, timeout_s=30)

        start = time.monotonic()
        answers = await asyncio.gather(client("first", 0.0), client("second", 0.1))
        elapsed = time.monotonic() - start
        await batcher.close()
        assert answers == [["first"], ["second"]]
        return elapsed

    two, one = SlowRun(0.5), SlowRun(0.5)
    assert asyncio.run(scenario(two, 2)) < 0.9 and two.peak == 2
    assert asyncio.run(scenario(one, 1)) >= 1.0 and one.peak == 1


def test_two_lanes_share_concurrent_clients_evenly() -> None:
    """8 clients and two lanes settle into two batches of 4 generating side by side, not one batch of 8
    that leaves the other lane idle."""
    run = SlowRun(0.2)

    async def scenario() -> None:
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_s=1.0, lanes=2)
        options = GenerationOptions(max_new_tokens=4)

        async def client(i: int) -> None:
            for round_ in range(5):
                answer = await batcher.submit([([], f"c{i}-{round_}")], options, timeout_s=30)
                assert answer == [f"c{i}-{round_}"]

        await asyncio.gather(*(client(i) for i in range(8)))
        await batcher.close()

    asyncio.run(scenario())
    assert sum(run.batches) == 40 and run.peak == 2
    assert run.batches[-4:] == [4, 4, 4, 4], run.batches
