"""`pathreasoner <stage> ...`: thin typer adapters over `pathreasoner.stages`."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pathreasoner import stages
from pathreasoner.config import Config, load_config
from pathreasoner.errors import PathReasonerError
from pathreasoner.logging_setup import configure_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
pipeline_app = typer.Typer(no_args_is_help=True, help="Compile or run the Kubeflow pipeline of all stages.")
kg_app = typer.Typer(no_args_is_help=True, help="Inspect a built knowledge graph.")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(kg_app, name="kg")
console = Console(stderr=True)
logger = logging.getLogger("pathreasoner.cli")
T = TypeVar("T")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="params.yaml to load")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override a key: section.key=value (repeatable)")
]
OutOpt = Annotated[Path | None, typer.Option(help="output folder (default <work_dir>/<stage>)")]
SamplesOpt = Annotated[Path | None, typer.Option(help="build-samples output (default <work_dir>/samples)")]
CheckpointOpt = Annotated[
    Path | None, typer.Option(help="training output or checkpoint (default <work_dir>/grpo)")
]
DEFAULT_CONFIG = Path("params.yaml")


def _config(config: Path, overrides: list[str] | None) -> Config:
    """Load params.yaml (+ overrides); without one, the defaults. Errors exit 2 with the message."""
    path = config if config.exists() or config != DEFAULT_CONFIG else None
    cfg = _run(lambda: load_config(path, overrides or []))
    configure_logging(cfg.project.log_level)
    return cfg


def _dir(cfg: Config, given: Path | None, stage: str) -> Path:
    """The folder given on the command line, else the stage's default under the work dir."""
    return given or stages.default_dir(cfg, stage)


def _run(step: Callable[[], T]) -> T:
    """Run a stage; a PathReasonerError becomes one red line and exit status 2."""
    try:
        return step()
    except PathReasonerError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _report(summary: Any) -> None:
    """Print the stage's one-line summary and anything it quarantined."""
    line = summary.line() if hasattr(summary, "line") else str(summary)
    console.print(f"[bold green]✓[/] {line}")
    for item in getattr(summary, "quarantine", None) or []:
        console.print(f"  [yellow]skipped[/] {item}")


@contextmanager
def _progress(total: int | None, label: str, unit: str = "tiles") -> Iterator[Callable[..., None]]:
    """A progress bar; the callback takes (done, total), (item, n_units) — e.g. (slide id, tiles), shown
    as a running count and rate — or nothing (one more item)."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[units]}"),
        TimeElapsedColumn(),
    ]
    start = time.perf_counter()
    units = 0
    with Progress(*columns, console=console, transient=False, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(label, total=total, units="")

        def advance(*args: Any) -> None:
            nonlocal units
            if len(args) == 2 and all(isinstance(a, int) for a in args):  # (done, total)
                bar.update(task, completed=args[0], total=args[1])
            elif len(args) == 2 and isinstance(args[1], int):  # (item, units it produced), e.g. tiles
                units += args[1]
                rate = units / max(time.perf_counter() - start, 1e-9)
                bar.update(task, advance=1, units=f"{units:,} {unit} ({rate:,.0f}/s)")
            else:
                bar.advance(task)

        yield advance


@app.command("demo-data")
def demo_data_cmd(
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Write the synthetic demo cohort (slides + reports, marked synthetic)."""
    cfg = _config(config, set_)
    with _progress(cfg.demo_data.n_patients, "synthetic slides") as advance:
        _report(_run(lambda: stages.demo_data(cfg, out, progress=advance)))


