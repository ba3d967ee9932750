"""Compile the KFP pipeline, or run it locally with kfp.local: as subprocesses, or every step in its image.

`compile_pipeline` bakes the *portable* config into the IR (no path of this machine; see `portable.py`).
`run_local(..., containers=True)` runs each component in its role's image through `kfp.local.DockerRunner`,
exactly as pods would: inputs are URIs, endpoints and credentials come from the environment
(MLFLOW_TRACKING_URI, AWS_*), the work dir is inside the container. Submitting to a cluster lives in
`kfp_client.py`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import PathReasonerError
from pathreasoner.portable import ENDPOINT_KEYS, MLFLOW_KEYS, S3_KEYS

logger = logging.getLogger(__name__)

# what a step's container gets from this environment: the cluster contract (ConfigMap + Secrets) plus
# the other ways a local shell may carry the same credentials
STEP_ENV = (
    *ENDPOINT_KEYS,
    *S3_KEYS,
    *MLFLOW_KEYS,
    "MLFLOW_TRACKING_TOKEN",
    "AWS_REGION",
    "AWS_SESSION_TOKEN",
)


class PipelineError(PathReasonerError):
    """The pipeline could not be compiled, run, or submitted."""


def build_pipeline(cfg: Config, cluster: bool = True) -> Callable[..., Any]:
    """The pipeline function; a cluster pipeline carries the portable config."""
    from pathreasoner.portable import portable_config
    from pipelines.pathreasoner_pipeline import build_pipeline as build

    config_json = portable_config(cfg).to_json() if cluster else cfg.to_json()
    return build(cfg, config_json, cluster=cluster)


def compile_pipeline(cfg: Config, out: Path) -> Path:
    """Write the pipeline IR YAML (PipelineSpec + Kubernetes platform spec)."""
    from kfp import compiler

    out = Path(out)
    pipeline = build_pipeline(cfg, cluster=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(tmp))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("compiled pipeline -> %s", out)
    return out


@dataclass
class LocalRun:
    """Outcome of one kfp.local run."""

    run_dir: Path
    seconds: float
    task_dirs: dict[str, Path] = field(default_factory=dict)
    champion: str | None = None
    runner: str = "subprocess"

    def line(self) -> str:
        champ = f"champion=v{self.champion}" if self.champion else "no champion"
        return (
            f"pipeline ran {len(self.task_dirs)} tasks locally ({self.runner}) in {self.seconds:.1f} s ({champ}); "
            f"outputs in {self.run_dir}"
        )


def _champion_version(cfg: Config) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = cfg.tracking_uri  # the registry lives on the same store (not mlflow's process-wide registry URI)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        return client.get_model_version_by_alias(cfg.registry.model_name, "champion").version
    except MlflowException:
        return None


def _task_dirs(run_dir: Path) -> dict[str, Path]:
    """Task name -> output folder; ParallelFor iterations appear as `<task>[<i>]`."""
    tasks: dict[str, Path] = {}
    for path in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        match = re.fullmatch(r"for-loop-\d+-iteration-(\d+)", path.name)
        if match:
            tasks.update(
                {f"{child.name}[{match.group(1)}]": child for child in path.iterdir() if child.is_dir()}
            )
        else:
            tasks[path.name] = path
    return tasks


def step_environment() -> dict[str, str]:
    """The endpoint and credential variables of this process that a step container needs."""
    return {name: os.environ[name] for name in STEP_ENV if os.environ.get(name)}


def _docker_runner(cfg: Config) -> Any:
    """kfp.local.DockerRunner on the host network, with the step environment and the trainer image's digest."""
    from kfp import local

    from pathreasoner.containers import docker_client, image_id

    client = docker_client()
    env = step_environment()
    if "MLFLOW_TRACKING_URI" not in env and not cfg.registry.tracking_uri:
        raise PipelineError(
            "with --containers every step registers through an MLflow server: export MLFLOW_TRACKING_URI "
            "(e.g. http://127.0.0.1:5000) or set registry.tracking_uri to its http(s):// URL"
        )
    # a clear error when an image is missing; the trainer's id is the digest of the image the model came from
    ids = {
        role: image_id(client, getattr(cfg.pipeline.images, role), role) for role in ("pipeline", "trainer")
    }
    env["PATHREASONER_IMAGE_DIGEST"] = ids["trainer"]
    return local.DockerRunner(network_mode="host", environment=env)


def _check_inputs(slides: str | Path, reports: str | Path, containers: bool) -> None:
    from pathreasoner.portable import is_uri

    for item, what in ((slides, "slides"), (reports, "reports")):
        text = str(item)
        if is_uri(text):
            continue
        if containers:
            raise PipelineError(
                f"--{what} {text} is a path on this machine, which step containers cannot see; upload it "
                f"(e.g. `aws s3 cp --recursive {text} s3://<bucket>/<prefix>/`) and pass the s3:// URI"
            )
        if not Path(text).exists():
            raise PipelineError(
                f"{what} {text} does not exist; run `pathreasoner demo-data` or pass --{what} with an existing path"
            )


def run_local(
    cfg: Config,
    slides: str | Path,
    reports: str | Path,
    containers: bool = False,
    caching: bool | None = None,
) -> LocalRun:
    """Run the pipeline with kfp.local: SubprocessRunner (this venv) or DockerRunner (the role images).

    With containers the steps see the portable config; caching (on by default there, as on the cluster) reuses
    every cached task whose inputs, including the slides' content fingerprint and the config, are unchanged.
    """
    from kfp import local

    _check_inputs(slides, reports, containers)
    root = Path(cfg.pipeline.local_root)
    root.mkdir(parents=True, exist_ok=True)
    if containers:
        root.chmod(0o777)  # the images run as uid 1000 and write their outputs here
        runner = _docker_runner(cfg)
        from pathreasoner.portable import portable_config

        config_json = portable_config(cfg).to_json()
    else:
        runner = local.SubprocessRunner(use_venv=False)
        config_json = cfg.to_json()
    enable_caching = cfg.pipeline.caching and containers if caching is None else caching
    before = {p.name for p in root.iterdir()}
    local.init(runner=runner, pipeline_root=str(root), raise_on_error=True, enable_caching=enable_caching)
    from pipelines.pathreasoner_pipeline import build_pipeline as build

    slides_arg = str(slides) if containers or "://" in str(slides) else str(Path(slides).resolve())
    reports_arg = str(reports) if containers or "://" in str(reports) else str(Path(reports).resolve())
    start = time.perf_counter()
    try:
        build(cfg, config_json, cluster=False)(slides=slides_arg, reports=reports_arg)
    except RuntimeError as exc:
        raise PipelineError(f"local pipeline run failed: {exc}") from None
    seconds = time.perf_counter() - start
    new = sorted(
        (p for p in root.iterdir() if p.name not in before and p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    run_dir = new[-1] if new else root
    tasks = _task_dirs(run_dir) if new else {}
    result = LocalRun(
        run_dir, seconds, tasks, _champion_version(cfg), "containers" if containers else "subprocess"
    )
    logger.info(result.line())
    return result
