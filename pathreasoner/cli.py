"""`pathreasoner <stage> ...`: thin typer adapters over `pathreasoner.stages`."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pathreasoner import stages
from pathreasoner.cli_benchmark import BenchmarkSlidesOpt, benchmark_app
from pathreasoner.cli_model import model_app
from pathreasoner.config import Config, load_config
from pathreasoner.errors import PathReasonerError
from pathreasoner.logging_setup import configure_logging
from pathreasoner.portable import is_uri

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
pipeline_app = typer.Typer(no_args_is_help=True, help="Compile or run the Kubeflow pipeline of all stages.")
kg_app = typer.Typer(no_args_is_help=True, help="Inspect a built knowledge graph.")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(kg_app, name="kg")
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(model_app, name="model")
console = Console(stderr=True)
logger = logging.getLogger("pathreasoner.cli")
T = TypeVar("T")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="params.yaml to load")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override a key: section.key=value (repeatable)")
]
OutOpt = Annotated[Path | None, typer.Option(help="output folder (default <work_dir>/<stage>)")]
# inputs that may be URIs are taken as str: typer's Path would turn s3://b/k into s3:/b/k
SamplesOpt = Annotated[str | None, typer.Option(help="build-samples output (default <work_dir>/samples)")]
CheckpointOpt = Annotated[
    str | None,
    typer.Option(help="training output, checkpoint, or models:/<name>@<alias> (default <work_dir>/grpo)"),
]
DEFAULT_CONFIG = Path("params.yaml")


def _config(config: Path, overrides: list[str] | None) -> Config:
    """Load params.yaml (+ overrides); without one, the defaults. Errors exit 2 with the message."""
    path = config if config.exists() or config != DEFAULT_CONFIG else None
    cfg = _run(lambda: load_config(path, overrides or []))
    configure_logging(cfg.project.log_level)
    return cfg


def _dir(cfg: Config, given: Path | str | None, stage: str, option: str = "--out") -> Path:
    """The local folder given on the command line, else the stage's default under the work dir.

    A URI where this stage reads only local folders is one red line naming the option and the fix."""
    if given is None:
        return stages.default_dir(cfg, stage)
    if is_uri(str(given)):
        how = f" (aws s3 cp --recursive {given} <folder>)" if str(given).startswith("s3://") else ""
        _fail(
            f"{option} {given} is a URI, but this command reads a local folder; download it first{how} "
            "and pass the folder"
        )
    return Path(given)


def _checkpoint(cfg: Config, given: str | None, stage: str, option: str) -> Path:
    """A local checkpoint: the folder given, a models:/ URI downloaded from the registry, else the default."""
    if given is not None and given.startswith("models:/"):
        from pathreasoner.registry.mlflow_registry import resolve_checkpoint

        return _run(lambda: resolve_checkpoint(given, cfg))
    return _dir(cfg, given, stage, option)


def _uri_or_path(given: str) -> str | Path:
    """A URI stays the string it was; anything else is a local path."""
    return given if is_uri(given) else Path(given)


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def _run(step: Callable[[], T]) -> T:
    """Run a stage; a PathReasonerError becomes one red line and exit status 2."""
    try:
        return step()
    except PathReasonerError as exc:
        _fail(str(exc))


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
    slides: Annotated[
        list[str], typer.Argument(help="slide files, folders, or s3://bucket/key or s3://bucket/prefix/ URIs")
    ],
    out: OutOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Tissue-detect and tile slides at tiling.target_mpp; write shards, index, views, QC.

    The exit status is the number of quarantined slides (capped at 100); 0 when all were tiled. A run
    where every slide failed ends in a red line, one where some failed in a yellow summary.
    """
    cfg = _config(config, set_)
    paths = _run(lambda: stages.find_slides(slides))
    if not paths:
        _fail(str(stages.no_slides_error(slides)))
    with _progress(len(paths), "slides") as advance:
        summary = _run(lambda: stages.tile_slides(cfg, paths, _dir(cfg, out, "tiles"), advance))
    if not summary.exit_code:
        _report(summary)
        return
    mark = "[bold red]✗[/] no slide was tiled:" if not summary.slides else "[bold yellow]![/]"
    console.print(f"{mark} {summary.line()}")
    for item in summary.quarantine:
        console.print(f"  [yellow]skipped[/] {item['slide']}: {item['error_type']}: {item['message']}")
    console.print(f"[bold yellow]![/] {summary.n_quarantined} slide(s) quarantined (listed in summary.json)")
    raise typer.Exit(summary.exit_code)


