"""`make demo`: demo data -> the whole KFP pipeline locally -> KServe server -> real HTTP requests.

The console shows the stages, one line per finished pipeline task, and each served answer beside the
reference; everything else (kfp's executor logs, warnings, the stages' own logging) goes to
`<work_dir>/demo/demo.log`, the server's output to `<work_dir>/logs/serve.log`.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pathreasoner import stages
from pathreasoner.client import ask, format_answer, wait_until_ready
from pathreasoner.config import Config
from pathreasoner.errors import ServingError
from pathreasoner.eval.diagnosis import DiagnosisChecker
from pathreasoner.eval.metrics import answer_matches
from pathreasoner.io_utils import atomic_write_text, read_jsonl
from pathreasoner.logging_setup import Capture, KfpTaskWatcher, TaskEvent, capture_output
from pathreasoner.pipeline_runner import run_local

logger = logging.getLogger(__name__)
# what the demo asks: diagnosis questions of held-out patients, then these types
QUESTION_TYPES = ("grade", "pT", "margin")
DEMO_REQUESTS = 8
_MARKS = {
    "SUCCESS": "[green]✓[/]",
    "CACHED": "[cyan]↺[/]",
    "SKIPPED": "[yellow]–[/]",
    "FAILURE": "[bold red]✗[/]",
}
# tasks whose output is a bare value rather than a summary line
_BARE_OUTPUTS = {"register": "registered model version {}", "check-gate": "gate passes: {}"}


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick_samples(samples_dir: Path, n: int = DEMO_REQUESTS) -> list[dict[str, Any]]:
    """Up to `n` held-out records with images: diagnosis questions of different patients and diagnoses
    first, then one record of each other question type (QUESTION_TYPES order).

    The first split (test, val, train) that has records with images is used.
    """
    for split in ("test", "val", "train"):
        path = samples_dir / f"{split}.jsonl"
        records = [r for r in read_jsonl(path) if r.get("images")] if path.exists() else []
        if not records:
            continue
        picked: list[dict[str, Any]] = []
        seen_answers: set[str] = set()
        for record in records:
            answer = str(record.get("answer", "")).split(" of the ")[0].split(" (")[0].lower()
            if record["question_type"] == "diagnosis" and answer not in seen_answers:
                seen_answers.add(answer)
                picked.append(record)
        by_type: dict[str, dict[str, Any]] = {}
        for record in records:
            if record["question_type"] != "diagnosis":
                by_type.setdefault(record["question_type"], record)
        order = [t for t in QUESTION_TYPES if t in by_type] + [t for t in by_type if t not in QUESTION_TYPES]
        return (picked + [by_type[t] for t in order])[:n]
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
                "--set",
                "serving.allow_cpu=true",  # the demo serves on CPU when no GPU is visible
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def task_line(event: TaskEvent) -> str:
    """One console line (rich markup) for a finished pipeline task."""
    here = f"{Path.cwd()}/"
    summary = event.summary
    if event.status == "SUCCESS" and event.name in _BARE_OUTPUTS and " " not in summary:
        summary = _BARE_OUTPUTS[event.name].format(summary)
    summary = escape(summary.replace(here, ""))
    seconds = f"{event.seconds:6.1f} s" if event.status in ("SUCCESS", "FAILURE") else " " * 8
    line = f"  {_MARKS.get(event.status, '?')} {escape(event.name):<14} {seconds}  {summary}"
    if event.status == "SKIPPED":
        line = f"  {_MARKS['SKIPPED']} {escape(event.name):<14} {seconds}  [dim]skipped: {summary}[/]"
    if event.error:
        line += f"\n{' ' * 27}[red]{escape(event.error.replace(here, ''))}[/]"
    return line


def one_line(text: object) -> str:
    """`text` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text or "").split())


