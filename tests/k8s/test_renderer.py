"""The built-in kustomize renderer: what it implements, that it equals kubectl, and what it refuses."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from pathreasoner.k8s_validate import (
    ManifestError,
    UnsupportedKustomizeFeature,
    render_builtin,
    render_kustomize,
    render_with_kubectl,
)

K8S = Path(__file__).resolve().parents[2] / "k8s"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")

BASE_RESOURCES = """\
apiVersion: v1
kind: Namespace
metadata: {name: placeholder}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: main
          image: db:1
          args: [a, b]
          env: [{name: A, value: "1"}, {name: B, value: "2"}]
          ports: [{containerPort: 5432, name: pg}]
  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce]}}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{port: 5432, name: pg}, {port: 9187, name: metrics}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {}}]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: init}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: x:1}]
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: host, labelSelector: {matchLabels: {app: db}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: web:1}]
      affinity:
        podAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 1
              podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {app: db}}}
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: host, labelSelector: {matchLabels: {app: web}}}
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: backup:1}]
          affinity:
            podAntiAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                - {topologyKey: host, labelSelector: {matchLabels: {app: db}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
  - {kind: ServiceAccount, name: default, namespace: elsewhere}
  - {kind: ServiceAccount, name: runner, namespace: elsewhere}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: isvc}
spec:
  predictor:
    containers: [{name: kserve-container, image: a:1, env: [{name: X, value: "1"}]}]
"""

OVERLAY = """\
namespace: team-b
commonLabels: {team: b}
resources: [../base]
patchesStrategicMerge: [db-patch.yaml]
patches:
  - patch: |-
      apiVersion: v1
      kind: Service
      metadata: {name: db}
      spec:
        ports: [{port: 9187, name: prom, targetPort: 9188}, {port: 8080, name: http}]
  - patch: |-
      apiVersion: serving.kserve.io/v1beta1
      kind: InferenceService
      metadata: {name: isvc}
      spec:
        predictor:
          containers: [{name: kserve-container, env: [{name: Y, value: "2"}]}]
"""

DB_PATCH = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers:
        - name: main
          args: [z]
          env: [{name: B, value: "3"}, {name: C, value: "4"}]
        - name: exporter
          image: exporter:1
"""


AFFINITY = """\
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: h, labelSelector: {matchLabels: {a: b}}}]
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - {weight: 1, podAffinityTerm: {topologyKey: h, labelSelector: {matchLabels: {a: b}}}}
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: z, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {a: b}}}
"""
# Where kustomize's commonLabels does and does not reach (selectors it creates, ones it leaves alone).
EDGE_RESOURCES = (
    "---\n".join(
        f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {kind.lower()}}}\n"
        f"spec:\n  template:\n    spec:\n      containers: [{{name: c, image: x:1}}]\n{AFFINITY}"
        for api, kind in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ReplicaSet"),
            ("v1", "ReplicationController"),
            ("batch/v1", "Job"),
        ]
    )
    + """\
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: no-selector}
spec: {minAvailable: 1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all-pods}
spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron}
spec:
  schedule: "* * * * *"
  jobTemplate: {spec: {selector: {matchLabels: {a: b}}, template: {spec: {containers: [{name: c, image: x:1}]}}}}
"""
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    """Two-level kustomization exercising every feature the built-in renderer implements."""
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "namespace: team-a\nlabels:\n  - pairs: {tier: base}\n"
            "    includeTemplates: true\nresources: [r.yaml]\n",
            "base/r.yaml": BASE_RESOURCES,
            "overlay/kustomization.yaml": OVERLAY,
            "overlay/db-patch.yaml": DB_PATCH,
        },
    )
    return tmp_path / "overlay"


