"""`make demo`: demo data -> the whole KFP pipeline locally -> KServe server -> one real HTTP request."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from pathreasoner import stages
from pathreasoner.client import ask, format_answer, wait_until_ready
from pathreasoner.config import Config
from pathreasoner.errors import ServingError
from pathreasoner.io_utils import atomic_write_text, read_jsonl
from pathreasoner.pipeline_runner import run_local

logger = logging.getLogger(__name__)
console = Console(stderr=True)


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick_request(samples_dir: Path) -> tuple[list[Path], str]:
    """The slide views (thumbnail first) and question of a held-out sample (falls back to any split)."""
    for split in ("test", "val", "train"):
        path = samples_dir / f"{split}.jsonl"
        if not path.exists():
            continue
        for record in read_jsonl(path):
            if record.get("images"):
                return [samples_dir / image for image in record["images"]], record["question"]
    raise ServingError(f"no sample with images in {samples_dir}; did build-samples link any slides?")


def start_server(cfg: Config, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """`pathreasoner serve` in a child process on 127.0.0.1:<port>, logging to `log_path`."""
    config_path = cfg.work_dir / "resolved_params.yaml"
    atomic_write_text(config_path, cfg.to_yaml())
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pathreasoner.cli",
                "serve",
                "--config",
                str(config_path),
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def run_demo(cfg: Config, config_path: Path | None = None, overrides: list[str] | None = None) -> dict:
    """Run the platform end to end on the embedded default; returns the served prediction."""
    start = time.perf_counter()
    demo_dir = stages.default_dir(cfg, "demo")
    console.rule("[bold]1/4 demo data")
    console.print(stages.demo_data(cfg, demo_dir).line())
    console.rule("[bold]2/4 Kubeflow pipeline (kfp.local SubprocessRunner)")
    run = run_local(cfg, demo_dir / "slides", demo_dir / "reports.jsonl")
    console.print(run.line())
    if not run.champion:
        raise ServingError(
            "the gate did not promote a champion, so there is nothing to serve; see the register task's "
            "gate reasons in MLflow (`mlflow ui`) or lower registry.gate"
        )
    console.rule("[bold]3/4 KServe ModelServer on 127.0.0.1")
    port = free_port(cfg.serving.host)
    server = start_server(cfg, port, cfg.work_dir / "logs" / "serve.log")
    url = f"http://{cfg.serving.host}:{port}"
    try:
        waited = wait_until_ready(url, cfg.serving.model_name, timeout_s=180, proc=server)
        console.print(
            f"models:/{cfg.registry.model_name}@champion (v{run.champion}) ready at {url} after {waited:.1f} s"
        )
        console.rule("[bold]4/4 one real HTTP request")
        samples_dir = run.task_dirs.get("build-samples", Path()) / "samples"
        images, question = pick_request(samples_dir)
        names = ", ".join(f"{p.parent.name}/{p.name}" for p in images)
        console.print(
            f"POST {url}/v1/models/{cfg.serving.model_name}:predict  images=[{names}]  question={question!r}"
        )
        t0 = time.perf_counter()
        prediction = ask(url, cfg.serving.model_name, images, question)
        latency = time.perf_counter() - t0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    console.print(Panel(format_answer(prediction), title=f"served answer ({latency * 1000:.0f} ms)"))
    total = time.perf_counter() - start
    console.print(
        f"[bold green]✓[/] demo finished in {total:.0f} s; champion v{run.champion}; server stopped"
    )
    logger.info("served prediction: %s", json.dumps(prediction))
    return prediction
