"""The configuration a compiled pipeline carries: nothing of the machine that compiled it.

Every step of a pipeline runs in a container on some node, so the config baked into the compiled YAML
may hold only URIs (``s3://``, ``models:/``, ``http(s)://``), built-in names (``sft.deepspeed: zero2``) and
paths inside the image. ``portable_config`` rewrites what has an in-image meaning (``project.work_dir`` ->
``pipeline.container_work_dir``, packaged DeepSpeed configs -> their names) and refuses the rest with an
error that names each key and the fix. Endpoints and credentials never travel in the config: the pods get
them as environment variables (``MLFLOW_TRACKING_URI``, ``AWS_*``) from a ConfigMap and Secrets.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pathreasoner.config import Config, builtin_deepspeed
from pathreasoner.errors import ConfigError

# What every step reads from its environment (cluster: the ConfigMap and the two Secrets)
ENDPOINT_KEYS = ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION")
S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
MLFLOW_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def is_uri(value: str) -> bool:
    return "://" in value or value.startswith(("models:/", "runs:/", "mlflow-artifacts:/"))


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every string in a nested mapping/list."""
    if isinstance(node, dict):
        for name, child in node.items():
            yield from _strings(child, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _strings(child, f"{key}[{index}]")
    elif isinstance(node, str):
        yield key, node


def host_roots() -> list[Path]:
    """Folders whose paths only mean something on this machine: the checkout, the cwd, the home folder."""
    return [Path(__file__).resolve().parents[1], Path.cwd().resolve(), Path.home().resolve()]


def _is_host_path(value: str, container_dir: str) -> bool:
    if is_uri(value) or not value.startswith("/"):
        return False
    if value == container_dir or value.startswith(container_dir.rstrip("/") + "/"):
        return False
    path = Path(value)
    return path.exists() or any(path.is_relative_to(root) for root in host_roots() if root != Path("/"))


def portable_config(cfg: Config) -> Config:
    """`cfg` as the pods see it; ConfigError names every key that still holds a path of this machine."""
    raw = cfg.to_dict()
    pipe = cfg.pipeline
    container_dir = pipe.container_work_dir
    if not container_dir.startswith("/"):
        raise ConfigError(
            f"pipeline.container_work_dir={container_dir!r} must be an absolute path inside the image, "
            "e.g. /tmp/pathreasoner"
        )
    raw["project"]["work_dir"] = container_dir
    raw["pipeline"]["local_root"] = posixpath.join(container_dir, "kfp")
    for section in ("sft", "grpo"):
        value = raw[section]["deepspeed"]
        if value and builtin_deepspeed(value):
            raw[section]["deepspeed"] = builtin_deepspeed(value)
    problems: list[str] = []
    tracking = raw["registry"]["tracking_uri"]
    if tracking and not tracking.startswith(("http://", "https://")):
        problems.append(
            f"registry.tracking_uri={tracking!r} is a store on this machine; leave it null so each step reads "
            "MLFLOW_TRACKING_URI from the pipeline's ConfigMap, or set the server's http(s):// URL"
        )
    if not is_uri(pipe.pipeline_root):
        problems.append(
            f"pipeline.pipeline_root={pipe.pipeline_root!r} is not object storage; set it to s3://<bucket>/<prefix>"
        )
    for key, value in _strings(raw):
        if key not in ("registry.tracking_uri", "pipeline.pipeline_root") and _is_host_path(
            value, container_dir
        ):
            problems.append(
                f"{key}={value!r} is a path on this machine; pods cannot see it: use an s3:// URI, a path inside "
                f"the image, or a built-in name"
            )
    if problems:
        raise ConfigError("the pipeline's config is not portable:\n  - " + "\n  - ".join(problems))
    return Config.model_validate(raw)  # no path resolution here: that happens inside each container


def check_env_names(cfg: Config) -> None:
    """The ConfigMap, Secrets and ServiceAccount that every step relies on must be named."""
    pipe = cfg.pipeline
    needed = {
        "env_config_map": "the ConfigMap holding MLFLOW_TRACKING_URI, AWS_ENDPOINT_URL, MLFLOW_S3_ENDPOINT_URL "
        "(k8s/base: pathreasoner-endpoints)",
        "s3_secret": "the Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (s3-credentials)",
        "mlflow_secret": "the Secret holding MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
        "(mlflow-client-credentials)",
        "service_account": "the ServiceAccount the runs use (pathreasoner-pipeline)",
    }
    for key, what in needed.items():
        if not (getattr(pipe, key) or "").strip():
            raise ConfigError(f"pipeline.{key} is empty; set it to the name of {what}")
