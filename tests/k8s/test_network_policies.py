"""Deny by default: every flow the stack needs is allowed by some policy, and nothing else is.

Pods come from the rendered workloads (their template labels and container ports) and, for pods
that controllers create, from the labels those controllers set: KFP v2 pipeline pods, the KServe
predictor of serving/inferenceservice.yaml (its storage-initializer runs in the same pod), Kubeflow
Trainer (JobSet) pods, the ingress controller, CoreDNS.
"""

from __future__ import annotations

import pytest

from tests.k8s.conftest import OVERLAYS
from tests.k8s.kube import Doc
from tests.k8s.netpol import Pod, allowed, selects

NS = "pathreasoner"
PIPELINE = Pod(
    "kfp-step", NS, {"pipelines.kubeflow.org/v2_component": "true", "workflows.argoproj.io/workflow": "w"}
)
TRAINER = Pod(
    "trainjob-node-0",
    NS,
    {"jobset.sigs.k8s.io/jobset-name": "sft", "batch.kubernetes.io/job-completion-index": "0"},
)
TRAINER_PEER = Pod(
    "trainjob-node-1",
    NS,
    {"jobset.sigs.k8s.io/jobset-name": "sft", "batch.kubernetes.io/job-completion-index": "1"},
)
INGRESS = Pod("ingress-nginx-controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"})
KFP_API = Pod("ml-pipeline", "kubeflow", {"app": "ml-pipeline"})
API_SERVER = Pod("kube-apiserver", "default", ip="10.96.0.1")
INTERNET = Pod("example.org", "", ip="93.184.215.14")
STRANGER = Pod(
    "other-app", "other-team", {"app.kubernetes.io/name": "mlflow"}
)  # same labels, other namespace


