"""The real server: `python -m pathreasoner.serve` in a subprocess on 127.0.0.1, hit over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

NAME = "pathreasoner"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outward_ip() -> str | None:
    """This machine's non-loopback address (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            ip = sock.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@pytest.fixture(scope="module")
def server(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATHREASONER_LOG_LEVEL": "INFO"}
    cmd = [
        sys.executable,
        "-m",
        "pathreasoner.serve",
        "--model-uri",
        str(tiny_dir),
        "--port",
        str(port),
        "--set",
        "serving.max_new_tokens=8",
        "--set",
        "serving.max_image_bytes=200000",
        "--set",
        "serving.allow_cpu=true",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path_factory.getbasetemp()
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def post(base: str, body: object, content_type: str = "application/json") -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{base}/v1/models/{NAME}:predict", data=data, headers={"Content-Type": content_type}, timeout=120
    )


def test_health_and_model_ready(server: str) -> None:
    assert requests.get(f"{server}/v1/models/{NAME}", timeout=5).json() == {"name": NAME, "ready": True}
    assert requests.get(f"{server}/v2/models/{NAME}/ready", timeout=5).status_code == 200


def test_listens_on_loopback_only(server: str) -> None:
    ip = outward_ip()
    if ip is None:
        pytest.skip("no non-loopback address on this machine")
    port = int(server.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex((ip, port)) != 0, f"server is reachable on {ip}:{port}; it must bind 127.0.0.1"


def test_predict_v1_and_bare(server: str, jpeg_b64: str) -> None:
    res = post(server, {"instances": [{"image": jpeg_b64, "question": "What is the diagnosis?"}]})
    assert res.status_code == 200, res.text
    preds = res.json()["predictions"]
    assert len(preds) == 1
    assert (
        set(preds[0]) == {"text", "observe", "think", "answer", "well_formed", "entities", "lineage"}
        and preds[0]["text"]
    )
    bare = post(server, {"image": jpeg_b64, "question": "What is the diagnosis?"})
    assert bare.status_code == 200 and bare.json()["predictions"][0]["text"] == preds[0]["text"]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ({"instances": [{"image": "AAAA"}]}, "application/json", "question is missing"),
        ({"image": "not-base64!", "question": "q"}, "application/json", "not valid base64"),
        ({"image": "aGVsbG8gd29ybGQ=", "question": "q"}, "application/json", "not an image file"),
        ({"image": "A" * 400_000, "question": "q"}, "application/json", "too big"),
        ({"instances": "x"}, "application/json", "'instances' must be a non-empty list"),
        (b"{not json", "application/json", "request body is not valid JSON"),
        ([1, 2], "application/json", "must be a JSON object"),
    ],
)
def test_malformed_requests_get_400_json(server: str, body: object, content_type: str, message: str) -> None:
    res = post(server, body, content_type)
    assert res.status_code == 400, res.text
    assert res.headers["content-type"].startswith("application/json")
    assert message in res.json()["error"]


def test_v2_request_with_unknown_tensors_is_a_400(server: str) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}
    res = requests.post(f"{server}/v2/models/{NAME}/infer", json=body, timeout=30)
    assert res.status_code == 400 and "inputs ['x'] are unknown" in res.json()["error"]
