"""What bench_serving.py and load_serving.py share: a request image, percentiles, the served tiny model."""

from __future__ import annotations

import base64
import contextlib
import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from PIL import Image

from pathreasoner.config import ModelConfig, config_from_dict
from pathreasoner.demo import free_port, start_server
from pathreasoner.model.factory import tiny_checkpoint

QUESTION = "What is the diagnosis?"
PREDICT = "/v1/models/pathreasoner:predict"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); nan for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def request_image() -> tuple[Image.Image, str]:
    """A 224x224 JPEG with some structure: (decoded image, base64 of the JPEG)."""
    img = Image.new("RGB", (224, 224), (190, 80, 150))
    for x in range(0, 224, 8):  # some structure so the JPEG is not trivial
        img.paste((60, 40 + x % 120, 120), (x, x, x + 8, x + 8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), base64.b64encode(buf.getvalue()).decode()


def tiny_model(work: Path) -> Path:
    """The tiny demo checkpoint (built offline) under `work`."""
    return tiny_checkpoint(ModelConfig(cache_dir=str(work / "model-cache")))


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    """Until GET /v2/health/ready is 200; SystemExit with the server log's tail when it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} not ready (exit code {proc.poll()}):\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def served(work: Path, model_dir: Path, **serving: object) -> Iterator[tuple[str, int]]:
    """`pathreasoner serve` of `model_dir` on 127.0.0.1 with `serving` settings: (url, pid); stopped on exit."""
    cfg = config_from_dict(
        {
            "project": {"log_level": "WARNING"},
            "serving": {"model_uri": str(model_dir), "allow_cpu": True, **serving},
        },
        work,
    )
    port, log = free_port(), work / "serve.log"
    proc = start_server(cfg, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
