"""Render the kustomize manifests under k8s/ and validate them offline.

Rendering uses ``kubectl kustomize`` when kubectl is on PATH; otherwise a small built-in renderer that
covers what this repository uses (resources, namespace, labels/commonLabels, strategic-merge patches)
and refuses everything else with an :class:`UnsupportedKustomizeFeature` error.

Validation: built-in kinds against the Kubernetes JSON schemas shipped by ``kubernetes-validate``
(strict: unknown fields are errors); custom kinds (KServe, Kubeflow Trainer) against their
CustomResourceDefinition's openAPIV3Schema, made strict the way ``kubectl --validate=strict`` is.
"""

from __future__ import annotations

import copy
import functools
import logging
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import jsonschema
import kubernetes_validate
import yaml

from pathreasoner.errors import PathReasonerError

logger = logging.getLogger(__name__)

Doc = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KUSTOMIZATION_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "labels",
        "commonLabels",
        "patches",
        "patchesStrategicMerge",
    }
)

# API groups served by kube-apiserver itself (kubernetes-validate ships their schemas).
BUILTIN_API_GROUPS = frozenset(
    {
        "", "apps", "batch", "policy", "autoscaling", "extensions", "admissionregistration.k8s.io",
        "apiextensions.k8s.io", "apiregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
        "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
        "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
        "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)  # fmt: skip

# kustomize's resid.NotNamespaceableKinds (the namespace transformer leaves these alone).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "Cluster", "ClusterRole",
        "ClusterRoleBinding", "ComponentStatus", "CustomResourceDefinition", "MutatingWebhookConfiguration",
        "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "RuntimeClass",
        "SelfSubjectAccessReview", "SelfSubjectRulesReview", "StorageClass", "SubjectAccessReview",
        "TokenReview", "ValidatingWebhookConfiguration", "VolumeAttachment",
    }
)  # fmt: skip
# Kinds whose service references kustomize's namespace transformer rewrites; not re-implemented here.
NAMESPACE_REFERENCING_KINDS = frozenset(
    {
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    }
)

# kustomize's legacy output order (resid/gvk.go): these kinds first / last, the rest by group_version_kind.
ORDER_FIRST = (
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
    "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
    "StatefulSet", "CronJob", "PodDisruptionBudget",
)  # fmt: skip
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

# Label field specs, as (kinds or None for all, path, create-if-missing). A path segment that meets a
# list applies to every element. Templates = what `labels: includeTemplates` touches; selectors = the
# extra fields that `commonLabels` / `labels: includeSelectors` touch (checked against kubectl).
_WORKLOADS = frozenset(
    {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "ReplicationController", "Job"}
)
_POD_SPEC_SELECTORS = (
    ("affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "labelSelector", "matchLabels"),
    ("affinity", "podAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "podAffinityTerm",
     "labelSelector", "matchLabels"),
    ("affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "labelSelector",
     "matchLabels"),
    ("affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "podAffinityTerm",
     "labelSelector", "matchLabels"),
    ("topologySpreadConstraints", "labelSelector", "matchLabels"),
)  # fmt: skip
FieldSpec = tuple[frozenset[str] | None, tuple[str, ...], bool]
METADATA_LABELS: tuple[FieldSpec, ...] = ((None, ("metadata", "labels"), True),)
TEMPLATE_LABELS: tuple[FieldSpec, ...] = (
    (_WORKLOADS, ("spec", "template", "metadata", "labels"), True),
    (frozenset({"StatefulSet"}), ("spec", "volumeClaimTemplates", "metadata", "labels"), True),
    (frozenset({"CronJob"}), ("spec", "jobTemplate", "metadata", "labels"), True),
    (frozenset({"CronJob"}), ("spec", "jobTemplate", "spec", "template", "metadata", "labels"), True),
)
SELECTOR_LABELS: tuple[FieldSpec, ...] = (
    (frozenset({"Service", "ReplicationController"}), ("spec", "selector"), True),
    (_WORKLOADS - {"Job", "ReplicationController"}, ("spec", "selector", "matchLabels"), True),
    (frozenset({"Job"}), ("spec", "selector", "matchLabels"), False),
    (frozenset({"CronJob"}), ("spec", "jobTemplate", "spec", "selector", "matchLabels"), False),
    (frozenset({"PodDisruptionBudget"}), ("spec", "selector", "matchLabels"), False),
    (frozenset({"NetworkPolicy"}), ("spec", "podSelector", "matchLabels"), False),
    (frozenset({"NetworkPolicy"}), ("spec", "ingress", "from", "podSelector", "matchLabels"), False),
    (frozenset({"NetworkPolicy"}), ("spec", "egress", "to", "podSelector", "matchLabels"), False),
    # kustomize rewrites pod (anti-)affinity and spread selectors of these two kinds only
    *((frozenset({"Deployment", "StatefulSet"}), ("spec", "template", "spec", *p), False)
      for p in _POD_SPEC_SELECTORS),
)  # fmt: skip

# libyaml's loader when available: the KServe CRD is 2 MB (about 4 s with the pure-Python loader).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Strategic-merge keys of built-in list fields (the patchMergeKey of the Kubernetes API types).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
}