@app.command("inspect-slide")
def inspect_slide_cmd(
    slide: Annotated[str, typer.Argument(help="slide file or s3://bucket/key URI")],
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Print vendor, levels, MPP (and where it came from) and tissue fraction of one slide."""
    from pathreasoner.wsi.inspect import inspect_slide
    from pathreasoner.wsi.s3_cache import S3SlideCache, default_cache_dir, is_s3_uri

    cfg = _config(config, set_)
    if is_s3_uri(slide):
        cache = S3SlideCache(default_cache_dir(), cfg.tiling.s3_cache_max_bytes)
        path = _run(lambda: cache.fetch(slide))
    else:
        path = Path(slide)
    typer.echo(json.dumps(_run(lambda: inspect_slide(path, cfg.tiling)), indent=2, default=str))


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
        str | None,
        typer.Option(
            help="reports JSONL/CSV/folder, or an s3://bucket/key object or s3://bucket/prefix/ "
            "(default <work_dir>/demo/reports.jsonl)"
        ),
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
                _uri_or_path(reports) if reports else stages.default_dir(cfg, "demo") / "reports.jsonl",
                _dir(cfg, tiles, "tiles"),
                _dir(cfg, kg, "kg"),
                _dir(cfg, out, "samples"),
                advance,
            )
        )
    _report(summary)


TrainConfigOpt = Annotated[
    str, typer.Option("--config", "-c", help="params.yaml to load: a path, or an s3:// URI (a TrainJob's)")
]
TrainSamplesOpt = Annotated[
    str | None,
    typer.Option(help="build-samples output: a folder or s3:// prefix (default <work_dir>/samples)"),
]
TrainOutOpt = Annotated[
    str | None, typer.Option(help="output: a folder or s3:// prefix (default <work_dir>/<stage>)")
]


def _train_config(config: str, overrides: list[str] | None) -> Config:
    """The training commands' config (also from S3, as a TrainJob gets it); ranks other than 0 log
    warnings only, so a torchrun job tells its story once."""
    from pathreasoner.train.launch import rank

    if config.startswith("s3://"):
        from pathreasoner.train.launch.storage import read_text

        text = _run(lambda: read_text(config))
        with tempfile.TemporaryDirectory(prefix="pathreasoner-config-") as tmp:
            (Path(tmp) / "params.yaml").write_text(text)
            cfg = _config(Path(tmp) / "params.yaml", overrides)
    else:
        cfg = _config(Path(config), overrides)
    if rank() != 0:
        logging.getLogger().setLevel(logging.WARNING)
    return cfg


def _train(cfg: Config, stage: str, samples: str | None, out: str | None, init: str | None = None) -> None:
    """Run `stage` through the configured launcher (launcher.kind); rank 0 prints the summary line."""
    from pathreasoner.train.launch import TrainArgs, close_process_group, launcher_for, rank

    default = {"train-sft": "sft", "train-grpo": "grpo"}[stage]
    args = TrainArgs(
        samples=samples or str(stages.default_dir(cfg, "samples")),
        out=out or str(stages.default_dir(cfg, default)),
        init=(init or str(stages.default_dir(cfg, "sft"))) if stage == "train-grpo" else None,
    )
    result = _run(lambda: launcher_for(cfg).launch(stage, args))
    if rank() == 0:
        _report(result)
    close_process_group()


@app.command("train-sft")
def train_sft_cmd(
    samples: TrainSamplesOpt = None,
    out: TrainOutOpt = None,
    config: TrainConfigOpt = str(DEFAULT_CONFIG),
    set_: SetOpt = None,
) -> None:
    """Supervised fine-tuning of the VLM (loss on the assistant response only).

    Runs where launcher.kind says (this process, torchrun here, or a Kubeflow TrainJob) and is itself
    the distributed entry point: torchrun --nproc_per_node=N -m pathreasoner.cli train-sft ...
    """
    _train(_train_config(config, set_), "train-sft", samples, out)


@app.command("train-grpo")
def train_grpo_cmd(
    samples: TrainSamplesOpt = None,
    init: Annotated[
        str | None,
        typer.Option(
            help="SFT output or checkpoint (folder or s3://), or models:/<name>@<alias> (default <work_dir>/sft)"
        ),
    ] = None,
    out: TrainOutOpt = None,
    config: TrainConfigOpt = str(DEFAULT_CONFIG),
    set_: SetOpt = None,
) -> None:
    """GRPO from the SFT checkpoint with the knowledge-aware reward (same launchers as train-sft)."""
    _train(_train_config(config, set_), "train-grpo", samples, out, init)


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: CheckpointOpt = None,
    samples: SamplesOpt = None,
    out: OutOpt = None,
    benchmark: Annotated[
        str | None,
        typer.Option(help="evaluate on a public benchmark instead: multipathqa | wsi-vqa | slidebench"),
    ] = None,
    file: Annotated[Path | None, typer.Option(help="with --benchmark: the benchmark file")] = None,
    slides: BenchmarkSlidesOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Generate on the eval split; write metrics.json, predictions.jsonl and report.md.

    With --benchmark/--file/--slides: tile the benchmark's slides, write its items as a samples dir under
    <work_dir>/benchmarks/<name>/ (entity lexicon from --samples when it has one) and evaluate on it."""
    cfg = _config(config, set_)
    if benchmark or file or slides:
        _evaluate_benchmark(cfg, checkpoint, samples, out, benchmark, file, slides)
        return
    _report(
        _run(
            lambda: stages.evaluate(
                cfg,
                _checkpoint(cfg, checkpoint, "grpo", "--checkpoint"),
                _dir(cfg, samples, "samples", "--samples"),
                _dir(cfg, out, "eval"),
            )
        )
    )


def _evaluate_benchmark(
    cfg: Config,
    checkpoint: str | None,
    samples: str | None,
    out: Path | None,
    benchmark: str | None,
    file: Path | None,
    slides: str | None,
) -> None:
    from pathreasoner.benchmarks.run import evaluate_benchmark

    if not benchmark or not file:
        _fail("--benchmark NAME and --file FILE go together (and --slides DIR|URI for the slides)")
    lexicon_from = _dir(cfg, samples, "samples", "--samples")
    with _progress(None, "benchmark slides") as advance:
        result = _run(
            lambda: evaluate_benchmark(
                cfg,
                benchmark,
                file,
                slides,
                _checkpoint(cfg, checkpoint, "grpo", "--checkpoint"),
                _dir(cfg, out, "eval") if out else None,
                lexicon_from,
                advance,
            )
        )
    _report(result)


@app.command("register")
def register_cmd(
    checkpoint: CheckpointOpt = None,
    eval_dir: Annotated[str | None, typer.Option("--eval", help="evaluate output")] = None,
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
            _dir(cfg, checkpoint, "grpo", "--checkpoint"),
            _dir(cfg, eval_dir, "eval", "--eval"),
            _dir(cfg, samples, "samples", "--samples"),
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
    force: Annotated[bool, typer.Option(help="promote although the gate refuses (needs --reason)")] = False,
    reason: Annotated[str | None, typer.Option(help="why (audit log; required with --force)")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Move alias 'champion' to a version if the registry.gate passes (see also `pathreasoner model`)."""
    from pathreasoner.registry.mlflow_registry import promote

    cfg = _config(config, set_)
    decision = _run(lambda: promote(cfg, version, force=force, reason=reason))
    if decision.promoted:
        _report(decision)
    else:
        console.print(f"[bold yellow]![/] {decision.line()}")


@app.command("rollback")
def rollback_cmd(
    reason: Annotated[str | None, typer.Option(help="why (kept in the audit log)")] = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="then re-point serving (deploy --apply)")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Move alias 'champion' back to the previous champion (with --deploy, serving follows)."""
    from pathreasoner.registry.mlflow_registry import rollback

    cfg = _config(config, set_)
    restored = _run(lambda: rollback(cfg, reason))
    console.print(f"[bold green]✓[/] champion -> version {restored}")
    if deploy:
        from pathreasoner.serve.deploy import deploy as run_deploy

        result = _run(lambda: run_deploy(cfg, "champion", version=restored, apply=True))
        console.print(f"[bold green]✓[/] {result.line()}")


@app.command("deploy")
def deploy_cmd(
    alias: Annotated[str, typer.Option(help="registry alias to deploy")] = "champion",
    version: Annotated[str | None, typer.Option(help="deploy this version instead of the alias")] = None,
    canary: Annotated[int | None, typer.Option(help="send this % of traffic to it (0..100)")] = None,
    runtime: Annotated[str, typer.Option(help="predictor (our image) or vllm (HF runtime)")] = "predictor",
    apply: Annotated[bool, typer.Option("--apply", help="create or replace it in the cluster")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the YAML only (the default)")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Render the InferenceService of a registered version (its s3:// checkpoint) and apply it with --apply.

    After `rollback`, `deploy --apply` re-points serving to the restored champion (docs/serving.md "Deploy").
    """
    from pathreasoner.serve.deploy import deploy
    from pathreasoner.serve.manifest import to_yaml

    if apply and dry_run:
        _fail("--apply and --dry-run exclude each other; pass one")
    cfg = _config(config, set_)
    label = None if version else alias  # an explicit version carries no alias label
    result = _run(lambda: deploy(cfg, label, version=version, runtime=runtime, canary=canary, apply=apply))
    if not apply:
        typer.echo("---\n".join(to_yaml(doc) for doc in result.objects), nl=False)
    console.print(f"[bold green]✓[/] {result.line()}")


@app.command("serve")
def serve_cmd(
    model_uri: Annotated[
        str | None, typer.Option(help="models:/name@alias, a checkpoint dir, or (with --container) s3://")
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default serving.port)")] = None,
    container: Annotated[
        bool, typer.Option(help="run the serving image like a KServe pod (storage initializer + predictor)")
    ] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Serve the champion with kserve.ModelServer on serving.host (127.0.0.1 by default).

    With --container it runs the serving image the way a KServe pod does: a storage-initializer container
    copies the version's checkpoint from S3 (its storage_uri) into /mnt/models, then the predictor container
    serves it on 127.0.0.1 until Ctrl-C.
    """
    overrides = list(set_ or []) + ([f"serving.port={port}"] if port else [])
    cfg = _config(config, overrides)
    if container:
        _run(lambda: _serve_container(cfg, model_uri or cfg.serving.model_uri))
        return
    from pathreasoner.serve.server import serve

    _run(lambda: serve(cfg, model_uri=model_uri))


def _serve_container(cfg: Config, model_uri: str) -> None:
    from pathreasoner.containers import serve_in_containers
    from pathreasoner.pipeline_runner import step_environment
    from pathreasoner.registry.mlflow_registry import storage_uri

    if model_uri.startswith("s3://"):
        uri = model_uri
    elif model_uri.startswith("models:/"):
        uri = storage_uri(model_uri, cfg)  # the version's checkpoint prefix on S3
    else:
        _fail(
            f"--container serves from S3 like KServe: pass models:/<name>@<alias> or s3://..., not {model_uri}"
        )
    console.print(f"storage initializer: {uri} -> /mnt/models")
    predictor = serve_in_containers(
        cfg.pipeline.images.serving,
        uri,
        cfg.serving.port,
        env=step_environment(),
        work_dir=cfg.work_dir / "serve",
    )
    console.print(
        f"[bold green]✓[/] {cfg.pipeline.images.serving} ready at {predictor.url} (Ctrl-C stops it)"
    )
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops the containers too, like Ctrl-C
    try:
        predictor.container.wait()
    except KeyboardInterrupt:
        pass
    finally:
        predictor.stop()


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
    out: Annotated[
        Path | None, typer.Option(help="IR YAML to write (default <work_dir>/pathreasoner_pipeline.yaml)")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline of all stages to KFP IR YAML (portable config, Kubernetes settings)."""
    from pathreasoner.pipeline_runner import compile_pipeline

    cfg = _config(config, set_)
    target = out or cfg.work_dir / "pathreasoner_pipeline.yaml"
    path = _run(lambda: compile_pipeline(cfg, target))
    console.print(f"[bold green]✓[/] compiled pipeline -> {path}")


SlidesArg = Annotated[str, typer.Option(help="slides: s3://bucket/prefix/ (or a slide object URI)")]
ReportsArg = Annotated[str, typer.Option(help="reports: s3://bucket/reports.jsonl or s3://bucket/prefix/")]
HostOpt = Annotated[
    str,
    typer.Option(envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint, e.g. https://<kubeflow>/pipeline"),
]
NamespaceOpt = Annotated[
    str | None, typer.Option(help="Kubernetes namespace of a multi-user KFP (your profile)")
]
ExperimentOpt = Annotated[str, typer.Option(help="KFP experiment (created if missing)")]
ServiceAccountOpt = Annotated[
    str | None, typer.Option(help="service account of the pipeline pods (default pipeline.service_account)")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="KFP_TOKEN",
        show_default=False,
        help="bearer token for the KFP API (default: $KFP_TOKEN, else the pod's KFP service-account token)",
    ),
]
UiHostOpt = Annotated[str | None, typer.Option(help="KFP UI base URL for the printed link (default --host)")]
PackageOpt = Annotated[
    Path | None, typer.Option(help="an already compiled pipeline YAML (default: compile now)")
]


def _target(
    host: str,
    namespace: str | None,
    experiment: str,
    service_account: str | None,
    token: str | None,
    ui_host: str | None,
) -> Any:
    from pathreasoner.kfp_client import KfpTarget

    return KfpTarget(host, namespace, experiment, service_account, token, ui_host)


def _cluster_inputs(slides: str, reports: str) -> None:
    """Pods on the cluster cannot see this machine's files: slides and reports must be URIs."""
    for value, option in ((slides, "--slides"), (reports, "--reports")):
        if not is_uri(value):
            _fail(
                f"{option} {value} is a path on this machine, which the cluster cannot see; upload it "
                f"(aws s3 cp --recursive {value} s3://<bucket>/<prefix>/) and pass the s3:// URI"
            )


@pipeline_app.command("submit")
def pipeline_submit_cmd(
    slides: SlidesArg,
    reports: ReportsArg,
    host: HostOpt,
    namespace: NamespaceOpt = None,
    experiment: ExperimentOpt = "pathreasoner",
    run_name: Annotated[
        str | None, typer.Option(help="run name (default pathreasoner-run-<UTC time>)")
    ] = None,
    service_account: ServiceAccountOpt = None,
    token: TokenOpt = None,
    ui_host: UiHostOpt = None,
    package: PackageOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline and start one run on a Kubeflow Pipelines host; prints the run id and link."""
    from pathreasoner.kfp_client import submit

    cfg = _config(config, set_)
    _cluster_inputs(slides, reports)
    target = _target(host, namespace, experiment, service_account, token, ui_host)
    done = _run(lambda: submit(cfg, slides, reports, target, run_name=run_name, package=package))
    console.print(f"[bold green]✓[/] {done.line()}")
    typer.echo(done.id)


@pipeline_app.command("schedule")
def pipeline_schedule_cmd(
    slides: SlidesArg,
    reports: ReportsArg,
    host: HostOpt,
    cron: Annotated[
        str, typer.Option(help="KFP cron, 6 fields with seconds first: '0 0 2 * * *' = 02:00 daily")
    ],
    name: Annotated[
        str | None, typer.Option(help="recurring run name (default pathreasoner-schedule-<UTC time>)")
    ] = None,
    max_concurrency: Annotated[int, typer.Option(min=1, help="runs of this schedule at once")] = 1,
    catchup: Annotated[
        bool, typer.Option("--catchup/--no-catchup", help="backfill intervals missed while paused")
    ] = False,
    namespace: NamespaceOpt = None,
    experiment: ExperimentOpt = "pathreasoner",
    service_account: ServiceAccountOpt = None,
    token: TokenOpt = None,
    ui_host: UiHostOpt = None,
    package: PackageOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline and create a recurring run (cron) on a KFP host; prints its id and link."""
    from pathreasoner.kfp_client import schedule

    cfg = _config(config, set_)
    _cluster_inputs(slides, reports)
    target = _target(host, namespace, experiment, service_account, token, ui_host)
    done = _run(
        lambda: schedule(
            cfg,
            slides,
            reports,
            target,
            cron,
            name=name,
            max_concurrency=max_concurrency,
            catchup=catchup,
            package=package,
        )
    )
    console.print(f"[bold green]✓[/] {done.line()}")
    typer.echo(done.id)


@pipeline_app.command("run")
def pipeline_run_cmd(
    local: Annotated[
        bool,
        typer.Option("--local/--cluster", help="run here with kfp.local (--cluster: see `pipeline submit`)"),
    ] = True,
    containers: Annotated[
        bool, typer.Option(help="run every step in its image (kfp.local DockerRunner; needs docker)")
    ] = False,
    slides: Annotated[
        str | None, typer.Option(help="slides folder or s3:// URI (default: the demo cohort)")
    ] = None,
    reports: Annotated[
        str | None, typer.Option(help="reports file/folder or s3:// URI (default: the demo cohort)")
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Run every stage through Kubeflow Pipelines locally (this venv, or each step in its container)."""
    from pathreasoner.pipeline_runner import run_local

    if not local:
        _fail("`pipeline run --cluster` is now `pathreasoner pipeline submit --host <KFP API> ...`")
    cfg = _config(config, set_)
    demo = stages.default_dir(cfg, "demo")
    slides_in = _uri_or_path(slides) if slides else demo / "slides"
    reports_in = _uri_or_path(reports) if reports else demo / "reports.jsonl"
    from pathreasoner.demo import pipeline_display
    from pathreasoner.logging_setup import capture_output

    log_path = cfg.work_dir / "logs" / "pipeline-run.log"
    out = Console(file=sys.stderr)  # bound before the capture, so it stays on the terminal

    def run() -> Any:
        with capture_output(log_path, cfg.project.log_level) as capture, pipeline_display(out, capture):
            return run_local(cfg, slides_in, reports_in, containers=containers)

    try:
        result = _run(run)
    finally:
        out.print(f"full log (executor input, every task's output): {log_path}", highlight=False)
    console.print(f"[bold green]✓[/] {result.line()}")


@app.command("config")
def config_cmd(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None) -> None:
    """Print the resolved configuration (defaults <- params.yaml <- --set)."""
    cfg = _config(config, set_)
    typer.echo(cfg.to_yaml())
    typer.echo(f"# config_hash: {cfg.config_hash()}")


if __name__ == "__main__":  # pragma: no cover
    app()
