"""Custom resources (KServe, Kubeflow Trainer) checked strictly against their CRD schemas."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pathreasoner.k8s_validate import (
    crd_index,
    render_kustomize,
    strict_schema,
    validate_against_crd,
    validate_docs,
)

REPO = Path(__file__).resolve().parents[2]

ISVC: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "pathology-vlm", "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
    "spec": {
        "predictor": {
            "serviceAccountName": "pathreasoner-serving",
            "minReplicas": 1,
            "maxReplicas": 2,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "model": {
                "modelFormat": {"name": "huggingface"},
                "storageUri": "s3://mlflow/artifacts/1/models/m-abc/artifacts/checkpoint",
                "args": ["--model_name=pathology-vlm", "--dtype=bfloat16"],
                "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "8", "memory": "64Gi"}},
            },
        }
    },
}
TRAINJOB: dict[str, Any] = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1",
    "kind": "TrainJob",
    "metadata": {"name": "sft"},
    "spec": {
        "runtimeRef": {"name": "deepspeed-distributed"},
        "trainer": {
            "image": "ghcr.io/pathreasoner/platform:0.1.0",
            "command": ["pathreasoner", "train-sft"],
            "numNodes": 2,
            "resourcesPerNode": {"limits": {"nvidia.com/gpu": "8"}},
        },
    },
}


@pytest.fixture(scope="module")
def crds(shared_data: Path) -> Path:
    crd_dir = shared_data / "crds"
    if not crd_dir.is_dir():
        pytest.skip(f"CRD schemas not found at {crd_dir}")
    return crd_dir


@pytest.fixture(scope="module")
def isvc_crd(crds: Path) -> Path:
    return crds / "kserve" / "serving.kserve.io_inferenceservices.yaml"


def test_valid_inferenceservice_and_trainjob_pass(crds: Path, isvc_crd: Path) -> None:
    assert validate_against_crd(ISVC, isvc_crd) == []
    assert (
        validate_against_crd(TRAINJOB, crds / "kubeflow-trainer" / "trainer.kubeflow.org_trainjobs.yaml")
        == []
    )


def test_typos_and_wrong_types_are_reported(isvc_crd: Path) -> None:
    broken = copy.deepcopy(ISVC)
    predictor = broken["spec"]["predictor"]
    predictor["model"]["storageURI"] = predictor["model"].pop("storageUri")
    predictor["minReplicas"] = "one"
    problems = validate_against_crd(broken, isvc_crd)
    assert len(problems) == 2
    assert problems[0].startswith(
        "InferenceService/pathology-vlm: spec.predictor.minReplicas: 'one' is not of type"
    )
    assert (
        "spec.predictor.model: Additional properties are not allowed ('storageURI' was unexpected)"
        in problems[1]
    )


def test_trainjob_typo_is_reported(crds: Path) -> None:
    broken = copy.deepcopy(TRAINJOB)
    broken["spec"]["trainer"]["numNode"] = broken["spec"]["trainer"].pop("numNodes")
    del broken["spec"]["runtimeRef"]
    problems = validate_against_crd(broken, crds / "kubeflow-trainer" / "trainer.kubeflow.org_trainjobs.yaml")
    assert any("'runtimeRef' is a required property" in p for p in problems)
    assert any("'numNode' was unexpected" in p for p in problems)


def test_wrong_kind_or_version_is_reported(isvc_crd: Path) -> None:
    (problem,) = validate_against_crd({**ISVC, "kind": "ServingRuntime"}, isvc_crd)
    assert (
        "is not a kind defined by serving.kserve.io_inferenceservices.yaml (serving.kserve.io/InferenceService)"
        in problem
    )
    (problem,) = validate_against_crd({**ISVC, "apiVersion": "serving.kserve.io/v9"}, isvc_crd)
    assert "version 'v9' is not served" in problem


def test_validate_docs_routes_each_kind(crds: Path) -> None:
    rendered = render_kustomize(REPO / "k8s" / "overlays" / "dev")
    index = crd_index(crds)
    assert ("serving.kserve.io", "InferenceService") in index and (
        "trainer.kubeflow.org",
        "TrainJob",
    ) in index
    assert validate_docs([*rendered, ISVC, TRAINJOB], crd_dir=crds) == []
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    (problem,) = validate_docs([unknown], crd_dir=crds)
    assert problem.startswith("Widget/w: no CRD for example.com/Widget")


def test_repository_inferenceservice_manifest(crds: Path) -> None:
    manifest = REPO / "serving" / "inferenceservice.yaml"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not written yet")
    docs = [d for d in yaml.safe_load_all(manifest.read_text(encoding="utf-8")) if d]
    assert docs
    assert validate_docs(docs, crd_dir=crds) == []


def test_strict_schema_respects_preserve_unknown_fields(tmp_path: Path) -> None:
    """Unknown fields are rejected except below x-kubernetes-preserve-unknown-fields (no shared data needed)."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer"},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                               "properties": {"known": {"type": "string"}}},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                },
            }
        },
    }  # fmt: skip
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False and strict["properties"]["metadata"] == {"type": "object"}
    assert "additionalProperties" not in schema  # the input is not modified
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }
    path = tmp_path / "widgets.yaml"
    path.write_text(yaml.safe_dump(crd), encoding="utf-8")
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"x": "y"}},
        "spec": {"size": 1, "config": {"anything": {"goes": 1}}, "items": [{"a": "b"}]},
    }
    assert validate_against_crd(widget, path) == []
    widget["spec"]["items"][0]["b"] = 1
    widget["spec"]["colour"] = "red"
    problems = validate_against_crd(widget, path)
    assert [p.split(": ")[1] for p in problems] == ["spec", "spec.items.0"]
