"""The kustomize overlays render, contain the platform's stack, and validate strictly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pathreasoner.k8s_validate import is_builtin_api, render_kustomize, validate_builtin

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = ("dev", "prod")
NAMESPACE = "pathreasoner"

EXPECTED = {
    ("Namespace", "pathreasoner"),
    ("Secret", "postgres-credentials"),
    ("Secret", "minio-root-credentials"),
    ("Secret", "s3-credentials"),
    ("ConfigMap", "pathreasoner-endpoints"),
    ("ServiceAccount", "pathreasoner-pipeline"),
    ("ServiceAccount", "pathreasoner-serving"),
    ("Role", "pathreasoner-pipeline"),
    ("RoleBinding", "pathreasoner-pipeline"),
    ("ResourceQuota", "pathreasoner-quota"),
    ("LimitRange", "pathreasoner-limits"),
    ("StatefulSet", "postgres"),
    ("Service", "postgres"),
    ("Service", "postgres-headless"),
    ("PersistentVolumeClaim", "minio-data"),
    ("Deployment", "minio"),
    ("Service", "minio"),
    ("Job", "minio-create-buckets"),
    ("Deployment", "mlflow"),
    ("Service", "mlflow"),
    ("NetworkPolicy", "postgres-from-mlflow-only"),
}
WORKLOADS = ("Deployment", "StatefulSet", "Job")

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    return {name: render_kustomize(K8S / "overlays" / name) for name in OVERLAYS}


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} objects"
    return hits[0]


def pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def container(docs: list[Doc], kind: str, name: str) -> Doc:
    return pod_spec(find(docs, kind, name))["containers"][0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_stack_into_one_namespace(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    kinds_names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds_names >= EXPECTED, EXPECTED - kinds_names
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] != "Namespace":
            assert meta["namespace"] == NAMESPACE, doc["kind"]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "pathreasoner", doc["kind"]
        assert meta["labels"]["app.kubernetes.io/name"], doc["kind"]
        assert meta["labels"]["app.kubernetes.io/instance"] == f"pathreasoner-{overlay}"
    assert docs[0]["kind"] == "Namespace"  # applied first


def test_overlays_differ_in_size(rendered: dict[str, list[Doc]]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert find(dev, "Deployment", "mlflow")["spec"]["replicas"] == 1
    assert find(prod, "Deployment", "mlflow")["spec"]["replicas"] == 3
    assert find(dev, "StatefulSet", "postgres")["spec"]["replicas"] == 1
    gpus = {o: find(rendered[o], "ResourceQuota", "pathreasoner-quota")["spec"]["hard"] for o in OVERLAYS}
    assert gpus["dev"]["requests.nvidia.com/gpu"] == "1"
    assert gpus["prod"]["requests.nvidia.com/gpu"] == "8"

    def pg_size(docs: list[Doc]) -> str:
        (claim,) = find(docs, "StatefulSet", "postgres")["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["labels"]["app.kubernetes.io/part-of"] == "pathreasoner"
        return claim["spec"]["resources"]["requests"]["storage"]

    def minio_size(docs: list[Doc]) -> str:
        return find(docs, "PersistentVolumeClaim", "minio-data")["spec"]["resources"]["requests"]["storage"]

    assert (pg_size(dev), pg_size(prod)) == ("2Gi", "100Gi")
    assert (minio_size(dev), minio_size(prod)) == ("5Gi", "1Ti")
    assert ("PodDisruptionBudget", "mlflow") in {(d["kind"], d["metadata"]["name"]) for d in prod}
    # the patch kept the rest of the container (image, args, probes) and only changed resources
    mlflow = container(prod, "Deployment", "mlflow")
    assert mlflow["resources"]["limits"]["memory"] == "4Gi"
    assert mlflow["image"].startswith("ghcr.io/mlflow/mlflow:v3.17.2")
    assert mlflow["readinessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_server_arguments(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    mlflow = container(docs, "Deployment", "mlflow")
    args = dict(a.removeprefix("--").split("=", 1) for a in mlflow["args"] if a.startswith("--"))
    assert mlflow["command"] + mlflow["args"][:1] == ["mlflow", "server"]
    assert args["backend-store-uri"].startswith(
        "postgresql+psycopg2://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@"
    )
    assert args["backend-store-uri"].endswith("@postgres:5432/$(POSTGRES_DB)")
    assert args["artifacts-destination"] == "s3://mlflow/artifacts"
    assert (args["host"], args["port"], args["workers"]) == ("0.0.0.0", "5000", "2")
    allowed = set(args["allowed-hosts"].split(","))
    service = find(docs, "Service", "mlflow")
    port = service["spec"]["ports"][0]["port"]
    for host in ("mlflow", f"mlflow.{NAMESPACE}.svc", f"mlflow.{NAMESPACE}.svc.cluster.local"):
        assert {host, f"{host}:{port}"} <= allowed
    env = {e["name"]: e for e in mlflow["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    # $(VAR) in args is only expanded for variables defined in env before use
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert mlflow[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert mlflow["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_and_service_references_resolve(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    secrets = {
        d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {}))
        for d in docs
        if d["kind"] == "Secret"
    }
    for name, keys in secrets.items():
        values = find(docs, "Secret", name)["stringData"].values()
        assert keys and any(v.endswith("-example") for v in values), f"{name} must carry placeholder values"
    refs = 0
    for doc in (d for d in docs if d["kind"] in WORKLOADS):
        for c in pod_spec(doc)["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs += 1
                    assert ref["key"] in secrets[ref["name"]], (doc["metadata"]["name"], ref)
            for source in c.get("envFrom", []):
                refs += 1
                assert source["secretRef"]["name"] in secrets
    assert refs >= 10
    serving = find(docs, "ServiceAccount", "pathreasoner-serving")
    assert [s["name"] for s in serving["secrets"]] == ["s3-credentials"]
    # Every Service selects the pods of exactly one workload.
    for svc in (d for d in docs if d["kind"] == "Service"):
        selector = svc["spec"]["selector"].items()
        owners = [
            d["metadata"]["name"]
            for d in docs
            if d["kind"] in WORKLOADS and selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(owners) == 1, (svc["metadata"]["name"], owners)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_unprivileged_with_resources(rendered: dict[str, list[Doc]], overlay: str) -> None:
    for doc in (d for d in rendered[overlay] if d["kind"] in WORKLOADS):
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])
            assert ":" in c["image"] and not c["image"].endswith(":latest")


def test_rbac_and_serving_identity(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    rules = {
        (group, resource): set(rule["verbs"])
        for rule in find(docs, "Role", "pathreasoner-pipeline")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    crud = {"create", "get", "list", "watch", "patch", "delete"}
    assert rules[("serving.kserve.io", "inferenceservices")] == crud
    assert rules[("trainer.kubeflow.org", "trainjobs")] == crud
    assert rules[("", "pods/log")] == {"get"}
    binding = find(docs, "RoleBinding", "pathreasoner-pipeline")
    assert binding["roleRef"]["name"] == "pathreasoner-pipeline"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pathreasoner-pipeline", "namespace": NAMESPACE}
    ]
    annotations = find(docs, "ServiceAccount", "pathreasoner-serving")["metadata"]["annotations"]
    assert annotations["serving.kserve.io/s3-endpoint"] == f"minio.{NAMESPACE}.svc.cluster.local:9000"
    assert annotations["serving.kserve.io/s3-usehttps"] == "0"
    assert annotations["serving.kserve.io/s3-region"]


def test_network_policy_admits_only_mlflow_to_postgres(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    policy = find(docs, "NetworkPolicy", "postgres-from-mlflow-only")["spec"]

    def selected(selector: dict[str, str]) -> set[str]:
        return {
            d["metadata"]["name"]
            for d in docs
            if d["kind"] in WORKLOADS
            and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }

    assert selected(policy["podSelector"]["matchLabels"]) == {"postgres"}
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert [selected(peer["podSelector"]["matchLabels"]) for peer in rule["from"]] == [{"mlflow"}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_bucket_job_creates_the_artifact_bucket(rendered: dict[str, list[Doc]]) -> None:
    job = container(rendered["dev"], "Job", "minio-create-buckets")
    env = {e["name"]: e.get("value") for e in job["env"]}
    assert "mlflow" in env["BUCKETS"].split()
    assert "mc mb --ignore-existing" in job["args"][0]
    assert job["image"].startswith("quay.io/minio/mc:")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_object_validates_strictly(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    assert all(is_builtin_api(d["apiVersion"]) for d in docs)
    assert validate_builtin(docs, k8s_version="1.33") == []


def test_typo_field_is_reported(rendered: dict[str, list[Doc]]) -> None:
    broken = copy.deepcopy(find(rendered["dev"], "Deployment", "mlflow"))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    (problem,) = validate_builtin([broken])
    assert problem.startswith("Deployment/pathreasoner/mlflow: spec:")
    assert "'replica' was unexpected" in problem


def test_wrong_type_and_unknown_kind_are_reported(rendered: dict[str, list[Doc]]) -> None:
    quota = copy.deepcopy(find(rendered["dev"], "Service", "mlflow"))
    quota["spec"]["ports"][0]["port"] = "five-thousand"
    typo_kind = {"apiVersion": "apps/v1", "kind": "Deploymnt", "metadata": {"name": "x"}}
    custom = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "y"},
    }
    problems = validate_builtin([quota, typo_kind, custom])
    assert len(problems) == 2  # the custom kind is left to validate_against_crd
    assert "spec.ports.0.port" in problems[0]
    assert problems[1].startswith("Deploymnt/x: no schema for kind Deploymnt apps/v1")
