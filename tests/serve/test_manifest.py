"""InferenceService rendering, validated strictly against the KServe CRD; the image entry point."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from pathreasoner.config import Config, config_from_dict
from pathreasoner.errors import ServingError
from pathreasoner.serve.__main__ import parse_args
from pathreasoner.serve.manifest import (
    NAMESPACE,
    SERVICE_ACCOUNT,
    STORAGE_URI_PLACEHOLDER,
    render_inference_service,
)
from tests.k8s.kube import CRD_DIR, CrdSchemas

REPO = Path(__file__).resolve().parents[2]
S3 = "s3://mlflow/artifacts/1/models/m-abc/artifacts/artifacts/checkpoint"


@pytest.fixture(scope="module")
def crds() -> CrdSchemas:
    if not CRD_DIR.is_dir():
        pytest.skip(
            f"KServe CRD not found under {CRD_DIR} (CRD YAMLs kept beside the repo as ../shared/data/crds)"
        )
    return CrdSchemas.load(CRD_DIR / "kserve")


def test_rendered_service_is_valid_and_complete(crds: CrdSchemas) -> None:
    cfg = Config()
    doc = render_inference_service(
        cfg, S3, "registry.example/pathreasoner:1.2", namespace="ml", service_account="kserve-s3"
    )
    assert crds.errors(doc) == []
    assert doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = doc["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert {"name": "STORAGE_URI", "value": S3} in container["env"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert predictor["serviceAccountName"] == "kserve-s3"
    args = parse_args(container["args"])  # the container args are ones our entry point accepts
    assert (args.model_uri, args.host, args.port) == ("/mnt/models", "0.0.0.0", 8080)
    assert "serving.model_name=pathreasoner" in args.overrides
    probes = {
        name: container[name]["httpGet"]["path"]
        for name in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes == {"startupProbe": "/", "readinessProbe": "/v1/models/pathreasoner", "livenessProbe": "/"}
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 600


def test_cpu_only_render_has_no_gpu_scheduling(crds: CrdSchemas) -> None:
    cfg = config_from_dict({"serving": {"gpu_count": 0, "model_name": "pr-cpu"}})
    doc = render_inference_service(cfg, S3, "img:1")
    assert crds.errors(doc) == []
    predictor = doc["spec"]["predictor"]
    assert "nodeSelector" not in predictor and "tolerations" not in predictor
    assert "nvidia.com/gpu" not in predictor["containers"][0]["resources"]["limits"]
    assert predictor["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v1/models/pr-cpu"


def test_strict_validation_catches_mistakes(crds: CrdSchemas) -> None:
    doc = render_inference_service(Config(), S3, "img:1")
    bad = copy.deepcopy(doc)
    bad["spec"]["predictor"]["storageURI"] = S3  # typo of a real field
    bad["spec"]["predictor"]["minReplicas"] = "one"
    found = crds.errors(bad)
    assert any("storageURI" in e for e in found) and any("minReplicas" in e for e in found)


def test_checked_in_template_matches_renderer(crds: CrdSchemas) -> None:
    path = REPO / "serving" / "inferenceservice.yaml"
    on_disk = yaml.safe_load(path.read_text())
    cfg = Config()
    assert on_disk == render_inference_service(
        cfg,
        STORAGE_URI_PLACEHOLDER,
        cfg.pipeline.images.serving,
        namespace=NAMESPACE,
        service_account=SERVICE_ACCOUNT,
    )
    assert on_disk["spec"]["predictor"]["containers"][0]["image"] == "ghcr.io/pathreasoner/serving:0.1.0"
    assert crds.errors(on_disk) == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [("models:/pathreasoner@champion", "MLflow URI"), ("/local/dir", "no scheme KServe can download")],
)
def test_unusable_storage_uris(uri: str, message: str) -> None:
    with pytest.raises(ServingError, match=message):
        render_inference_service(Config(), uri, "img:1")


def test_dockerfile_entrypoint_and_default_args() -> None:
    text = (REPO / "docker" / "serving.Dockerfile").read_text()
    entry = re.search(r"^ENTRYPOINT (.+)$", text, re.M)
    cmd = re.search(r"^CMD (.+)$", text, re.M)
    assert entry and json.loads(entry.group(1)) == ["python", "-m", "pathreasoner.serve"]
    assert cmd is not None
    args = parse_args(json.loads(cmd.group(1)))
    assert (args.model_uri, args.host, args.port) == ("/mnt/models", "0.0.0.0", 8080)
