"""`pathreasoner deploy`: put a registered version on KServe.

1. ``resolve_target``: alias (default ``champion``) or version -> the checkpoint's ``s3://`` prefix
   (``registry.mlflow_registry.storage_uri``) and its lineage (model name/version/alias, data and KG
   versions, git sha, register run).
2. ``render_objects``: the InferenceService of our predictor image, or (``runtime="vllm"``) of KServe's
   Hugging Face runtime with the vLLM backend. A canary is ``canaryTrafficPercent`` in Knative mode; in
   Standard mode a second InferenceService ``<name>-canary`` plus an HTTPRoute splitting the traffic.
   A deploy without canary in Standard mode removes a previous canary and its route (promotion).
3. ``apply_objects``: create-or-replace with the ``kubernetes`` client, strict field validation by the
   API server (the CRD schema); in a pod its ServiceAccount, elsewhere the kubeconfig.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pathreasoner.config import Config
from pathreasoner.errors import ServingError
from pathreasoner.kube_errors import api_error_message
from pathreasoner.serve.manifest import (
    check_canary,
    render_inference_service,
    render_traffic_split,
    render_vllm_service,
)

RUNTIMES = ("predictor", "vllm")
# lineage tags of a registered version (registry.mlflow_registry.register_model) copied onto the service
_LINEAGE_TAGS = (
    "run_id",
    "git_sha",
    "config_hash",
    "data_version",
    "kg_version",
    "kfp_run_id",
    "image_digest",
)
# kind -> (group, version, plural) of the objects deploy writes
_KINDS = {
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "HTTPRoute": ("gateway.networking.k8s.io", "v1", "httproutes"),
}


@dataclass(frozen=True)
class Target:
    """A registered version as KServe needs it."""

    name: str
    version: str
    alias: str | None
    storage_uri: str
    lineage: dict[str, str]


@dataclass
class DeployResult:
    """What deploy rendered and, with apply, did to each object (created, replaced, deleted)."""

    target: Target
    objects: list[dict[str, Any]]
    actions: list[str] = field(default_factory=list)

    def line(self) -> str:
        alias = f" ({self.target.alias})" if self.target.alias else ""
        done = "; ".join(self.actions) or "rendered only (dry run)"
        return f"deploy: {self.target.name} v{self.target.version}{alias} -> {done}"


def resolve_target(cfg: Config, alias: str | None = "champion", version: str | None = None) -> Target:
    """The version an alias (or an explicit version) points at, with its s3:// checkpoint prefix."""
    if not alias and not version:
        raise ServingError("deploy needs an alias or a version; pass --alias champion or --version N")
    from pathreasoner.registry.mlflow_registry import resolve_version, storage_uri

    name = cfg.registry.model_name
    mv = resolve_version(f"models:/{name}/{version}" if version else f"models:/{name}@{alias}", cfg)
    pinned = f"models:/{mv.name}/{mv.version}"  # the version resolved now, even if the alias moves meanwhile
    uri = storage_uri(pinned, cfg)
    tags = dict(getattr(mv, "tags", None) or {})
    lineage = {"model-name": mv.name, "model-version": str(mv.version), "storage-uri": uri}
    if (
        alias
    ):  # with `version`, the caller's word that it is the alias's version (pipeline, rollback --deploy)
        lineage["model-alias"] = alias
    lineage.update({key.replace("_", "-"): tags[key] for key in _LINEAGE_TAGS if tags.get(key)})
    return Target(mv.name, str(mv.version), alias, uri, lineage)


def service_name(cfg: Config, runtime: str) -> str:
    """The stable InferenceService name of a runtime: serving.model_name, or <model_name>-vllm."""
    if runtime not in RUNTIMES:
        raise ServingError(
            f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}; pass --runtime predictor|vllm"
        )
    return cfg.serving.model_name if runtime == "predictor" else f"{cfg.serving.model_name}-vllm"


