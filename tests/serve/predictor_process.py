"""`pathreasoner serve` (demo.start_server: the real CLI in a subprocess) on 127.0.0.1 for HTTP tests."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from pathreasoner.config import config_from_dict
from pathreasoner.demo import free_port, start_server
from tests.servers import stop, wait_http

NAME = "pathreasoner"


@dataclass(frozen=True)
class Served:
    url: str
    log: Path

    def predict(
        self, body: object, headers: dict[str, str] | None = None, timeout: float = 120
    ) -> requests.Response:
        return requests.post(
            f"{self.url}/v1/models/{NAME}:predict",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=timeout,
        )

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
            if match and match.group(1) == name:
                got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
                if got == want:
                    return float(match.group(3))
        return 0.0


@contextlib.contextmanager
def predictor_server(model_dir: Path, work_dir: Path, **serving: object) -> Iterator[Served]:
    """The tiny checkpoint served with `serving` settings; stopped by pid on exit."""
    port = free_port()
    cfg = config_from_dict(
        {"project": {"log_level": "INFO"}, "serving": {"model_uri": str(model_dir), **serving}}, work_dir
    )
    log = work_dir / "serve.log"
    proc = start_server(cfg, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/health/ready", proc, 120, log)
        yield Served(url, log)
    finally:
        stop(proc)