def stack(docs: list[Doc], isvc: Doc) -> dict[str, Pod]:
    """One Pod per rendered workload (keyed by its name), plus the predictor of the InferenceService."""
    pods = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = doc["spec"]["template"]
            ports = {
                p["name"]: p["containerPort"]
                for c in template["spec"]["containers"]
                for p in c.get("ports", [])
                if "name" in p
            }
            pods[doc["metadata"]["name"]] = Pod(
                doc["metadata"]["name"], doc["metadata"]["namespace"], template["metadata"]["labels"], ports
            )
    (container,) = isvc["spec"]["predictor"]["containers"]
    pods["predictor"] = Pod(
        "predictor",
        isvc["metadata"]["namespace"],
        {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"], "component": "predictor"},
        {p["name"]: p["containerPort"] for p in container["ports"]},
    )
    return pods


def service_port(docs: list[Doc], service: str, pods: dict[str, Pod]) -> tuple[Pod, int]:
    """The pod behind a Service and the container port its first port forwards to."""
    (svc,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == service]
    (pod,) = [
        p
        for p in pods.values()
        if p.namespace == svc["metadata"]["namespace"]
        and selects({"matchLabels": svc["spec"]["selector"]}, p.labels)
    ]
    target = svc["spec"]["ports"][0]["targetPort"]
    return pod, pod.ports[target] if isinstance(target, str) else target


@pytest.fixture(params=OVERLAYS)
def world(
    request: pytest.FixtureRequest, rendered: dict[str, list[Doc]], inference_service: Doc
) -> tuple[list[Doc], dict[str, Pod], list[Doc]]:
    docs = rendered[request.param]
    return docs, stack(docs, inference_service), [d for d in docs if d["kind"] == "NetworkPolicy"]


def test_default_deny_selects_every_pod_both_ways(rendered: dict[str, list[Doc]]) -> None:
    for overlay in OVERLAYS:
        (deny,) = [
            d
            for d in rendered[overlay]
            if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "default-deny-all"
        ]
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_every_needed_flow_is_allowed(world: tuple[list[Doc], dict[str, Pod], list[Doc]]) -> None:
    docs, pods, policies = world
    postgres, pg_port = service_port(docs, "postgres", pods)
    minio, s3_port = service_port(docs, "minio", pods)
    mlflow, mlflow_port = service_port(docs, "mlflow", pods)
    predictor = pods["predictor"]
    needed = [
        (pods["mlflow"], postgres, pg_port),
        (pods["mlflow"], minio, s3_port),
        (pods["minio-create-buckets"], minio, s3_port),
        (pods["mlflow-create-users"], mlflow, mlflow_port),
        (PIPELINE, minio, s3_port),
        (PIPELINE, mlflow, mlflow_port),
        (PIPELINE, KFP_API, 8887),
        (PIPELINE, API_SERVER, 443),
        (predictor, minio, s3_port),  # the storage-initializer
        (predictor, mlflow, mlflow_port),
        (TRAINER, minio, s3_port),
        (TRAINER, mlflow, mlflow_port),
        (TRAINER, TRAINER_PEER, 29500),  # torch.distributed rendezvous
        (INGRESS, mlflow, mlflow_port),
        (INGRESS, predictor, predictor.ports["http1"]),
    ]
    refused = [(s.name, d.name, port) for s, d, port in needed if not allowed(policies, s, d, port)]
    assert refused == []
    for pod in [*pods.values(), PIPELINE, TRAINER]:
        assert allowed(policies, pod, DNS, 53, "UDP") and allowed(policies, pod, DNS, 53, "TCP"), pod.name


def test_everything_else_is_denied(world: tuple[list[Doc], dict[str, Pod], list[Doc]]) -> None:
    docs, pods, policies = world
    postgres, pg_port = service_port(docs, "postgres", pods)
    minio, s3_port = service_port(docs, "minio", pods)
    mlflow, mlflow_port = service_port(docs, "mlflow", pods)
    predictor = pods["predictor"]
    forbidden = [
        (PIPELINE, postgres, pg_port),
        (predictor, postgres, pg_port),
        (TRAINER, postgres, pg_port),
        (INGRESS, minio, s3_port),
        (INGRESS, postgres, pg_port),
        (STRANGER, mlflow, mlflow_port),
        (STRANGER, minio, s3_port),
        (pods["minio"], mlflow, mlflow_port),
        (pods["postgres"], minio, s3_port),
        (pods["mlflow-create-users"], minio, s3_port),
        (pods["minio-create-buckets"], mlflow, mlflow_port),
        (PIPELINE, minio, pods["minio"].ports["console"]),
        (pods["mlflow"], INTERNET, 443),
        (predictor, API_SERVER, 443),
        (pods["postgres"], DNS, 5353),
        (PIPELINE, predictor, predictor.ports["http1"]),
        (TRAINER, Pod("elsewhere", "other-team", {"jobset.sigs.k8s.io/jobset-name": "x"}), 29500),
    ]
    admitted = [(s.name, d.name, port) for s, d, port in forbidden if allowed(policies, s, d, port)]
    assert admitted == []


def test_every_policy_selects_pods_that_exist(world: tuple[list[Doc], dict[str, Pod], list[Doc]]) -> None:
    """A selector with a typo would select nothing and silently drop a flow: each one matches a pod."""
    _, pods, policies = world
    everyone = [*pods.values(), PIPELINE, TRAINER, INGRESS, DNS]
    for policy in policies:
        spec = policy["spec"]
        assert any(selects(spec["podSelector"], p.labels) for p in everyone if p.namespace == NS), policy[
            "metadata"
        ]["name"]
        for rule in [*spec.get("ingress", []), *spec.get("egress", [])]:
            for peer in rule.get("from", rule.get("to", [])):
                if "ipBlock" in peer:
                    continue
                assert any(
                    selects(peer.get("namespaceSelector"), p.ns_labels)
                    if "namespaceSelector" in peer
                    else p.namespace == NS
                    for p in [*everyone, KFP_API]
                    if "podSelector" not in peer or selects(peer["podSelector"], p.labels)
                ), (policy["metadata"]["name"], peer)