@contextmanager
def pipeline_display(console: Console, capture: Capture) -> Iterator[KfpTaskWatcher]:
    """While kfp runs: a spinner per running task (on a terminal), one line per task as it ends."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
        redirect_stdout=False,  # rich would send the captured stdout/stderr back to the terminal
        redirect_stderr=False,
    )
    running: dict[str, list[Any]] = {}

    def on_start(name: str) -> None:
        running.setdefault(name, []).append(progress.add_task(f"running {name}"))

    def on_task(event: TaskEvent) -> None:
        if running.get(event.name):
            progress.remove_task(running[event.name].pop(0))
            progress.refresh()  # else the line printed next is followed by the stale spinner of this task
        console.print(task_line(event), highlight=False)

    watcher = KfpTaskWatcher(on_task, on_start)
    with progress:
        capture.watch(watcher)
        try:
            yield watcher
        finally:
            capture.watch(None)
            capture.reset_logging()


def verdict(record: dict[str, Any], prediction: dict[str, Any], checker: DiagnosisChecker) -> bool:
    """Right or wrong: diagnosis questions by their KG-linked diagnosis, the others by the reference answer."""
    right = checker.verdict(record, str(prediction.get("answer") or ""))
    if right is not None:
        return right
    return answer_matches(prediction.get("text", ""), record.get("answer", ""))


def ask_and_compare(
    console: Console,
    url: str,
    model_name: str,
    samples_dir: Path,
    records: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[bool]]:
    """POST each record's views and question; print the served answer beside the reference label.

    Returns the predictions and, for each, whether it was right."""
    checker = DiagnosisChecker.for_samples(samples_dir)
    predictions, verdicts = [], []
    for record in records:
        images = [samples_dir / image for image in record["images"]]
        start = time.perf_counter()
        prediction = ask(url, model_name, images, record["question"])
        latency_ms = (time.perf_counter() - start) * 1000
        right = verdict(record, prediction, checker)
        predictions.append(prediction)
        verdicts.append(right)
        served = one_line(prediction.get("answer")) or "(no <answer> tag)"
        console.print(
            f"{'[green]✓[/]' if right else '[red]✗[/]'} [bold]{escape(record['question_type']):<9}[/] "
            f"{record['slide_id']} ({latency_ms:.0f} ms)\n"
            f"    served:    {escape(served)}\n"
            f"    reference: {escape(one_line(record.get('answer')))}"
            + ("" if prediction.get("well_formed") else "  [yellow](response not well-formed)[/]"),
            highlight=False,
        )
        logger.info("served %s: %s", record["id"], json.dumps(prediction))
    return predictions, verdicts


def evaluation_line(eval_dir: Path | None) -> str:
    """The evaluate task's diagnosis accuracy against chance, as one line ('' when it was not measured)."""
    found = sorted(Path(eval_dir).rglob("metrics.json")) if eval_dir and Path(eval_dir).is_dir() else []
    if not found:
        return ""
    metrics_path = found[0]
    m = json.loads(metrics_path.read_text())
    if "diagnosis_accuracy" not in m:
        return ""
    ci_path = metrics_path.with_name("metrics_ci.json")
    low_high = json.loads(ci_path.read_text()).get("diagnosis_accuracy") if ci_path.exists() else None
    ci = f", 95 % CI {low_high[0]:.2f}-{low_high[1]:.2f}" if low_high else ""
    return (
        f"evaluated diagnosis accuracy on {int(m['diagnosis_items'])} held-out patients: "
        f"{m['diagnosis_accuracy']:.2f}{ci} (chance {m['diagnosis_chance']:.2f} = 1/{round(1 / m['diagnosis_chance'])} "
        f"diagnoses; majority class {m['diagnosis_majority']:.2f}); format compliance "
        f"{m.get('format_compliance', float('nan')):.2f}"
    )


def run_demo(cfg: Config, config_path: Path | None = None, overrides: list[str] | None = None) -> dict:
    """Run the platform end to end on the embedded default; returns the first served prediction."""
    start = time.perf_counter()
    console = Console(file=sys.stderr)  # bound now, so it stays on the terminal while output is captured
    console.soft_wrap = not console.is_terminal  # a log file gets whole lines, not 80-column wraps
    demo_dir = stages.default_dir(cfg, "demo")
    log_path = demo_dir / "demo.log"
    log_path.unlink(missing_ok=True)
    try:
        with capture_output(log_path, cfg.project.log_level) as capture:
            prediction = _run(cfg, console, capture, demo_dir, start)
    finally:
        console.print(
            f"full log: {log_path}  (server: {cfg.work_dir / 'logs' / 'serve.log'})", highlight=False
        )
    return prediction


def _run(cfg: Config, console: Console, capture: Capture, demo_dir: Path, start: float) -> dict:
    console.rule("[bold]1/4 demo data")
    console.print(stages.demo_data(cfg, demo_dir).line(), highlight=False)
    console.rule("[bold]2/4 Kubeflow pipeline (kfp.local SubprocessRunner)")
    with pipeline_display(console, capture):
        run = run_local(cfg, demo_dir / "slides", demo_dir / "reports.jsonl")
    console.print(run.line(), highlight=False)
    if not run.champion:
        raise ServingError(
            "the gate did not promote a champion, so there is nothing to serve; see the register task's "
            "gate reasons in MLflow (`make mlflow-ui`) or lower registry.gate"
        )
    console.rule("[bold]3/4 KServe ModelServer on 127.0.0.1")
    port = free_port(cfg.serving.host)
    server = start_server(cfg, port, cfg.work_dir / "logs" / "serve.log")
    url = f"http://{cfg.serving.host}:{port}"
    try:
        waited = wait_until_ready(url, cfg.serving.model_name, timeout_s=180, proc=server)
        console.print(
            f"models:/{cfg.registry.model_name}@champion (v{run.champion}) ready at {url} after {waited:.1f} s",
            highlight=False,
        )
        samples_dir = run.task_dirs.get("build-samples", Path()) / "samples"
        records = pick_samples(samples_dir)
        console.rule(f"[bold]4/4 {len(records)} real HTTP requests: served answer vs reference")
        console.print(f"POST {url}/v1/models/{cfg.serving.model_name}:predict", highlight=False)
        predictions, verdicts = ask_and_compare(console, url, cfg.serving.model_name, samples_dir, records)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    console.print(
        Panel(format_answer(predictions[0]), title=f"first served answer in full ({records[0]['id']})"),
        soft_wrap=False,  # wrapped inside the panel, never cropped
    )
    console.print(
        f"{sum(verdicts)}/{len(verdicts)} served answers right (champion v{run.champion}: base model "
        f"'{cfg.model.base}', {cfg.sft.max_steps} SFT + {cfg.grpo.max_steps} GRPO steps on the synthetic cohort)",
        highlight=False,
    )
    line = evaluation_line(run.task_dirs.get("evaluate"))
    if line:
        console.print(line, highlight=False)
    console.print(f"[bold green]✓[/] demo finished in {time.perf_counter() - start:.0f} s; server stopped")
    return predictions[0]
