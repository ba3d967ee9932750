"""Render the KServe InferenceService (v1beta1, Standard deployment mode) for the predictor image.

The pod runs ``python -m pathreasoner.serve --model-uri /mnt/models --host 0.0.0.0``; KServe's storage
initializer downloads ``STORAGE_URI`` (an ``s3://`` prefix holding the checkpoint, see
``pathreasoner.registry.mlflow_registry.storage_uri``) into ``/mnt/models`` before the container starts.
``serving/inferenceservice.yaml`` is this function's output for the default config, the serving image,
``NAMESPACE`` and ``SERVICE_ACCOUNT``, with a ``${STORAGE_URI}`` placeholder (fill it with ``envsubst``
or render a new one). KServe labels the predictor pod ``serving.kserve.io/inferenceservice: <name>``,
the label k8s/base/networkpolicy.yaml selects.

``render_vllm_service`` renders the alternative on KServe's Hugging Face runtime (vLLM backend) for the
same checkpoint; ``render_traffic_split`` the Gateway API HTTPRoute of a Standard-mode canary.
`pathreasoner deploy` (``pathreasoner.serve.deploy``) resolves the alias and applies them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from pathreasoner.config import Config
from pathreasoner.errors import ServingError
from pathreasoner.serve.lineage import MODEL_ALIAS_ENV, MODEL_VERSION_ENV

MODEL_DIR = "/mnt/models"
CONTAINER_NAME = "kserve-container"  # the name KServe expects for a custom predictor container
CONTAINER_PORT = 8080
STORAGE_URI_PLACEHOLDER = "${STORAGE_URI}"
LIVENESS_PATH = "/"  # KServe ModelServer's liveness route
NAMESPACE = "pathreasoner"  # k8s/: the platform's namespace
SERVICE_ACCOUNT = "pathreasoner-serving"  # k8s/base/rbac.yaml: carries the S3 settings and Secret
_SUPPORTED_SCHEMES = ("s3://", "gs://", "https://", "http://", "hf://", "pvc://", "oci://", "${")
API_VERSION = "serving.kserve.io/v1beta1"
LINEAGE_PREFIX = (
    "pathreasoner.io/"  # labels/annotations: model-name, model-version, model-alias, storage-uri, ...
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")  # Kubernetes label value syntax


def check_storage_uri(storage_uri: str) -> None:
    """A URI the KServe storage initializer can download, else a ServingError naming the fix."""
    if storage_uri.startswith(("models:/", "runs:/", "mlflow-artifacts:")):
        raise ServingError(
            f"storage_uri {storage_uri!r} is an MLflow URI, which the KServe storage initializer cannot read; "
            "resolve it to the checkpoint's s3:// prefix with pathreasoner.registry.mlflow_registry.storage_uri"
        )
    if not storage_uri.startswith(_SUPPORTED_SCHEMES):
        raise ServingError(
            f"storage_uri {storage_uri!r} has no scheme KServe can download (s3://, gs://, https://, hf://, pvc://, "
            "oci://); use the object-store prefix that holds the checkpoint"
        )


def _resources(cfg: Config) -> dict[str, dict[str, str]]:
    serving = cfg.serving
    resources = {
        "requests": {"cpu": serving.cpu, "memory": serving.memory},
        "limits": {"cpu": serving.cpu, "memory": serving.memory},
    }
    if serving.gpu_count:
        for part in resources.values():
            part[cfg.pipeline.gpu_resource] = str(serving.gpu_count)
    return resources


def _probes(cfg: Config) -> dict[str, Any]:
    """KServe ModelServer routes (both runtimes): `/` answers once the server runs, `/v1/models/<name>` once
    the model is loaded. The startup probe allows serving.startup_seconds for loading before liveness applies."""
    ready = f"/v1/models/{cfg.serving.model_name}"
    return {
        "startupProbe": {
            "httpGet": {"path": LIVENESS_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 10,
            "failureThreshold": max(1, cfg.serving.startup_seconds // 10),
        },
        "readinessProbe": {
            "httpGet": {"path": ready, "port": CONTAINER_PORT},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": LIVENESS_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }


def _predictor(cfg: Config, service_account: str | None, canary_percent: int | None) -> dict[str, Any]:
    """Replicas, autoscaling, GPU scheduling, identity and canary share of a predictor spec."""
    serving = cfg.serving
    if serving.min_replicas > serving.max_replicas:
        raise ServingError(
            f"serving.min_replicas={serving.min_replicas} exceeds serving.max_replicas={serving.max_replicas}; "
            "raise max_replicas"
        )
    predictor: dict[str, Any] = {"minReplicas": serving.min_replicas, "maxReplicas": serving.max_replicas}
    if serving.scale_metric:
        if serving.deployment_mode == "Standard" and serving.scale_metric in ("concurrency", "rps"):
            raise ServingError(
                f"serving.scale_metric={serving.scale_metric} is a Knative (KPA) metric; in "
                "serving.deployment_mode=Standard use cpu or memory, or set deployment_mode=Knative"
            )
        predictor["scaleMetric"] = serving.scale_metric
        if serving.scale_target:
            predictor["scaleTarget"] = serving.scale_target
        if serving.scale_metric in ("cpu", "memory"):
            predictor["scaleMetricType"] = "Utilization"
    if serving.gpu_count:
        predictor["nodeSelector"] = dict(serving.gpu_node_selector)
        predictor["tolerations"] = [dict(t) for t in serving.gpu_tolerations]
    if service_account:
        predictor["serviceAccountName"] = service_account  # carries the S3 secret for the storage initializer
    if canary_percent is not None:
        check_canary(canary_percent)
        if serving.deployment_mode != "Knative":
            raise ServingError(
                "canaryTrafficPercent works only in Knative (ex Serverless) mode; in serving.deployment_mode="
                "Standard the canary is a second InferenceService plus render_traffic_split"
            )
        predictor["canaryTrafficPercent"] = canary_percent
    return predictor


def check_canary(percent: int) -> None:
    if not 0 <= percent <= 100:
        raise ServingError(f"canary percent {percent} is outside 0..100; pass --canary between 0 and 100")


def _metadata(
    cfg: Config, name: str, namespace: str | None, lineage: dict[str, str] | None, runtime: str
) -> dict[str, Any]:
    """Name, labels (selectable lineage) and annotations (full lineage, deployment mode)."""
    labels = {
        "app.kubernetes.io/name": cfg.serving.model_name,
        "app.kubernetes.io/part-of": "pathreasoner",
        "app.kubernetes.io/component": f"serving-{runtime}",
    }
    annotations = {"serving.kserve.io/deploymentMode": cfg.serving.deployment_mode}
    for key, value in (lineage or {}).items():
        annotations[LINEAGE_PREFIX + key] = value
        if (
            key in ("model-name", "model-version", "model-alias")
            and len(value) <= 63
            and _LABEL_VALUE.match(value)
        ):
            labels[LINEAGE_PREFIX + key] = value
    return {
        "name": name,
        **({"namespace": namespace} if namespace else {}),
        "labels": labels,
        "annotations": annotations,
    }


def _service(metadata: dict[str, Any], predictor: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def _lineage_env(lineage: dict[str, str] | None) -> list[dict[str, str]]:
    """The model version and alias the predictor reports in its answers' lineage (serve/lineage.py)."""
    lineage = lineage or {}
    pairs = ((MODEL_VERSION_ENV, lineage.get("model-version")), (MODEL_ALIAS_ENV, lineage.get("model-alias")))
    return [{"name": env, "value": str(value)} for env, value in pairs if value]


