"""Custom resources (KServe, Kubeflow Trainer) checked strictly against their CRD schemas."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.kube import CrdSchemas, strict_schema

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


def test_the_crd_folder_has_the_platforms_kinds(crds: CrdSchemas) -> None:
    assert {
        ("serving.kserve.io", "InferenceService"),
        ("serving.kserve.io", "ServingRuntime"),
        ("serving.kserve.io", "ClusterServingRuntime"),
        ("trainer.kubeflow.org", "TrainJob"),
        ("trainer.kubeflow.org", "TrainingRuntime"),
        ("trainer.kubeflow.org", "ClusterTrainingRuntime"),
    } <= set(crds.crds)


def test_valid_inferenceservice_and_trainjob_pass(crds: CrdSchemas) -> None:
    assert crds.errors(ISVC) == []
    assert crds.errors(TRAINJOB) == []


def test_typos_and_wrong_types_are_reported(crds: CrdSchemas) -> None:
    broken = copy.deepcopy(ISVC)
    predictor = broken["spec"]["predictor"]
    predictor["model"]["storageURI"] = predictor["model"].pop("storageUri")
    predictor["minReplicas"] = "one"
    problems = crds.errors(broken)
    assert len(problems) == 2
    assert problems[0].startswith(
        "InferenceService/pathology-vlm: spec.predictor.minReplicas: 'one' is not of type"
    )
    assert (
        "spec.predictor.model: Additional properties are not allowed ('storageURI' was unexpected)"
        in problems[1]
    )


def test_trainjob_typo_is_reported(crds: CrdSchemas) -> None:
    broken = copy.deepcopy(TRAINJOB)
    broken["spec"]["trainer"]["numNode"] = broken["spec"]["trainer"].pop("numNodes")
    del broken["spec"]["runtimeRef"]
    problems = crds.errors(broken)
    assert any("'runtimeRef' is a required property" in p for p in problems)
    assert any("'numNode' was unexpected" in p for p in problems)


def test_unknown_kind_or_version_is_reported(crds: CrdSchemas) -> None:
    (problem,) = crds.errors({**ISVC, "kind": "InferenceServise"})
    assert (
        problem == "InferenceServise/pathology-vlm: no CRD for serving.kserve.io/InferenceServise under crds/"
    )
    (problem,) = crds.errors({**ISVC, "apiVersion": "serving.kserve.io/v9"})
    assert problem.startswith("InferenceService/pathology-vlm: version 'v9' is not served (served: [")


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
    assert strict["properties"]["kind"] == {"type": "string"}
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
    schemas = CrdSchemas.load(tmp_path)
    assert schemas.errors(widget) == []
    widget["spec"]["items"][0]["b"] = 1
    widget["spec"]["colour"] = "red"
    problems = schemas.errors(widget)
    assert [p.split(": ")[1] for p in problems] == ["spec", "spec.items.0"]