class ManifestError(PathReasonerError):
    """A Kubernetes manifest or kustomization cannot be rendered or checked."""


class UnsupportedKustomizeFeature(ManifestError):
    """The kustomization uses a feature the built-in renderer does not implement (use kubectl)."""


# ----------------------------------------------------------------------------------------- loading


def load_yaml_docs(path: Path | str) -> list[Doc]:
    """All non-empty YAML documents of a file; each must be a mapping with apiVersion and kind."""
    path = Path(path)
    try:
        docs = [
            d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) if d is not None
        ]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({exc}); fix the syntax") from exc
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise ManifestError(
                f"{path}: document {i} is not a Kubernetes object (got {str(doc)[:80]!r}); "
                "every document needs apiVersion, kind and metadata"
            )
    return docs


def doc_id(doc: Doc) -> str:
    """`Kind/name` (with `namespace/` in front when set) for messages."""
    meta = doc.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc.get('kind')}/{ns}{meta.get('name')}"


def api_group(api_version: str) -> str:
    """`apps/v1` -> `apps`; `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]


def is_builtin_api(api_version: str) -> bool:
    """True for Kubernetes' own API groups, False for groups served by CRDs (KServe, Trainer, Gateway API)."""
    return api_group(api_version) in BUILTIN_API_GROUPS


# --------------------------------------------------------------------------------------- rendering


def render_kustomize(path: Path | str, renderer: Literal["auto", "kubectl", "builtin"] = "auto") -> list[Doc]:
    """Render a kustomization directory to a list of objects.

    `auto` uses ``kubectl kustomize`` when kubectl is on PATH, else the built-in renderer.
    """
    path = Path(path)
    if renderer not in ("auto", "kubectl", "builtin"):
        raise ManifestError(f"renderer={renderer!r} is unknown; use 'auto', 'kubectl' or 'builtin'")
    if renderer == "auto":
        renderer = "kubectl" if shutil.which("kubectl") else "builtin"
    logger.debug("rendering %s with the %s renderer", path, renderer)
    docs = render_with_kubectl(path) if renderer == "kubectl" else render_builtin(path)
    logger.info("rendered %s: %d objects", path, len(docs))
    return docs


def render_with_kubectl(path: Path | str, timeout_s: float = 120.0) -> list[Doc]:
    """``kubectl kustomize <path>`` (works offline), parsed into objects."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ManifestError(
            "kubectl is not on PATH; install kubectl or call render_kustomize(renderer='builtin')"
        )
    proc = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        raise ManifestError(
            f"kubectl kustomize {path} failed (exit {proc.returncode}): {proc.stderr.strip()}"
        )
    return [d for d in yaml.load_all(proc.stdout, Loader=_YAML_LOADER) if d is not None]


def render_builtin(path: Path | str) -> list[Doc]:
    """The built-in renderer: the subset of kustomize this repository uses, in kustomize's output order."""
    return sort_like_kustomize(_build(Path(path).resolve(), ()))