def render_inference_service(
    cfg: Config,
    storage_uri: str,
    image: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    service_account: str | None = None,
    lineage: dict[str, str] | None = None,
    canary_percent: int | None = None,
) -> dict[str, Any]:
    """The InferenceService of our predictor image as a dict (dump with ``to_yaml``).

    `lineage` (model-name, model-version, model-alias, ...) becomes ``pathreasoner.io/*`` annotations, the
    short ones labels too; `canary_percent` sets ``canaryTrafficPercent`` (Knative mode only)."""
    check_storage_uri(storage_uri)
    serving = cfg.serving
    model_name = serving.model_name
    dtype = serving.dtype if serving.gpu_count else cfg.model.torch_dtype
    container = {
        "name": CONTAINER_NAME,
        "image": image,
        "args": [
            "--model-uri",
            MODEL_DIR,
            "--host",
            "0.0.0.0",  # inside the pod; KServe/Istio route traffic to it
            "--port",
            str(CONTAINER_PORT),
            "--set",
            f"serving.model_name={model_name}",
            "--set",
            f"serving.max_new_tokens={serving.max_new_tokens}",
            "--set",
            f"model.torch_dtype={dtype}",
        ],
        "env": [
            {"name": "STORAGE_URI", "value": storage_uri},
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "PATHREASONER_LOG_LEVEL", "value": cfg.project.log_level},
            *_lineage_env(lineage),
        ],
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        **_probes(cfg),
        "resources": _resources(cfg),
    }
    predictor = {**_predictor(cfg, service_account, canary_percent), "containers": [container]}
    return _service(_metadata(cfg, name or model_name, namespace, lineage, "predictor"), predictor)


def render_vllm_service(
    cfg: Config,
    storage_uri: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    service_account: str | None = None,
    lineage: dict[str, str] | None = None,
    canary_percent: int | None = None,
) -> dict[str, Any]:
    """The same checkpoint on KServe's Hugging Face runtime with the vLLM backend (``modelFormat:
    huggingface``); it serves the OpenAI routes (``/openai/v1/chat/completions``) under serving.model_name."""
    check_storage_uri(storage_uri)
    serving = cfg.serving
    args = [
        f"--model_name={serving.model_name}",
        "--backend=vllm",  # fail loudly if vLLM cannot run the architecture (auto falls back to transformers)
        f"--dtype={serving.dtype}",
        f"--max_model_len={serving.vllm_max_model_len}",
        *serving.vllm_args,
    ]
    model = {
        "modelFormat": {"name": "huggingface"},
        "storageUri": storage_uri,
        "args": args,
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        **_probes(cfg),
        "resources": _resources(cfg),
    }
    predictor = {**_predictor(cfg, service_account, canary_percent), "model": model}
    return _service(
        _metadata(cfg, name or f"{serving.model_name}-vllm", namespace, lineage, "vllm"), predictor
    )


def render_traffic_split(
    cfg: Config, stable: str, canary: str, canary_percent: int, namespace: str
) -> dict[str, Any]:
    """Standard-mode canary: a Gateway API HTTPRoute on serving.ingress_host that sends `canary_percent` of
    the requests to the canary InferenceService's predictor Service and the rest to the stable one."""
    check_canary(canary_percent)
    gateway_ns, _, gateway = cfg.serving.gateway.rpartition("/")
    parent = {"name": gateway, **({"namespace": gateway_ns} if gateway_ns else {})}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": f"{stable}-split",
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": cfg.serving.model_name,
                "app.kubernetes.io/part-of": "pathreasoner",
            },
        },
        "spec": {
            "parentRefs": [parent],
            "hostnames": [cfg.serving.ingress_host],
            "rules": [
                {
                    "backendRefs": [
                        {"name": f"{stable}-predictor", "port": 80, "weight": 100 - canary_percent},
                        {"name": f"{canary}-predictor", "port": 80, "weight": canary_percent},
                    ]
                }
            ],
        },
    }


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
