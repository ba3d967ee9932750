"""The kustomize overlays render the platform's stack, keep Secrets out of base, and validate strictly."""

from __future__ import annotations

import configparser
import copy
from collections import defaultdict
from urllib.parse import urlsplit

import pytest

from tests.k8s.conftest import OVERLAYS
from tests.k8s.kube import K8S, CrdSchemas, Doc, validate_all

NAMESPACE = "pathreasoner"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
LONG_RUNNING = ("Deployment", "StatefulSet")
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
EXPECTED = {
    ("Namespace", "pathreasoner"),
    ("ConfigMap", "pathreasoner-endpoints"),
    ("ServiceAccount", "pathreasoner-pipeline"),
    ("ServiceAccount", "pathreasoner-serving"),
    ("ServiceAccount", "pathreasoner-trainer"),
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
    ("Job", "mlflow-create-users"),
    ("Ingress", "mlflow"),
    ("NetworkPolicy", "default-deny-all"),
    ("NetworkPolicy", "allow-dns-egress"),
    ("NetworkPolicy", "postgres-from-mlflow"),
    ("NetworkPolicy", "minio-from-s3-clients"),
    ("NetworkPolicy", "mlflow-from-clients"),
    ("NetworkPolicy", "mlflow-egress"),
}
# Secrets every overlay's objects use (name -> keys); dev ships all but the TLS certificate.
SECRETS = {
    "postgres-credentials": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "minio-root-credentials": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "s3-credentials": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "mlflow-admin-credentials": {"MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"},
    "mlflow-auth-config": {"basic_auth.ini", "MLFLOW_FLASK_SERVER_SECRET_KEY"},
    "mlflow-client-credentials": {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"},
    "mlflow-tls": {"tls.crt", "tls.key"},
}
CREATED_AT_APPLY_TIME = {"mlflow-tls"}  # k8s/README.md: openssl + kubectl create secret tls


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} objects"
    return hits[0]


def pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def secret_refs(docs: list[Doc]) -> dict[str, set[str]]:
    """Secret name -> keys the objects read (envFrom and volumes read the whole Secret: no key)."""
    refs: dict[str, set[str]] = defaultdict(set)
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            for c in containers(doc):
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs[ref["name"]].add(ref["key"])
                for source in c.get("envFrom", []):
                    if "secretRef" in source:
                        refs[source["secretRef"]["name"]]
            for volume in pod_spec(doc).get("volumes", []):
                if "secret" in volume:
                    refs[volume["secret"]["secretName"]]
        elif doc["kind"] == "ServiceAccount":
            for ref in doc.get("secrets", []):
                refs[ref["name"]]
        elif doc["kind"] == "Ingress":
            for tls in doc["spec"].get("tls", []):
                refs[tls["secretName"]] |= {"tls.crt", "tls.key"}
    return dict(refs)


def secret_keys(doc: Doc) -> set[str]:
    return set(doc.get("stringData", {})) | set(doc.get("data", {}))


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


def test_base_holds_no_secret(rendered: dict[str, list[Doc]]) -> None:
    assert [d["metadata"]["name"] for d in rendered["base"] if d["kind"] == "Secret"] == []
    assert not [p.name for p in (K8S / "base").glob("*.yaml") if "kind: Secret" in p.read_text()]
    # ...yet base uses every platform Secret, so each overlay must provide them.
    assert set(secret_refs(rendered["base"])) == set(SECRETS)