def by_id(docs: list[dict]) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_builtin_renderer_applies_namespace_labels_and_patches(synthetic: Path) -> None:
    docs = render_builtin(synthetic)
    got = by_id(docs)
    assert [d["kind"] for d in docs][:2] == ["Namespace", "RoleBinding"]  # kustomize's legacy order
    assert "Namespace/team-b" in got  # kustomize renames Namespace objects to the target namespace
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"team-b"}

    db = got["StatefulSet/db"]
    assert db["metadata"]["labels"] == {"tier": "base", "team": "b"}
    assert db["spec"]["selector"]["matchLabels"] == {"app": "db", "team": "b"}  # commonLabels: selectors too
    assert db["spec"]["template"]["metadata"]["labels"] == {"app": "db", "tier": "base", "team": "b"}
    assert db["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"] == {"tier": "base", "team": "b"}
    main, exporter = db["spec"]["template"]["spec"]["containers"]
    assert main["args"] == ["z"]  # primitive lists are replaced
    assert [(e["name"], e["value"]) for e in main["env"]] == [("B", "3"), ("C", "4"), ("A", "1")]
    assert main["image"] == "db:1" and main["ports"] == [{"containerPort": 5432, "name": "pg"}]
    assert exporter == {"name": "exporter", "image": "exporter:1"}

    ports = got["Service/db"]["spec"]["ports"]
    assert [(p["port"], p["name"]) for p in ports] == [(9187, "prom"), (8080, "http"), (5432, "pg")]
    assert got["Service/db"]["spec"]["selector"] == {"app": "db", "team": "b"}

    policy = got["NetworkPolicy/db-ingress"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app": "db", "team": "b"}
    assert policy["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "web", "team": "b"}}},
                                            {"namespaceSelector": {}}]  # fmt: skip
    assert "selector" not in got["Job/init"]["spec"]  # Job selectors are generated by the API server
    web = got["Deployment/web"]["spec"]["template"]["spec"]
    anti = web["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["labelSelector"]["matchLabels"] == {"app": "web", "team": "b"}
    assert web["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == {"app": "web", "team": "b"}
    # kustomize rewrites affinity selectors of Deployments and StatefulSets only
    job_affinity = got["Job/init"]["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    job_term = job_affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert job_term["labelSelector"]["matchLabels"] == {"app": "db"}
    backup = got["CronJob/backup"]["spec"]["jobTemplate"]
    cron_affinity = backup["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert cron_affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"][
        "matchLabels"
    ] == {"app": "db"}
    assert (
        backup["metadata"]["labels"]
        == backup["spec"]["template"]["metadata"]["labels"]
        == {
            "tier": "base",
            "team": "b",
        }
    )

    subjects = got["RoleBinding/rb"]["subjects"]
    assert [s["namespace"] for s in subjects] == ["team-b", "elsewhere"]  # only "default" follows

    # custom kinds have no known merge keys: their lists are replaced, as kustomize does
    assert got["InferenceService/isvc"]["spec"]["predictor"]["containers"] == [
        {"name": "kserve-container", "env": [{"name": "Y", "value": "2"}]}
    ]


@needs_kubectl
@pytest.mark.parametrize("target", ["base", "overlays/dev", "overlays/prod", "synthetic", "edge"])
def test_builtin_renderer_equals_kubectl(target: str, synthetic: Path, tmp_path: Path) -> None:
    if target == "edge":
        path = write(tmp_path, {"kustomization.yaml": "commonLabels: {team: t}\nresources: [r.yaml]\n",
                                "r.yaml": EDGE_RESOURCES})  # fmt: skip
    else:
        path = synthetic if target == "synthetic" else K8S / target
    assert render_builtin(path) == render_with_kubectl(path)  # same objects, same order


def test_auto_falls_back_to_builtin_without_kubectl(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = render_builtin(K8S / "overlays" / "dev")
    monkeypatch.setenv("PATH", "")
    assert render_kustomize(K8S / "overlays" / "dev") == expected
    with pytest.raises(ManifestError, match="kubectl is not on PATH"):
        render_kustomize(K8S / "overlays" / "dev", renderer="kubectl")


@needs_kubectl
def test_kubectl_errors_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"kubectl kustomize .* failed"):
        render_with_kubectl(tmp_path)


UNSUPPORTED = {
    "generator": (
        "configMapGenerator:\n  - name: c\n    literals: [a=b]\nresources: [r.yaml]\n",
        "configMapGenerator",
    ),
    "target": (
        "resources: [r.yaml]\npatches:\n  - target: {kind: Service}\n    patch: |-\n"
        "      - op: replace\n        path: /spec/type\n        value: NodePort\n",
        "target",
    ),
    "json6902": (
        "resources: [r.yaml]\npatches:\n  - patch: |-\n      - op: remove\n        path: /spec\n",
        "JSON6902",
    ),
    "remote": ("resources: [https://github.com/example/repo//deploy?ref=v1]\n", "remote resource"),
    "directive": (
        "resources: [r.yaml]\npatches:\n  - patch: |-\n      apiVersion: v1\n      kind: Service\n"
        "      metadata: {name: db}\n      spec:\n        $patch: replace\n",
        "directive",
    ),
    "component": ("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n", "Component"),
    "label-fields": ("resources: [r.yaml]\nlabels:\n  - pairs: {a: b}\n    fields: [{path: x}]\n", "fields"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_features_are_refused(tmp_path: Path, case: str) -> None:
    kustomization, needle = UNSUPPORTED[case]
    write(tmp_path, {"kustomization.yaml": kustomization, "r.yaml": BASE_RESOURCES})
    with pytest.raises(UnsupportedKustomizeFeature, match=needle):
        render_builtin(tmp_path)


def test_broken_kustomizations_name_the_problem(tmp_path: Path) -> None:
    write(tmp_path, {"kustomization.yaml": "resources: [missing.yaml]\n"})
    with pytest.raises(ManifestError, match=r"'missing\.yaml' does not exist"):
        render_builtin(tmp_path)
    write(
        tmp_path,
        {
            "kustomization.yaml": "resources: [r.yaml]\npatches:\n  - path: p.yaml\n",
            "r.yaml": BASE_RESOURCES,
            "p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\nspec: {replicas: 2}\n",
        },
    )
    with pytest.raises(ManifestError, match="Deployment/db matches nothing"):
        render_builtin(tmp_path)
    write(tmp_path, {"kustomization.yaml": "resources: [r.yaml, r.yaml]\n"})
    with pytest.raises(ManifestError, match="listed twice"):
        render_builtin(tmp_path)
    with pytest.raises(ManifestError, match=r"no kustomization\.yaml"):
        render_builtin(tmp_path / "base")
