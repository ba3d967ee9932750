"""`pathreasoner deploy`: alias -> s3:// checkpoint -> InferenceService (predictor or vLLM, canary in both
modes) validated against the KServe CRD, applied through a 127.0.0.1 Kubernetes API; bad input exits 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.config import Config, config_from_dict
from pathreasoner.errors import RegistryError, ServingError
from pathreasoner.registry import mlflow_registry as R
from pathreasoner.registry.tracking import configure
from pathreasoner.serve.deploy import apply_objects, deploy
from pathreasoner.serve.manifest import render_inference_service
from tests.k8s.kube import CRD_DIR, CrdSchemas
from tests.serve.kserve_api import FakeApi, fake_api

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
MODEL = "pr-deploy"
SOURCES = {  # proxied MLflow artifact URIs, as the k8s/ MLflow server records them
    "1": "mlflow-artifacts:/1/models/m-one/artifacts",
    "2": "mlflow-artifacts:/1/models/m-two/artifacts",
}
LINEAGE = {"data_version": "data-v1", "kg_version": "kg-v7", "git_sha": "0123abcd"}
H200 = {"nvidia.com/gpu.product": "NVIDIA-H200"}
runner = CliRunner()


@pytest.fixture(scope="module")
def crds() -> CrdSchemas:
    if not CRD_DIR.is_dir():
        pytest.skip(
            f"KServe CRD not found under {CRD_DIR} (CRD YAMLs kept beside the repo as ../shared/data/crds)"
        )
    return CrdSchemas.load(CRD_DIR / "kserve")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sqlite MLflow registry: pr-deploy v1, v2 (champion v2), pr-empty v1 without a champion."""
    work = tmp_path_factory.mktemp("deploy")
    client = configure(make(work)).client
    for name, sources in ((MODEL, SOURCES), ("pr-empty", {"1": SOURCES["1"]})):
        client.create_registered_model(name)
        for source in sources.values():
            client.create_model_version(name, source=source, tags=LINEAGE)
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "candidate", "1")
    return work


def make(work: Path, model: str = MODEL, **serving: object) -> Config:
    return config_from_dict(
        {
            "project": {"work_dir": str(work)},
            "registry": {"model_name": model, "artifacts_destination": "s3://mlflow/artifacts"},
            "serving": {"gpu_node_selector": H200, **serving},
        },
        work,
    )


def s3(version: str) -> str:
    return SOURCES[version].replace("mlflow-artifacts:", "s3://mlflow/artifacts") + "/artifacts/checkpoint"