@app.command("tile-slides")
def tile_slides_cmd(
    slides: Annotated[list[str], typer.Argument(help="slide files, folders, or s3://bucket/key[/] URIs")],
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Tissue-detect and tile slides at tiling.target_mpp; write shards, index, views, QC.

    The exit status is the number of quarantined slides (capped at 100); 0 when all were tiled.
    """
    cfg = _config(config, set_)
    paths = _run(lambda: stages.find_slides(slides))
    with _progress(len(paths), "slides") as advance:
        summary = _run(lambda: stages.tile_slides(cfg, paths, _dir(cfg, out, "tiles"), advance))
    _report(summary)
    if summary.exit_code:
        console.print(
            f"[bold yellow]![/] {summary.n_quarantined} slide(s) quarantined (listed in summary.json)"
        )
        raise typer.Exit(summary.exit_code)


@app.command("inspect-slide")
def inspect_slide_cmd(slide: Path, config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Print vendor, levels, MPP (and where it came from) and tissue fraction of one slide."""
    from pathreasoner.wsi.inspect import inspect_slide

    cfg = _config(config, set_)
    typer.echo(json.dumps(_run(lambda: inspect_slide(slide, cfg.tiling)), indent=2, default=str))


@app.command("build-kg")
def build_kg_cmd(
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Merge the curated pathology KG with the configured OBO/OncoTree sources."""
    cfg = _config(config, set_)
    _report(_run(lambda: stages.build_kg(cfg, _dir(cfg, out, "kg"))))


@kg_app.command("stats")
def kg_stats_cmd(
    kg_dir: Annotated[Path | None, typer.Argument()] = None, config: ConfigOpt = DEFAULT_CONFIG
) -> None:
    """Node counts by type and edge counts by relation of a built KG."""
    from pathreasoner.kg.build import kg_stats

    cfg = _config(config, None)
    typer.echo(json.dumps(_run(lambda: kg_stats(_dir(cfg, kg_dir, "kg"))), indent=2))


@app.command("build-samples")
def build_samples_cmd(
    reports: Annotated[
        Path | None, typer.Option(help="reports JSONL/CSV/folder (default <work_dir>/demo/reports.jsonl)")
    ] = None,
    tiles: Annotated[Path | None, typer.Option(help="tile-slides output folder")] = None,
    kg: Annotated[Path | None, typer.Option(help="build-kg output folder")] = None,
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Reports -> findings/diagnosis -> KG entities and paths -> <observe>/<think>/<answer> samples."""
    cfg = _config(config, set_)
    with _progress(None, "reports") as advance:
        summary = _run(
            lambda: stages.build_samples(
                cfg,
                reports or stages.default_dir(cfg, "demo") / "reports.jsonl",
                _dir(cfg, tiles, "tiles"),
                _dir(cfg, kg, "kg"),
                _dir(cfg, out, "samples"),
                advance,
            )
        )
    _report(summary)


@app.command("train-sft")
def train_sft_cmd(
    samples: SamplesOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Supervised fine-tuning of the VLM (loss on the assistant response only)."""
    cfg = _config(config, set_)
    samples = _dir(cfg, samples, "samples")
    _report(_run(lambda: stages.train_sft(cfg, samples, _dir(cfg, out, "sft"))))


@app.command("train-grpo")
def train_grpo_cmd(
    samples: SamplesOpt = None,
    init: Annotated[Path | None, typer.Option(help="SFT output or checkpoint")] = None,
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """GRPO from the SFT checkpoint with the format + semantic + KG-entity reward."""
    cfg = _config(config, set_)
    samples = _dir(cfg, samples, "samples")
    init = stages.checkpoint_dir(_dir(cfg, init, "sft"))
    _report(_run(lambda: stages.train_grpo(cfg, samples, init, _dir(cfg, out, "grpo"))))


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: CheckpointOpt = None,
    samples: SamplesOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Generate on the eval split; write metrics.json, predictions.jsonl and report.md."""
    cfg = _config(config, set_)
    _report(
        _run(
            lambda: stages.evaluate(
                cfg,
                _dir(cfg, checkpoint, "grpo"),
                _dir(cfg, samples, "samples"),
                _dir(cfg, out, "eval"),
            )
        )
    )


@app.command("register")
def register_cmd(
    checkpoint: CheckpointOpt = None,
    eval_dir: Annotated[Path | None, typer.Option("--eval", help="evaluate output")] = None,
    samples: SamplesOpt = None,
    record: Annotated[Path | None, typer.Option(help="write the registered version here as JSON")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Log the run to MLflow and register the checkpoint (alias 'candidate')."""
    cfg = _config(config, set_)
    version = _run(
        lambda: stages.register(
            cfg,
            _dir(cfg, checkpoint, "grpo"),
            _dir(cfg, eval_dir, "eval"),
            _dir(cfg, samples, "samples"),
        )
    )
    _report(version)
    if record:
        from pathreasoner.io_utils import atomic_write_json

        atomic_write_json(
            record, version.to_dict() if hasattr(version, "to_dict") else {"version": str(version)}
        )


@app.command("promote")
def promote_cmd(
    version: Annotated[str | None, typer.Option(help="model version (default: alias 'candidate')")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Move alias 'champion' to a version if the metric gate passes and it is no worse than the champion."""
    cfg = _config(config, set_)
    decision = _run(lambda: stages.promote(cfg, version))
    if decision.promoted:
        _report(decision)
    else:
        console.print(f"[bold yellow]![/] {decision.line()}")


@app.command("rollback")
def rollback_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Move alias 'champion' back to the previous champion."""
    from pathreasoner.registry.mlflow_registry import rollback

    cfg = _config(config, set_)
    restored = _run(lambda: rollback(cfg))
    console.print(f"[bold green]✓[/] champion -> version {restored}")


@app.command("serve")
def serve_cmd(
    model_uri: Annotated[str | None, typer.Option(help="models:/name@alias or a checkpoint dir")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default serving.port)")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Serve the champion with kserve.ModelServer on serving.host (127.0.0.1 by default)."""
    from pathreasoner.serve.server import serve

    overrides = list(set_ or []) + ([f"serving.port={port}"] if port else [])
    cfg = _config(config, overrides)
    _run(lambda: serve(cfg, model_uri=model_uri))


@app.command("ask")
def ask_cmd(
    image: Annotated[list[Path], typer.Option(help="image file(s) (JPEG/PNG): slide views, thumbnail first")],
    question: Annotated[str, typer.Option(help="the question to ask")],
    url: Annotated[
        str | None, typer.Option(help="server base URL (default http://serving.host:serving.port)")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Send one request to a running server and print the parsed answer."""
    from pathreasoner.client import ask, format_answer

    cfg = _config(config, set_)
    answer = _run(
        lambda: ask(
            url or f"http://{cfg.serving.host}:{cfg.serving.port}", cfg.serving.model_name, image, question
        )
    )
    typer.echo(format_answer(answer))


@app.command("demo")
def demo_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """The whole job on the embedded default: demo data, the KFP pipeline locally, serve, one request."""
    from pathreasoner.demo import run_demo

    cfg = _config(config, set_)
    _run(lambda: run_demo(cfg, config_path=config if config.exists() else None, overrides=set_ or []))


@pipeline_app.command("compile")
def pipeline_compile_cmd(
    out: Annotated[Path, typer.Option(help="IR YAML to write")] = Path("pathreasoner_pipeline.yaml"),
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline of all stages to KFP IR YAML (with Kubernetes GPU settings)."""
    from pathreasoner.pipeline_runner import compile_pipeline

    cfg = _config(config, set_)
    path = _run(lambda: compile_pipeline(cfg, out))
    console.print(f"[bold green]✓[/] compiled pipeline -> {path}")


@pipeline_app.command("run")
def pipeline_run_cmd(
    local: Annotated[
        bool, typer.Option("--local/--cluster", help="kfp.local SubprocessRunner or a KFP host")
    ] = True,
    slides: Annotated[Path | None, typer.Option(help="slides folder (default: the demo cohort)")] = None,
    reports: Annotated[Path | None, typer.Option(help="reports file (default: the demo cohort)")] = None,
    host: Annotated[str | None, typer.Option(help="KFP API host for --cluster")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Run every stage through Kubeflow Pipelines (locally by default)."""
    from pathreasoner.pipeline_runner import run_local, submit

    cfg = _config(config, set_)
    demo = stages.default_dir(cfg, "demo")
    slides = slides or demo / "slides"
    reports = reports or demo / "reports.jsonl"
    if local:
        result = _run(lambda: run_local(cfg, slides, reports))
        console.print(f"[bold green]✓[/] {result.line()}")
    else:
        if not host:
            console.print("[bold red]error:[/] --cluster needs --host (the KFP API endpoint)")
            raise typer.Exit(2)
        run_id = _run(lambda: submit(cfg, str(slides), str(reports), host))
        console.print(f"[bold green]✓[/] submitted run {run_id}")


@app.command("config")
def config_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Print the resolved configuration (defaults <- params.yaml <- --set)."""
    cfg = _config(config, set_)
    typer.echo(cfg.to_yaml())
    typer.echo(f"# config_hash: {cfg.config_hash()}")


if __name__ == "__main__":  # pragma: no cover
    app()
