"""Render the KServe InferenceService (v1beta1, Standard deployment mode) for the predictor image.

The pod runs ``python -m pathreasoner.serve --model-uri /mnt/models --host 0.0.0.0``; KServe's storage
initializer downloads ``STORAGE_URI`` (an ``s3://`` prefix holding the checkpoint, see
``pathreasoner.registry.mlflow_registry.storage_uri``) into ``/mnt/models`` before the container starts.
``serving/inferenceservice.yaml`` is this function's output for the default config, the serving image,
``NAMESPACE`` and ``SERVICE_ACCOUNT``, with a ``${STORAGE_URI}`` placeholder (fill it with ``envsubst``
or render a new one). KServe labels the predictor pod ``serving.kserve.io/inferenceservice: <name>``,
the label k8s/base/networkpolicy.yaml selects.
"""

from __future__ import annotations

from typing import Any

import yaml

from pathreasoner.config import Config
from pathreasoner.errors import ServingError

MODEL_DIR = "/mnt/models"
CONTAINER_NAME = "kserve-container"  # the name KServe expects for a custom predictor container
CONTAINER_PORT = 8080
STORAGE_URI_PLACEHOLDER = "${STORAGE_URI}"
LIVENESS_PATH = "/"  # KServe ModelServer's liveness route
STARTUP_SECONDS = 900  # loading a VLM checkpoint from /mnt/models onto the GPU
NAMESPACE = "pathreasoner"  # k8s/: the platform's namespace
SERVICE_ACCOUNT = "pathreasoner-serving"  # k8s/base/rbac.yaml: carries the S3 settings and Secret
_SUPPORTED_SCHEMES = ("s3://", "gs://", "https://", "http://", "hf://", "pvc://", "oci://", "${")


def render_inference_service(
    cfg: Config,
    storage_uri: str,
    image: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    service_account: str | None = None,
) -> dict[str, Any]:
    """The InferenceService as a dict (dump with ``to_yaml``)."""
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
    serving, pipeline = cfg.serving, cfg.pipeline
    model_name = serving.model_name
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": serving.cpu, "memory": serving.memory},
        "limits": {"cpu": serving.cpu, "memory": serving.memory},
    }
    if serving.gpu_count:
        for part in resources.values():
            part[pipeline.gpu_resource] = str(serving.gpu_count)
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
            f"model.torch_dtype={cfg.model.torch_dtype}",
        ],
        "env": [
            {"name": "STORAGE_URI", "value": storage_uri},
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "PATHREASONER_LOG_LEVEL", "value": cfg.project.log_level},
        ],
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        # The server listens only once the model is loaded: the startup probe allows
        # STARTUP_SECONDS for that, then liveness (the server answers) and readiness (the model does).
        "startupProbe": {
            "httpGet": {"path": LIVENESS_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 10,
            "failureThreshold": STARTUP_SECONDS // 10,
        },
        "readinessProbe": {
            "httpGet": {"path": f"/v1/models/{model_name}", "port": CONTAINER_PORT},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": LIVENESS_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": resources,
    }
    predictor: dict[str, Any] = {
        "minReplicas": serving.min_replicas,
        "maxReplicas": serving.max_replicas,
        "containers": [container],
    }
    if serving.gpu_count:
        predictor["nodeSelector"] = dict(pipeline.gpu_node_selector)
        predictor["tolerations"] = [
            {"key": pipeline.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}
        ]
    if service_account:
        predictor["serviceAccountName"] = service_account  # carries the S3 secret for the storage initializer
    metadata: dict[str, Any] = {
        "name": name or model_name,
        **({"namespace": namespace} if namespace else {}),
        "labels": {
            "app.kubernetes.io/name": model_name,
            "app.kubernetes.io/part-of": "pathreasoner",
        },
        "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