def test_predictor_render_is_valid_and_carries_the_champion(work: Path, crds: CrdSchemas) -> None:
    result = deploy(make(work))
    (doc,) = result.objects
    assert crds.errors(doc) == []
    meta, predictor = doc["metadata"], doc["spec"]["predictor"]
    assert (meta["name"], meta["namespace"]) == ("pathreasoner", "pathreasoner")
    assert meta["labels"]["pathreasoner.io/model-version"] == "2"
    assert meta["labels"]["pathreasoner.io/model-alias"] == "champion"
    assert meta["annotations"]["pathreasoner.io/kg-version"] == "kg-v7"
    assert meta["annotations"]["pathreasoner.io/storage-uri"] == s3("2")
    (container,) = predictor["containers"]
    assert {"name": "STORAGE_URI", "value": s3("2")} in container["env"]
    assert {"name": "PATHREASONER_MODEL_VERSION", "value": "2"} in container["env"]
    assert {"name": "PATHREASONER_MODEL_ALIAS", "value": "champion"} in container["env"]
    assert "model.torch_dtype=bfloat16" in container["args"]
    assert predictor["serviceAccountName"] == "pathreasoner-serving"
    assert predictor["nodeSelector"] == H200
    assert predictor["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 2)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert result.line() == f"deploy: {MODEL} v2 (champion) -> rendered only (dry run)"


def test_vllm_render_is_valid_on_the_huggingface_runtime(work: Path, crds: CrdSchemas) -> None:
    cfg = make(work, vllm_max_model_len=4096, vllm_args=["--gpu_memory_utilization=0.9"])
    (doc,) = deploy(cfg, "candidate", runtime="vllm").objects
    assert crds.errors(doc) == []
    assert doc["metadata"]["name"] == "pathreasoner-vllm"
    assert doc["metadata"]["labels"]["pathreasoner.io/model-version"] == "1"
    model = doc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["storageUri"] == s3("1")
    assert model["args"] == [
        "--model_name=pathreasoner",
        "--backend=vllm",
        "--dtype=bfloat16",
        "--max_model_len=4096",
        "--gpu_memory_utilization=0.9",
    ]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "containers" not in doc["spec"]["predictor"]


@pytest.mark.parametrize("runtime", ["predictor", "vllm"])
def test_knative_canary_is_canary_traffic_percent(work: Path, crds: CrdSchemas, runtime: str) -> None:
    cfg = make(work, deployment_mode="Knative", scale_metric="concurrency", scale_target=4)
    (doc,) = deploy(cfg, runtime=runtime, canary=10).objects
    assert crds.errors(doc) == []
    predictor = doc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("concurrency", 4)
    assert doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"


def test_standard_canary_is_a_second_service_and_a_split(work: Path, crds: CrdSchemas) -> None:
    canary, route = deploy(make(work), "candidate", canary=25).objects
    assert crds.errors(canary) == []
    assert canary["metadata"]["name"] == "pathreasoner-canary"
    assert "canaryTrafficPercent" not in canary["spec"]["predictor"]
    assert route["kind"] == "HTTPRoute"
    assert route["spec"]["parentRefs"] == [{"name": "kserve-ingress-gateway", "namespace": "kserve"}]
    assert route["spec"]["hostnames"] == ["pathreasoner.example.com"]
    backends = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
    assert backends == {"pathreasoner-predictor": 75, "pathreasoner-canary-predictor": 25}


def test_knative_metric_in_standard_mode_is_refused(work: Path) -> None:
    with pytest.raises(ServingError, match="scale_metric=rps is a Knative"):
        deploy(make(work, scale_metric="rps"))


@pytest.fixture()
def api(tmp_path: Path, crds: CrdSchemas) -> Iterator[FakeApi]:
    def validate(doc: dict) -> list[str]:
        return crds.errors(doc) if doc["kind"] == "InferenceService" else []

    with fake_api(FakeApi(validate=validate), tmp_path) as server:
        yield server


def test_apply_creates_replaces_and_ends_a_canary(work: Path, api: FakeApi) -> None:
    cfg = make(work)
    first = deploy(cfg, apply=True)
    assert first.actions == ["InferenceService pathreasoner/pathreasoner created"]
    stored = api.objects[("inferenceservices", "pathreasoner", "pathreasoner")]
    assert stored["metadata"]["labels"]["pathreasoner.io/model-version"] == "2"

    canary = deploy(cfg, "candidate", canary=10, apply=True)
    assert canary.actions == [
        "InferenceService pathreasoner/pathreasoner-canary created",
        "HTTPRoute pathreasoner/pathreasoner-split created",
    ]
    assert ("httproutes", "pathreasoner", "pathreasoner-split") in api.objects

    full = deploy(cfg, "candidate", apply=True)  # the candidate takes all traffic: canary objects go
    assert full.actions == [
        "InferenceService pathreasoner/pathreasoner replaced",
        "InferenceService pathreasoner/pathreasoner-canary deleted",
        "HTTPRoute pathreasoner/pathreasoner-split deleted",
    ]
    assert set(api.objects) == {("inferenceservices", "pathreasoner", "pathreasoner")}
    replaced = api.objects[("inferenceservices", "pathreasoner", "pathreasoner")]
    assert replaced["spec"]["predictor"]["containers"][0]["env"][0] == {
        "name": "STORAGE_URI",
        "value": s3("1"),
    }
    assert (
        "PUT",
        "/apis/serving.kserve.io/v1beta1/namespaces/pathreasoner/inferenceservices/pathreasoner",
    ) in (api.requests)


def test_apply_errors_name_the_fix(work: Path, api: FakeApi) -> None:
    with pytest.raises(ServingError, match="no InferenceService pathreasoner/pathreasoner to split traffic"):
        deploy(make(work), canary=10, apply=True)  # Standard mode: a canary needs the stable service
    assert api.objects == {}
    broken = render_inference_service(make(work), s3("1"), "img:1", name="broken")
    broken["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(ServingError, match=r"HTTP 422.*minReplicas.*rejected as invalid"):
        apply_objects([broken], [], "pathreasoner")
    api.forbid = True
    with pytest.raises(ServingError, match=r"HTTP 403.*k8s/base/rbac.yaml"):
        deploy(make(work), apply=True)


def test_cli_dry_run_prints_the_yaml(work: Path, crds: CrdSchemas) -> None:
    sets = ["--set", f"project.work_dir={work}", "--set", f"registry.model_name={MODEL}",
            "--set", "registry.artifacts_destination=s3://mlflow/artifacts"]  # fmt: skip
    result = runner.invoke(app, ["deploy", "--dry-run", "--canary", "20", *sets, "--config", str(PARAMS)])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["kind"] for d in docs] == ["InferenceService", "HTTPRoute"]
    assert crds.errors(docs[0]) == []
    assert docs[0]["spec"]["predictor"]["containers"][0]["env"][0]["value"] == s3("2")
    assert docs[0]["spec"]["predictor"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    pinned = runner.invoke(app, ["deploy", "--version", "1", *sets, "--config", str(PARAMS)])
    assert pinned.exit_code == 0, pinned.output
    labels = yaml.safe_load(pinned.stdout)["metadata"]["labels"]
    assert labels["pathreasoner.io/model-version"] == "1" and "pathreasoner.io/model-alias" not in labels


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alias", "nope"], "has no alias 'nope'"),
        (["--canary", "150"], "canary percent 150 is outside 0..100"),
        (["--runtime", "triton"], "runtime 'triton' is not one of predictor, vllm"),
        (["--apply", "--dry-run"], "--apply and --dry-run exclude each other"),
        (["--set", "registry.model_name=pr-empty"], "has no alias 'champion'"),
    ],
)
def test_cli_bad_input_exits_2_with_the_fix(work: Path, args: list[str], message: str) -> None:
    sets = ["--set", f"project.work_dir={work}", "--set", f"registry.model_name={MODEL}",
            "--set", "registry.artifacts_destination=s3://mlflow/artifacts"]  # fmt: skip
    result = runner.invoke(app, ["deploy", *sets, *args, "--config", str(PARAMS)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_rollback_deploy_re_points_serving(work: Path, api: FakeApi) -> None:
    cfg = make(work, model="pr-roll")
    client = configure(cfg).client
    client.create_registered_model("pr-roll")
    scores = {
        "metric.answer_accuracy": "0.9",
        "metric.format_compliance": "1.0",
    }  # as register_model tags them
    for source in SOURCES.values():
        client.create_model_version("pr-roll", source=source, tags={**LINEAGE, **scores})
    R.promote(cfg, "1", force=True, reason="first champion")
    R.promote(cfg, "2", force=True, reason="second champion")
    sets = ["--set", f"project.work_dir={work}", "--set", "registry.model_name=pr-roll",
            "--set", "registry.artifacts_destination=s3://mlflow/artifacts", "--config", str(PARAMS)]  # fmt: skip
    key = ("inferenceservices", "pathreasoner", "pathreasoner")
    assert runner.invoke(app, ["deploy", "--apply", *sets]).exit_code == 0
    assert api.objects[key]["metadata"]["labels"]["pathreasoner.io/model-version"] == "2"
    result = runner.invoke(app, ["rollback", "--reason", "bad canary", "--deploy", *sets])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "champion -> version 1" in said and "pathreasoner/pathreasoner replaced" in said
    stored = api.objects[key]
    assert stored["metadata"]["labels"]["pathreasoner.io/model-version"] == "1"
    assert stored["metadata"]["labels"]["pathreasoner.io/model-alias"] == "champion"
    assert stored["spec"]["predictor"]["containers"][0]["env"][0]["value"] == s3("1")
    with pytest.raises(RegistryError):
        deploy(make(work, model="pr-absent"))