def render_objects(
    cfg: Config, target: Target, runtime: str = "predictor", canary: int | None = None
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(objects to write, (kind, name) of objects to remove) for a deploy of `target`."""
    if canary is not None:
        check_canary(canary)
    stable = service_name(cfg, runtime)
    namespace = cfg.serving.namespace

    def isvc(name: str, percent: int | None) -> dict[str, Any]:
        common = {
            "name": name,
            "namespace": namespace,
            "service_account": cfg.serving.service_account,
            "lineage": target.lineage,
            "canary_percent": percent,
        }
        if runtime == "vllm":
            return render_vllm_service(cfg, target.storage_uri, **common)
        return render_inference_service(cfg, target.storage_uri, cfg.pipeline.images.serving, **common)

    canary_name = f"{stable}-canary"
    leftovers = [("InferenceService", canary_name), ("HTTPRoute", f"{stable}-split")]
    if cfg.serving.deployment_mode == "Knative":
        return [isvc(stable, canary)], []  # KServe keeps the previous revision for the rest of the traffic
    if canary is None:
        return [isvc(stable, None)], leftovers  # the full rollout ends any canary
    split = render_traffic_split(cfg, stable, canary_name, canary, namespace)
    return [isvc(canary_name, None), split], []


def _api() -> Any:
    """CustomObjectsApi: in a pod its ServiceAccount, elsewhere the kubeconfig."""
    from kubernetes import client, config

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    except config.ConfigException as exc:
        raise ServingError(
            f"no Kubernetes access to deploy: {exc}; run in the cluster or set KUBECONFIG, or use --dry-run"
        ) from None
    return client.CustomObjectsApi(client.ApiClient())


def _api_error(exc: Any, what: str) -> ServingError:
    hints = {
        403: "the identity may not do this; apply k8s/base/rbac.yaml (Role pathreasoner-pipeline)",
        404: "is KServe installed (InferenceService CRD) and, for a Standard-mode canary, the Gateway API?",
        422: "the object was rejected as invalid against the CRD; check the serving.* settings",
    }
    return ServingError(api_error_message(exc, what, hints, "check the cluster and serving.namespace"))


def apply_objects(
    objects: list[dict[str, Any]], remove: list[tuple[str, str]], namespace: str, api: Any = None
) -> list[str]:
    """Create or replace each object (strict field validation), delete the `remove` ones if present."""
    from kubernetes.client.exceptions import ApiException

    api = api or _api()
    actions = []
    for doc in objects:
        group, version, plural = _KINDS[doc["kind"]]
        name = doc["metadata"]["name"]
        what = f"{doc['kind']} {namespace}/{name}"
        try:
            try:
                current = api.get_namespaced_custom_object(group, version, namespace, plural, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                api.create_namespaced_custom_object(
                    group, version, namespace, plural, doc, field_validation="Strict"
                )
                actions.append(f"{what} created")
                continue
            body = {
                **doc,
                "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
            }
            api.replace_namespaced_custom_object(
                group, version, namespace, plural, name, body, field_validation="Strict"
            )
            actions.append(f"{what} replaced")
        except ApiException as exc:
            raise _api_error(exc, f"apply {what}") from None
    for kind, name in remove:
        group, version, plural = _KINDS[kind]
        try:
            api.delete_namespaced_custom_object(group, version, namespace, plural, name)
            actions.append(f"{kind} {namespace}/{name} deleted")
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(exc, f"delete {kind} {namespace}/{name}") from None
    return actions


def deploy(
    cfg: Config,
    alias: str | None = "champion",
    *,
    version: str | None = None,
    runtime: str = "predictor",
    canary: int | None = None,
    apply: bool = False,
) -> DeployResult:
    """Resolve, render and (with `apply`) write the serving objects of a registered version."""
    if canary is not None:
        check_canary(canary)  # before any registry call
    service_name(cfg, runtime)
    target = resolve_target(cfg, alias, version)
    objects, remove = render_objects(cfg, target, runtime, canary)
    result = DeployResult(target, objects)
    if apply:
        api = _api()
        if canary is not None and cfg.serving.deployment_mode == "Standard":
            _require_stable(api, cfg.serving.namespace, service_name(cfg, runtime))
        result.actions = apply_objects(objects, remove, cfg.serving.namespace, api)
    return result


def _require_stable(api: Any, namespace: str, name: str) -> None:
    """A Standard-mode canary splits traffic with the stable InferenceService: it must exist."""
    from kubernetes.client.exceptions import ApiException

    group, version, plural = _KINDS["InferenceService"]
    try:
        api.get_namespaced_custom_object(group, version, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            raise ServingError(
                f"no InferenceService {namespace}/{name} to split traffic with; deploy without --canary first"
            ) from None
        raise _api_error(exc, f"read InferenceService {namespace}/{name}") from None
