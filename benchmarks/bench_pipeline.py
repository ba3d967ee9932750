"""B11: per-step orchestration overhead under kfp.local, as subprocesses and in containers.

anchor: default lightweight components (the runner pip-installs kfp at every step start);
ours:   the platform's components (`install_kfp_package=False`, kfp already in the image).
Both run the same chain of trivial steps in the same process, best of N.
Prints: `pipeline_overhead ours=<s/step> anchor=<s/step> ratio=<anchor/ours>`.

With `--containers` (a Docker engine and `make images` needed) it also prints
`pipeline_containers ours=<s/step> anchor=<s/step> ratio=`: the same chain through kfp.local.DockerRunner,
ours on the pipeline image, the anchor a default component on the plain Python base image (it installs
kfp at every step start), and, with `--full`, the whole containerized pipeline on the demo cohort against
moto S3 + an MLflow server, run twice with caching:
`pipeline_containers_cached first=<s> rerun=<s> ratio=<first/rerun>`.
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from kfp import dsl, local

STEPS = 4


def add(a: int, b: int) -> int:
    return a + b


def chain(component):
    @dsl.pipeline(name="overhead")
    def pipe(x: int = 1) -> int:
        t = component(a=x, b=1)
        for _ in range(STEPS - 1):
            t = component(a=t.output, b=1)
        return t.output

    return pipe


def seconds_per_step(component, root: str, runner=None) -> float:
    local.init(
        runner=runner or local.SubprocessRunner(use_venv=False), pipeline_root=root, raise_on_error=True
    )
    start = time.perf_counter()
    result = chain(component)()
    assert result.output == 1 + STEPS
    return (time.perf_counter() - start) / STEPS


ANCHOR_IMAGE = "localhost/pathreasoner-bench-anchor:py311"
ANCHOR_DOCKERFILE = """FROM localhost/debian-python:bookworm
COPY build-ca.crt /etc/ssl/certs/build-ca.crt
RUN python3 -m venv /opt/py
ENV PATH=/opt/py/bin:$PATH PIP_CERT=/etc/ssl/certs/build-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1
"""


def anchor_image() -> str:
    """A python:3.11-like image (Python with pip, no kfp) on the local base: what a default component runs on.

    The public anchor is `python:3.11`; no registry is reachable here, so the same thing is built locally
    (the build CA, copied by `make images`, lets pip reach the package index at every step start).
    """
    import docker

    client = docker.from_env()
    try:
        client.images.get(ANCHOR_IMAGE)
    except docker.errors.ImageNotFound:
        certs = Path(__file__).resolve().parents[1] / "docker" / "certs"
        (certs / "Dockerfile.bench-anchor").write_text(ANCHOR_DOCKERFILE)
        try:
            client.images.build(
                path=str(certs), dockerfile="Dockerfile.bench-anchor", tag=ANCHOR_IMAGE, network_mode="host"
            )
        finally:
            (certs / "Dockerfile.bench-anchor").unlink()
    return ANCHOR_IMAGE


def containers(repeats: int) -> None:
    """Per-step cost in containers: our image (kfp inside) vs a default component on a plain Python image."""
    import os

    from pathreasoner.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "params.yaml")
    anchor_c = dsl.component(base_image=os.environ.get("ANCHOR_IMAGE") or anchor_image())(add)
    ours_c = dsl.component(base_image=cfg.pipeline.images.pipeline, install_kfp_package=False)(add)
    runner = local.DockerRunner(network_mode="host", user="0")  # root: the anchor pip-installs into its venv
    anchor, ours = [], []
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o777)
        for _ in range(repeats):
            anchor.append(seconds_per_step(anchor_c, root, runner))
            ours.append(seconds_per_step(ours_c, root, runner))
    a, o = min(anchor), min(ours)
    print(f"pipeline_containers ours={o:.2f}s/step anchor={a:.2f}s/step ratio={a / o:.1f}x")


def full_rerun() -> None:
    """The whole pipeline in containers twice (caching on): the rerun reuses every content-keyed task."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pathreasoner.pipeline_runner import run_local
    from tests.e2e.test_containers import _cohort
    from tests.servers import mlflow_server, moto_s3

    with (
        tempfile.TemporaryDirectory() as tmp,
        moto_s3() as s3,
        mlflow_server(Path(tmp) / "mlflow", s3) as server,
    ):
        os.environ.update({**s3.env, "MLFLOW_TRACKING_URI": server.url})
        cfg, slides, reports = _cohort(Path(tmp), s3)
        first = run_local(cfg, slides, reports, containers=True)
        rerun = run_local(cfg, slides, reports, containers=True)
    print(
        f"pipeline_containers_cached first={first.seconds:.1f}s rerun={rerun.seconds:.1f}s "
        f"ratio={first.seconds / rerun.seconds:.1f}x tasks_first={len(first.task_dirs)} "
        f"tasks_rerun={len(rerun.task_dirs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--containers", action="store_true", help="also time steps in containers")
    parser.add_argument(
        "--full", action="store_true", help="with --containers: whole pipeline, first vs cached rerun"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    anchor_c = dsl.component(base_image="python:3.11")(add)
    ours_c = dsl.component(base_image="python:3.11", install_kfp_package=False)(add)
    anchor, ours = [], []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):  # interleaved
            anchor.append(seconds_per_step(anchor_c, root))
            ours.append(seconds_per_step(ours_c, root))
    a, o = min(anchor), min(ours)
    print(f"pipeline_overhead ours={o:.3f}s/step anchor={a:.3f}s/step ratio={a / o:.1f}x target>=4x")
    if args.containers:
        containers(args.repeats)
        if args.full:
            full_rerun()


if __name__ == "__main__":
    main()