def test_dev_ships_every_secret_with_example_values(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    shipped = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(shipped) == set(SECRETS) - CREATED_AT_APPLY_TIME
    for name, keys in secret_refs(docs).items():
        if name in CREATED_AT_APPLY_TIME:
            continue
        assert keys <= secret_keys(shipped[name]), (name, keys - secret_keys(shipped[name]))
    for name, doc in shipped.items():
        assert secret_keys(doc) == SECRETS[name], name
        assert any("example" in v for v in doc["stringData"].values()), f"{name} must hold placeholders"


def test_dev_auth_database_uses_the_postgres_credentials(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    ini = configparser.ConfigParser()
    ini.read_string(find(docs, "Secret", "mlflow-auth-config")["stringData"]["basic_auth.ini"])
    pg = find(docs, "Secret", "postgres-credentials")["stringData"]
    uri = urlsplit(ini["mlflow"]["database_uri"])
    assert (uri.scheme, uri.hostname, uri.port) == ("postgresql+psycopg2", "postgres", 5432)
    assert (uri.username, uri.password, uri.path) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        f"/{pg['POSTGRES_DB']}",
    )
    assert ini["mlflow"]["default_permission"] == "READ"
    assert "admin_password" not in ini["mlflow"]  # the admin comes from mlflow-admin-credentials


def test_prod_ships_no_secret_and_the_readme_names_each(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["prod"]
    assert [d for d in docs if d["kind"] == "Secret"] == []
    readme = (K8S / "README.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in readme.splitlines() if line.startswith("| `")}
    for name, keys in secret_refs(docs).items():
        assert name in rows, f"k8s/README.md does not say how to create Secret {name}"
        assert all(f"`{key}`" in rows[name] for key in keys), (name, keys)


def test_overlays_differ_in_size(rendered: dict[str, list[Doc]]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert find(dev, "Deployment", "mlflow")["spec"]["replicas"] == 1
    assert find(prod, "Deployment", "mlflow")["spec"]["replicas"] == 3
    assert find(dev, "StatefulSet", "postgres")["spec"]["replicas"] == 1
    gpus = {o: find(rendered[o], "ResourceQuota", "pathreasoner-quota")["spec"]["hard"] for o in OVERLAYS}
    assert (gpus["dev"]["requests.nvidia.com/gpu"], gpus["prod"]["requests.nvidia.com/gpu"]) == ("1", "8")

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
    mlflow = pod_spec(find(prod, "Deployment", "mlflow"))["containers"][0]
    assert mlflow["resources"]["limits"]["memory"] == "4Gi"
    assert mlflow["image"].startswith("ghcr.io/mlflow/mlflow:v3.17.2")
    assert mlflow["readinessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    config = find(docs, "ConfigMap", "pathreasoner-endpoints")["data"]
    for doc in (d for d in docs if d["kind"] in WORKLOADS):
        for c in containers(doc):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert (ref["name"], ref["key"] in config) == ("pathreasoner-endpoints", True), ref
    # Every Service selects the pods of exactly one workload, on ports those pods declare.
    for svc in (d for d in docs if d["kind"] == "Service"):
        owners = [
            d
            for d in docs
            if d["kind"] in WORKLOADS
            and svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(owners) == 1, (svc["metadata"]["name"], [o["metadata"]["name"] for o in owners])
        names = {p["name"] for c in containers(owners[0]) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_unprivileged_with_resources(rendered: dict[str, list[Doc]], overlay: str) -> None:
    for doc in (d for d in rendered[overlay] if d["kind"] in WORKLOADS):
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        for c in containers(doc):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])
            assert ":" in c["image"] and not c["image"].endswith(":latest")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_long_running_containers_have_three_probes(
    rendered: dict[str, list[Doc]], overlay: str, inference_service: Doc
) -> None:
    checked = []
    for doc in (d for d in rendered[overlay] if d["kind"] in LONG_RUNNING):
        for c in pod_spec(doc)["containers"]:
            assert all(probe in c for probe in PROBES), (doc["metadata"]["name"], c["name"])
            checked.append(c["name"])
    for c in inference_service["spec"]["predictor"]["containers"]:
        assert all(probe in c for probe in PROBES), c["name"]
        checked.append(c["name"])
    assert sorted(checked) == ["kserve-container", "minio", "mlflow", "postgres"]


def test_rbac_and_serving_identity(rendered: dict[str, list[Doc]], inference_service: Doc) -> None:
    docs = rendered["dev"]
    rules = {
        (group, resource): set(rule["verbs"])
        for rule in find(docs, "Role", "pathreasoner-pipeline")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    crud = {"create", "get", "list", "watch", "patch", "delete"}
    assert rules[("serving.kserve.io", "inferenceservices")] == crud | {"update"}  # deploy replaces (PUT)
    assert rules[("gateway.networking.k8s.io", "httproutes")] == crud - {"patch"} | {"update"}  # canary split
    assert rules[("trainer.kubeflow.org", "trainjobs")] == crud
    assert rules[("", "pods/log")] == {"get"}
    binding = find(docs, "RoleBinding", "pathreasoner-pipeline")
    assert binding["roleRef"]["name"] == "pathreasoner-pipeline"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pathreasoner-pipeline", "namespace": NAMESPACE}
    ]
    serving = find(docs, "ServiceAccount", "pathreasoner-serving")
    assert [s["name"] for s in serving["secrets"]] == ["s3-credentials"]
    annotations = serving["metadata"]["annotations"]
    config = find(docs, "ConfigMap", "pathreasoner-endpoints")["data"]
    assert f"http://{annotations['serving.kserve.io/s3-endpoint']}" == config["AWS_ENDPOINT_URL"]
    assert annotations["serving.kserve.io/s3-usehttps"] == "0"
    assert annotations["serving.kserve.io/s3-region"] == config["AWS_DEFAULT_REGION"]
    assert inference_service["metadata"]["namespace"] == NAMESPACE
    assert inference_service["spec"]["predictor"]["serviceAccountName"] == "pathreasoner-serving"


def test_trainjob_pods_identity_has_no_api_access(rendered: dict[str, list[Doc]]) -> None:
    from pathreasoner.config import Config

    docs = rendered["dev"]
    name = Config().launcher.service_account  # what TrainJobLauncher puts in its runtime patch
    trainer = find(docs, "ServiceAccount", name)
    assert trainer["automountServiceAccountToken"] is False
    bound = {
        s["name"] for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding") for s in d["subjects"]
    }
    assert name not in bound


def test_bucket_job_creates_the_artifact_bucket(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    job = pod_spec(find(docs, "Job", "minio-create-buckets"))["containers"][0]
    env = {e["name"]: e.get("value") for e in job["env"]}
    destination = find(docs, "ConfigMap", "pathreasoner-endpoints")["data"]["MLFLOW_ARTIFACTS_DESTINATION"]
    assert urlsplit(destination).netloc in env["BUCKETS"].split()
    assert "mc mb --ignore-existing" in job["args"][0]
    assert job["image"].startswith("quay.io/minio/mc:")


@pytest.mark.parametrize("overlay", [*OVERLAYS, "base"])
def test_every_core_object_validates_strictly(rendered: dict[str, list[Doc]], overlay: str) -> None:
    """kubernetes-validate knows every kind the overlays render (no CRD needed) and finds no problem."""
    report = validate_all(rendered[overlay], crds=None)
    assert report.problems == []
    assert sum(report.core.values()) == len(rendered[overlay]) and not report.custom
    print(f"{overlay}: {len(rendered[overlay])} objects, {dict(sorted(report.core.items()))}")


def test_inference_service_validates_against_its_crd(crds: CrdSchemas, inference_service: Doc) -> None:
    report = validate_all([inference_service], crds)
    assert (report.problems, report.custom) == ([], {"InferenceService": 1})


def test_validation_reports_typos_wrong_types_and_unknown_kinds(
    rendered: dict[str, list[Doc]], crds: CrdSchemas
) -> None:
    docs = rendered["dev"]
    typo = copy.deepcopy(find(docs, "Deployment", "mlflow"))
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    wrong_type = copy.deepcopy(find(docs, "Service", "mlflow"))
    wrong_type["spec"]["ports"][0]["port"] = "five-thousand"
    probe_typo = copy.deepcopy(find(docs, "StatefulSet", "postgres"))
    probe_typo["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["periodSecond"] = 5
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    report = validate_all([typo, wrong_type, probe_typo, unknown], crds)
    assert len(report.problems) == 4, report.problems
    assert report.problems[0].startswith("Deployment/pathreasoner/mlflow: spec:")
    assert "'replica' was unexpected" in report.problems[0]
    assert report.problems[1].startswith("Service/pathreasoner/mlflow: spec.ports.0.port:")
    assert "'periodSecond' was unexpected" in report.problems[2]
    assert report.problems[3] == (
        "Widget/w: no schema for example.com/v1/Widget (neither built in nor a known CRD)"
    )