def sort_like_kustomize(docs: Iterable[Doc]) -> list[Doc]:
    """kustomize's legacy order: Namespace, quota, RBAC, config, services, workloads ..., webhooks last."""
    rank = {kind: i - len(ORDER_FIRST) for i, kind in enumerate(ORDER_FIRST)}
    rank.update({kind: i + 1 for i, kind in enumerate(ORDER_LAST)})

    def key(doc: Doc) -> tuple[int, str, str, str]:
        group, _, version = doc["apiVersion"].rpartition("/")
        gvk = "_".join((group or "~G", version or "~V", doc["kind"]))
        meta = doc.get("metadata") or {}
        return rank.get(doc["kind"], 0), gvk, meta.get("namespace") or "", meta.get("name") or ""

    return sorted(docs, key=key)


def _find_kustomization(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    raise ManifestError(
        f"{directory}: no kustomization.yaml found; point at a kustomize base or overlay directory"
    )


def _build(directory: Path, stack: tuple[Path, ...]) -> list[Doc]:
    if directory in stack:
        raise ManifestError(f"{directory}: kustomization cycle {' -> '.join(map(str, (*stack, directory)))}")
    kfile = _find_kustomization(directory)
    spec = yaml.load(kfile.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise UnsupportedKustomizeFeature(
            f"{kfile}: kind {spec.get('kind')!r} is not supported by the built-in renderer; use kubectl kustomize"
        )
    unknown = sorted(set(spec) - SUPPORTED_KUSTOMIZATION_KEYS)
    if unknown:
        raise UnsupportedKustomizeFeature(
            f"{kfile}: fields {unknown} are not supported by the built-in renderer (it handles "
            f"{sorted(SUPPORTED_KUSTOMIZATION_KEYS)}); install kubectl to render this kustomization"
        )
    docs: list[Doc] = []
    for entry in spec.get("resources") or []:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            raise UnsupportedKustomizeFeature(f"{kfile}: remote resource {entry!r} needs kubectl kustomize")
        target = (directory / entry).resolve()
        if target.is_dir():
            docs.extend(_build(target, (*stack, directory)))
        elif target.is_file():
            docs.extend(load_yaml_docs(target))
        else:
            raise ManifestError(f"{kfile}: resource {entry!r} does not exist ({target}); fix the path")
    _check_unique(docs, kfile)
    for patch in _load_patches(spec, directory, kfile):
        _apply_patch(docs, patch, kfile)
    if spec.get("namespace"):
        for doc in docs:
            _set_namespace(doc, spec["namespace"], kfile)
    _apply_labels(docs, spec, kfile)
    return docs


def _check_unique(docs: list[Doc], kfile: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for doc in docs:
        meta = doc.get("metadata") or {}
        key = (api_group(doc["apiVersion"]), doc["kind"], meta.get("namespace") or "", meta.get("name") or "")
        if key in seen:
            raise ManifestError(f"{kfile}: {doc_id(doc)} is listed twice; remove one of the resources")
        seen.add(key)


def _load_patches(spec: dict[str, Any], directory: Path, kfile: Path) -> list[Doc]:
    sources: list[tuple[str, str]] = []  # (label for messages, yaml text)
    for item in spec.get("patchesStrategicMerge") or []:
        if isinstance(item, str) and "\n" not in item and (directory / item).is_file():
            sources.append((item, (directory / item).read_text(encoding="utf-8")))
        else:
            sources.append(("inline patch", str(item)))
    for item in spec.get("patches") or []:
        extra = sorted(set(item) - {"path", "patch"})
        if extra:
            raise UnsupportedKustomizeFeature(
                f"{kfile}: patch option(s) {extra} (target selectors, JSON6902 options) are not supported by "
                "the built-in renderer; write a strategic-merge patch naming kind and metadata.name, or use kubectl"
            )
        if "path" in item:
            file = directory / item["path"]
            if not file.is_file():
                raise ManifestError(f"{kfile}: patch file {item['path']!r} does not exist; fix the path")
            sources.append((item["path"], file.read_text(encoding="utf-8")))
        else:
            sources.append(("inline patch", item.get("patch") or ""))
    patches: list[Doc] = []
    for label, text in sources:
        for doc in yaml.load_all(text, Loader=_YAML_LOADER):
            if doc is None:
                continue
            if not isinstance(doc, dict) or not {"apiVersion", "kind"} <= set(doc):
                raise UnsupportedKustomizeFeature(
                    f"{kfile}: {label} is not a strategic-merge patch (JSON6902 operation lists need kubectl); "
                    "write it as a partial object with apiVersion, kind and metadata.name"
                )
            patches.append(doc)
    return patches


def _apply_patch(docs: list[Doc], patch: Doc, kfile: Path) -> None:
    meta = patch.get("metadata") or {}
    if not meta.get("name"):
        raise ManifestError(f"{kfile}: patch for kind {patch['kind']} has no metadata.name; name the target")
    matches = [
        d for d in docs
        if d["kind"] == patch["kind"]
        and api_group(d["apiVersion"]) == api_group(patch["apiVersion"])
        and (d.get("metadata") or {}).get("name") == meta["name"]
        and (not meta.get("namespace") or (d.get("metadata") or {}).get("namespace") == meta["namespace"])
    ]  # fmt: skip
    if len(matches) != 1:
        found = "nothing" if not matches else f"{len(matches)} objects"
        raise ManifestError(
            f"{kfile}: patch {doc_id(patch)} matches {found}; it must name exactly one resource of the build"
        )
    _merge_dict(matches[0], patch, builtin=is_builtin_api(patch["apiVersion"]), where=doc_id(patch))


def _merge_dict(base: dict[str, Any], patch: dict[str, Any], builtin: bool, where: str) -> dict[str, Any]:
    for key, value in patch.items():
        if key.startswith("$"):
            raise UnsupportedKustomizeFeature(
                f"patch {where}: directive {key!r} is not supported by the built-in renderer; use kubectl"
            )
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_dict(base[key], value, builtin, where)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            base[key] = _merge_list(key, base[key], value, builtin, where)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _merge_list(field: str, base: list[Any], patch: list[Any], builtin: bool, where: str) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field == "ports":  # container ports merge on containerPort, Service ports on port
        key = (
            "containerPort"
            if any(isinstance(i, dict) and "containerPort" in i for i in base + patch)
            else "port"
        )
    if not builtin or key is None or not all(isinstance(i, dict) for i in base + patch):
        return copy.deepcopy(patch)  # lists without a merge key are replaced, as kustomize does
    # Like kustomize: the patch's items first (merged into their originals), then the untouched originals.
    merged = []
    for item in patch:
        if any(k.startswith("$") for k in item):
            raise UnsupportedKustomizeFeature(
                f"patch {where}: list directive in {field!r} is not supported by the built-in renderer; use kubectl"
            )
        original = next((b for b in base if b.get(key) == item.get(key)), None)
        merged.append(_merge_dict(original, item, builtin, where) if original else copy.deepcopy(item))
    patched = {item.get(key) for item in patch}
    return merged + [b for b in base if b.get(key) not in patched]


def _set_namespace(doc: Doc, namespace: str, kfile: Path) -> None:
    kind = doc["kind"]
    if kind in NAMESPACE_REFERENCING_KINDS:
        raise UnsupportedKustomizeFeature(
            f"{kfile}: {doc_id(doc)}: the namespace transformer also rewrites service references in {kind}; "
            "the built-in renderer does not, use kubectl kustomize"
        )
    meta = doc.setdefault("metadata", {})
    if kind == "Namespace":
        meta["name"] = namespace  # kustomize renames Namespace objects to the target namespace
    elif kind not in CLUSTER_SCOPED_KINDS:
        meta["namespace"] = namespace
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        for subject in doc.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and subject.get("name") == "default":
                subject["namespace"] = namespace


def _apply_labels(docs: list[Doc], spec: dict[str, Any], kfile: Path) -> None:
    groups: list[tuple[dict[str, str], tuple[FieldSpec, ...]]] = []
    if spec.get("commonLabels"):
        groups.append((spec["commonLabels"], METADATA_LABELS + TEMPLATE_LABELS + SELECTOR_LABELS))
    for entry in spec.get("labels") or []:
        extra = sorted(set(entry) - {"pairs", "includeSelectors", "includeTemplates"})
        if extra:
            raise UnsupportedKustomizeFeature(
                f"{kfile}: labels option(s) {extra} are not supported by the built-in renderer; use kubectl"
            )
        specs = METADATA_LABELS
        if entry.get("includeSelectors"):
            specs = METADATA_LABELS + TEMPLATE_LABELS + SELECTOR_LABELS
        elif entry.get("includeTemplates"):
            specs = METADATA_LABELS + TEMPLATE_LABELS
        groups.append((entry.get("pairs") or {}, specs))
    for pairs, specs in groups:
        values = {str(k): str(v) for k, v in pairs.items()}
        for doc in docs:
            for kinds, path, create in specs:
                if kinds is None or doc["kind"] in kinds:
                    _set_labels(doc, path, values, create)


def _set_labels(node: Any, path: tuple[str, ...], labels: dict[str, str], create: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _set_labels(item, path, labels, create)
        return
    if not isinstance(node, dict):
        return
    head, rest = path[0], path[1:]
    if head not in node or node[head] is None:
        if not create or head == "volumeClaimTemplates":  # kustomize creates maps, never lists
            return
        node[head] = {}
    if rest:
        _set_labels(node[head], rest, labels, create)
    elif isinstance(node[head], dict):
        node[head].update(labels)


# -------------------------------------------------------------------------------------- validation


def validate_builtin(docs: Iterable[Doc], k8s_version: str = "1.33") -> list[str]:
    """Strictly validate every built-in-kind object with kubernetes-validate; returns the problems.

    Objects of custom API groups (CRDs) are skipped here: check them with `validate_against_crd`.
    A built-in kind without a schema (typo'd kind, removed apiVersion) is a problem. kubernetes-validate
    stops at the first error of an object, so each object yields at most one problem.
    """
    problems: list[str] = []
    for doc in docs:
        if not is_builtin_api(str(doc.get("apiVersion", ""))):
            continue
        try:
            kubernetes_validate.validate(doc, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "<root>"
            problems.append(f"{doc_id(doc)}: {where}: {exc.message} (kubernetes {exc.version}, strict)")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(
                f"{doc_id(doc)}: no schema for kind {exc.kind} {exc.api_version} in kubernetes {exc.version}; "
                "check kind and apiVersion"
            )
        except kubernetes_validate.VersionNotSupportedError as exc:
            raise ManifestError(
                f"k8s_version={k8s_version!r} is not supported by kubernetes-validate "
                f"{kubernetes_validate.__version__}; use one of {kubernetes_validate.utils.all_versions()}"
            ) from exc
    return problems


def validate_against_crd(doc: Doc, crd_path: Path | str) -> list[str]:
    """Validate a custom resource against its CRD, rejecting unknown fields; returns all problems found.

    `crd_path` is a YAML file holding the CustomResourceDefinition (others in the same file are ignored).
    Not covered (as with any offline check): CEL `x-kubernetes-validations`, defaulting, integer bounds.
    """
    crd_path = Path(crd_path)
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    crds = _load_crds(str(crd_path.resolve()))
    if not crds:
        raise ManifestError(f"{crd_path}: no CustomResourceDefinition in this file; pass the CRD YAML")
    crd = next(
        (c for c in crds if (c["spec"]["group"], c["spec"]["names"]["kind"]) == (group, doc.get("kind"))),
        None,
    )
    if crd is None:
        defined = [f"{c['spec']['group']}/{c['spec']['names']['kind']}" for c in crds]
        return [
            f"{doc_id(doc)}: apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r} is not a kind "
            f"defined by {crd_path.name} ({', '.join(defined)})"
        ]
    schemas = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in schemas or not schemas[version].get("served", False):
        served = sorted(n for n, v in schemas.items() if v.get("served", False))
        return [f"{doc_id(doc)}: version {version!r} is not served by {crd_path.name}; use one of {served}"]
    validator = _strict_crd_validator(str(crd_path.resolve()), group, doc["kind"], version)
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path) or "<root>"
        problems.append(f"{doc_id(doc)}: {where}: {err.message} ({crd_path.name} {version}, strict)")
    return problems


def validate_docs(
    docs: Iterable[Doc], crd_dir: Path | str | None = None, k8s_version: str = "1.33"
) -> list[str]:
    """Built-in kinds via kubernetes-validate; custom kinds via the CRD for their group/kind in `crd_dir`.

    A custom kind with no CRD in `crd_dir` is a problem; without `crd_dir` custom kinds are not checked.
    """
    docs = list(docs)
    problems = validate_builtin(docs, k8s_version)
    custom = [d for d in docs if not is_builtin_api(str(d.get("apiVersion", "")))]
    if not custom or crd_dir is None:
        return problems
    index = crd_index(crd_dir)
    for doc in custom:
        key = (api_group(doc["apiVersion"]), doc["kind"])
        if key not in index:
            problems.append(f"{doc_id(doc)}: no CRD for {key[0]}/{key[1]} in {crd_dir}; add the CRD YAML")
            continue
        problems.extend(validate_against_crd(doc, index[key]))
    return problems


def crd_index(crd_dir: Path | str) -> dict[tuple[str, str], Path]:
    """(group, kind) -> CRD file, for every CustomResourceDefinition YAML under `crd_dir`."""
    index: dict[tuple[str, str], Path] = {}
    for file in sorted(Path(crd_dir).rglob("*.y*ml")):
        for crd in _load_crds(str(file.resolve())):
            index[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = file
    return index


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an openAPIV3Schema with `additionalProperties: false` wherever `properties` are listed
    and unknown fields are not preserved. At the root, `metadata` is relaxed to a plain object and
    `apiVersion`/`kind` are always allowed (the API server accepts them whether the CRD lists them or not)."""
    schema = copy.deepcopy(schema)
    root = schema.setdefault("properties", {})
    root["metadata"] = {"type": "object"}
    root.setdefault("apiVersion", {"type": "string"})
    root.setdefault("kind", {"type": "string"})
    _forbid_unknown(schema)
    return schema


def _forbid_unknown(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _forbid_unknown(item)
        return
    if not isinstance(node, dict):
        return
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        node.setdefault("additionalProperties", False)
    for key in ("properties", "patternProperties", "definitions"):
        for child in (node.get(key) or {}).values():
            _forbid_unknown(child)
    for key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
        if key in node:
            _forbid_unknown(node[key])


@functools.lru_cache(maxsize=64)
def _load_crds(crd_path: str) -> tuple[Doc, ...]:
    """The CustomResourceDefinitions of a YAML file (cached: CRD files are large and read-only)."""
    try:
        docs = yaml.load_all(Path(crd_path).read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        return tuple(d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition")
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{crd_path}: cannot read CRD YAML ({exc}); check the path and file") from exc


@functools.lru_cache(maxsize=32)
def _strict_crd_validator(crd_path: str, group: str, kind: str, version: str) -> jsonschema.Draft7Validator:
    crd = next(
        c for c in _load_crds(crd_path) if (c["spec"]["group"], c["spec"]["names"]["kind"]) == (group, kind)
    )
    entry = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = (entry.get("schema") or {}).get("openAPIV3Schema")
    if schema is None:
        raise ManifestError(
            f"{crd_path}: {kind} {version} has no openAPIV3Schema; use a CRD with full schemas"
        )
    return jsonschema.Draft7Validator(strict_schema(schema))
