"""Compile the KFP pipeline, run it locally with kfp.local, or submit it to a KFP host."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import PathReasonerError

logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]


class PipelineError(PathReasonerError):
    """The pipeline could not be compiled, run, or submitted."""


def _pipeline_module() -> Any:
    """`pipelines/` and `components/` live at the repo root, beside the package."""
    if not (REPO_ROOT / "pipelines" / "pathreasoner_pipeline.py").exists():
        raise PipelineError(
            f"pipelines/ not found beside the package in {REPO_ROOT}; run from a checkout "
            "(pip install -e .) or the platform image"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module("pipelines.pathreasoner_pipeline")


def build_pipeline(cfg: Config, cluster: bool = True) -> Callable[..., Any]:
    return _pipeline_module().build_pipeline(cfg, cluster=cluster)


def compile_pipeline(cfg: Config, out: Path) -> Path:
    """Write the pipeline IR YAML (PipelineSpec + Kubernetes platform spec)."""
    from kfp import compiler

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    compiler.Compiler().compile(pipeline_func=build_pipeline(cfg, cluster=True), package_path=str(tmp))
    tmp.replace(out)
    logger.info("compiled pipeline -> %s", out)
    return out


@dataclass
class LocalRun:
    """Outcome of one kfp.local run."""

    run_dir: Path
    seconds: float
    task_dirs: dict[str, Path] = field(default_factory=dict)
    champion: str | None = None

    def line(self) -> str:
        champ = f"champion=v{self.champion}" if self.champion else "no champion"
        return f"pipeline ran {len(self.task_dirs)} tasks locally in {self.seconds:.1f} s ({champ}); outputs in {self.run_dir}"


def _champion_version(cfg: Config) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
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


def run_local(cfg: Config, slides: Path, reports: Path) -> LocalRun:
    """Run the same pipeline function with kfp.local.SubprocessRunner (no venv per task)."""
    from kfp import local

    for path, what in ((slides, "slides folder"), (reports, "reports file")):
        if not Path(path).exists():
            raise PipelineError(
                f"{what} {path} does not exist; run `pathreasoner demo-data` or pass --{what.split()[0]}"
            )
    root = Path(cfg.pipeline.pipeline_root)
    root.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in root.iterdir()}
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    start = time.perf_counter()
    try:
        build_pipeline(cfg, cluster=False)(
            slides=str(Path(slides).resolve()), reports=str(Path(reports).resolve())
        )
    except RuntimeError as exc:
        raise PipelineError(f"local pipeline run failed: {exc}") from None
    seconds = time.perf_counter() - start
    new = sorted(
        (p for p in root.iterdir() if p.name not in before and p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    run_dir = new[-1] if new else root
    tasks = _task_dirs(run_dir) if new else {}
    result = LocalRun(run_dir, seconds, tasks, _champion_version(cfg))
    logger.info(result.line())
    return result


def submit(cfg: Config, slides: str, reports: str, host: str, experiment: str = "pathreasoner") -> str:
    """Compile and submit to a KFP API host; returns the run id."""
    import tempfile

    import kfp

    with tempfile.TemporaryDirectory() as tmp:
        package = compile_pipeline(cfg, Path(tmp) / "pipeline.yaml")
        client = kfp.Client(host=host)
        run = client.create_run_from_pipeline_package(
            str(package),
            arguments={"slides": slides, "reports": reports, "config_json": cfg.to_json()},
            experiment_name=experiment,
            enable_caching=False,
        )
    return run.run_id
