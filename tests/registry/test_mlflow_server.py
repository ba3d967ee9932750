"""The registry against MLflow as deployed: `mlflow server` (sqlite backend, artifacts proxied to S3 on a
moto server), both real subprocesses on 127.0.0.1. Clients find the server through MLFLOW_TRACKING_URI,
as pods do (registry.tracking_uri stays null).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.config import Config
from pathreasoner.errors import RegistryError
from pathreasoner.lineage import collect_lineage
from pathreasoner.registry import catalog
from pathreasoner.registry import mlflow_registry as R
from pathreasoner.registry.failures import (
    ArtifactStoreError,
    ModelVersionNotFound,
    TrackingAuthError,
    TrackingServerUnreachable,
)
from tests.registry.evaldirs import verdicts, write_eval_dir
from tests.registry.test_mlflow_registry import OPEN_GATE, eval_dir
from tests.servers import MlflowServer, S3Endpoint, free_port, mlflow_server, moto_s3

BUCKET = "mlflow"
DIGEST = "sha256:" + "ab" * 32
FAST_FAIL = {  # the client gives up in seconds instead of retrying for minutes
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Endpoint]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def server(s3: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    start = time.monotonic()
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server"), s3, bucket=BUCKET) as srv:
        print(f"\nmlflow server (sqlite, proxied to moto S3) healthy after {time.monotonic() - start:.1f} s")
        yield srv


@pytest.fixture()
def cfg_for(
    server: MlflowServer,
    s3: S3Endpoint,
    work_dir: Path,
    make_config: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Config]:
    """Config for a model on the server; the endpoint and S3 settings come from the environment."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)

    def build(model_name: str, **registry: object) -> Config:
        return make_config(
            work_dir,
            registry={
                "model_name": model_name,
                "experiment": "served",
                "artifacts_destination": server.artifacts_destination,
                "gate": {**OPEN_GATE, "minimums": {"format_compliance": 0.5}},
                **registry,
            },
        )

    return build


def objects(s3: S3Endpoint, bucket: str = BUCKET) -> dict[str, int]:
    """key -> size of every object in the bucket."""
    out: dict[str, int] = {}
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(cfg: Config, ckpt: Path, tmp: Path, **metrics: float) -> str:
    return R.register_model(ckpt, eval_dir(tmp, **metrics), cfg, {"data_version": "d1"}).version


def versions(cfg: Config, name: str) -> list:
    return MlflowClient(cfg.tracking_uri).search_model_versions(f"name='{name}'")


# ---- the happy path -------------------------------------------------------------------------------


def test_register_uploads_the_checkpoint_once_to_s3(
    cfg_for, s3: S3Endpoint, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = cfg_for("srv-once")
    assert cfg.registry.tracking_uri is None and cfg.artifact_root is None  # env + the server's default
    monkeypatch.setenv("PATHREASONER_GIT_SHA", "f" * 40)
    monkeypatch.setenv("PATHREASONER_IMAGE_DIGEST", DIGEST)
    lineage = collect_lineage(cfg, None, kfp_run_id="run-123", data_version="d1")
    before = objects(s3)
    start = time.monotonic()
    got = R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, lineage)
    seconds = time.monotonic() - start
    new = {k: v for k, v in objects(s3).items() if k not in before}

    ckpt = files(tiny_dir)
    prefix = f"/artifacts/{R.CHECKPOINT_ARTIFACT}/"
    uploaded = {k.split(prefix, 1)[1]: v for k, v in new.items() if prefix in k}
    assert uploaded == ckpt  # every checkpoint file, with its size ...
    for name in ckpt:  # ... and each exactly once in the whole bucket
        assert sum(1 for k in objects(s3) if k.endswith(f"{prefix}{name}")) == 1, name
    total, ckpt_bytes = sum(new.values()), sum(ckpt.values())
    assert ckpt_bytes <= total < ckpt_bytes + 200_000  # the rest: MLmodel, env files, config, eval files
    print(
        f"\nregister via server: {seconds:.1f} s; {len(new)} objects / {total} bytes uploaded "
        f"(checkpoint: {len(ckpt)} files / {ckpt_bytes} bytes, uploaded once)"
    )

    client = MlflowClient(cfg.tracking_uri)
    mv = client.get_model_version("srv-once", got.version)
    assert mv.source.startswith("models:/m-")  # the version points at the logged model: no copy
    assert mv.tags["kfp_run_id"] == "run-123" and mv.tags["image_digest"] == DIGEST
    assert mv.tags["git_sha"] == "f" * 40 or len(mv.tags["git_sha"]) == 40
    assert mv.tags["config_hash"] == cfg.config_hash() and mv.tags["data_version"] == "d1"
    assert client.get_model_version_by_alias("srv-once", "candidate").version == got.version
    assert client.get_run(got.run_id).data.tags["lineage.kfp_run_id"] == "run-123"


def test_storage_uri_is_the_s3_prefix_of_the_checkpoint(
    cfg_for, s3: S3Endpoint, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = cfg_for("srv-storage")
    version = register(cfg, tiny_dir, tmp_path / "ev", format_compliance=0.9)
    download = MlflowClient(cfg.tracking_uri).get_model_version_download_uri("srv-storage", version)
    assert download.startswith("mlflow-artifacts:/")

    uri = R.storage_uri(f"models:/srv-storage/{version}", cfg)
    assert uri.startswith(f"s3://{BUCKET}/artifacts/") and uri.endswith("/artifacts/checkpoint")
    bucket, key = uri[len("s3://") :].split("/", 1)
    head = s3.client().head_object(Bucket=bucket, Key=f"{key}/config.json")
    assert head["ContentLength"] == (tiny_dir / "config.json").stat().st_size

    direct = cfg_for("srv-direct", experiment="direct-ok", artifact_root=f"s3://{BUCKET}/direct")
    direct_version = register(direct, tiny_dir, tmp_path / "ev2", format_compliance=0.9)
    direct_uri = R.storage_uri(f"models:/srv-direct/{direct_version}", direct)  # s3:// roots pass through
    assert direct_uri.startswith(f"s3://{BUCKET}/direct/") and direct_uri.endswith("/artifacts/checkpoint")
    bucket, key = direct_uri[len("s3://") :].split("/", 1)
    assert s3.client().head_object(Bucket=bucket, Key=f"{key}/config.json")["ContentLength"] > 0

    unmapped = cfg_for("srv-storage", artifacts_destination=None)
    with pytest.raises(RegistryError, match=r"set registry\.artifacts_destination to the server's"):
        R.storage_uri(f"models:/srv-storage/{version}", unmapped)


def test_promote_rollback_and_download_through_the_server(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("srv-promote")
    v1 = register(cfg, tiny_dir, tmp_path / "a", format_compliance=0.7)
    v2 = register(cfg, tiny_dir, tmp_path / "b", format_compliance=0.8)
    assert R.promote(cfg, v1).promoted and R.promote(cfg, v2).promoted
    blocked = R.promote(cfg, register(cfg, tiny_dir, tmp_path / "c", format_compliance=0.1))
    assert not blocked.promoted and blocked.previous_champion == v2
    client = MlflowClient(cfg.tracking_uri)
    assert client.get_model_version_by_alias("srv-promote", "champion").version == v2
    assert R.rollback(cfg) == v1
    assert client.get_model_version_by_alias("srv-promote", "champion").version == v1

    local = R.resolve_checkpoint("models:/srv-promote@champion", cfg, tmp_path / "dl")
    assert files(local) == files(tiny_dir)
    assert sha(local / "model.safetensors") == sha(tiny_dir / "model.safetensors")
    assert local == tmp_path / "dl" / "artifacts" / "checkpoint"
    assert [p.name for p in (tmp_path / "dl" / "artifacts").iterdir()] == [
        "checkpoint"
    ]  # no temp folder left


def test_missing_model_version_is_named(cfg_for, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = cfg_for("srv-missing")
    register(cfg, tiny_dir, tmp_path / "ev", format_compliance=0.9)
    with pytest.raises(
        ModelVersionNotFound, match=r"model 'srv-missing' has no version '99'.*pathreasoner register"
    ):
        R.resolve_checkpoint("models:/srv-missing/99", cfg, tmp_path / "dl")
    with pytest.raises(ModelVersionNotFound, match=r"has no alias 'champion'.*pathreasoner promote"):
        R.storage_uri("models:/srv-missing@champion", cfg)
    with pytest.raises(ModelVersionNotFound, match=r"'nobody' has no version '1'"):
        R.storage_uri("models:/nobody/1", cfg)
    assert not (tmp_path / "dl").exists()


def test_platform_cli_register_promote_rollback_history(
    cfg_for, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """register -> `model promote` (refused, then forced) -> `model rollback` -> `model history` on the server."""
    cfg = cfg_for("srv-cli", gate={})  # the default gate of params.yaml
    monkeypatch.setenv("PATHREASONER_ACTOR", "ops@platform")
    v1 = R.register_model(tiny_dir, write_eval_dir(tmp_path / "a", verdicts(24, 13)), cfg, {}).version
    v2 = R.register_model(tiny_dir, write_eval_dir(tmp_path / "b", verdicts(24, 2)), cfg, {}).version
    runner = CliRunner()

    def model(*args: str) -> tuple[int, str]:
        result = runner.invoke(
            app, ["model", *args, "--set", "registry.model_name=srv-cli"], env={"COLUMNS": "300"}
        )
        return result.exit_code, " ".join(result.output.split())

    assert model("promote", v1)[0] == 0
    code, text = model("promote", v2)
    assert code == 1 and "refused:" in text and "fail: answer_accuracy=0.0833 < minimum 0.4" in text
    code, text = model("promote", v2, "--force")
    assert code == 2 and "--force needs --reason TEXT" in text
    assert model("promote", v2, "--force", "--reason", "canary for INC-7")[0] == 0
    code, text = model("rollback", "--reason", "canary failed")
    assert code == 0 and f"champion -> version {v1}" in text
    client = MlflowClient(cfg.tracking_uri)
    assert client.get_model_version_by_alias("srv-cli", "champion").version == v1

    code, text = model("history")
    assert code == 0
    for row in (
        f"1 .* ops@platform .* promote .* champion .* - .* v{v1} .* gate passed",
        f"2 .* force-promote .* v{v1} .* v{v2} .* forced: canary for INC-7",
        f"3 .* rollback .* v{v2} .* v{v1} .* canary failed",
    ):
        assert re.search(row.replace(" .* ", r".*?"), text), (row, text)
    code, text = model("list")
    assert code == 0 and "refused (forced)" in text and "passed" in text and "test:set-a" in text
    code, text = model("show", v2)
    assert code == 0 and "gate.force_reason" in text and "canary for INC-7" in text
    code, text = model("diff", v1, v2)
    assert code == 0 and "answer_accuracy" in text and "-0.4583" in text
    assert f"answer_accuracy v{v2} - v{v1} = -0.4583 over 24 paired items" in text
    code, text = model("show", "99")
    assert code == 2 and "has no version '99'" in text


RACER = """
import json, sys, time
from pathlib import Path
from pathreasoner.config import config_from_json
from pathreasoner.registry.mlflow_registry import promote

cfg = config_from_json(Path(sys.argv[1]).read_text())
Path(sys.argv[3]).touch()  # ready; then wait for the other racer so both promote at the same moment
deadline = time.monotonic() + 120
while not Path(sys.argv[4]).exists() and time.monotonic() < deadline:
    time.sleep(0.002)
decision = promote(cfg, sys.argv[2])
print(json.dumps({"version": sys.argv[2], "promoted": decision.promoted, "previous": decision.previous_champion}))
"""


def test_two_racing_promotions_leave_one_champion_and_a_consistent_history(
    cfg_for, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = cfg_for("srv-race")
    v1, v2, v3 = (register(cfg, tiny_dir, tmp_path / n, format_compliance=0.9) for n in "abc")
    assert R.promote(cfg, v1).promoted
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(tmp_path / "cfg.json"),
                version,
                str(tmp_path / me),
                str(tmp_path / other),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PATHREASONER_ACTOR": f"racer-{me}"},
        )
        for version, me, other in ((v2, "a", "b"), (v3, "b", "a"))
    ]
    results = []
    for proc in racers:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(r["promoted"] for r in results)
    first, second = sorted(results, key=lambda r: r["previous"] != v1)  # the first saw v1 as champion
    assert first["previous"] == v1 and second["previous"] == first["version"]  # serialised, not interleaved

    client = MlflowClient(cfg.tracking_uri)
    champion = client.get_model_version_by_alias("srv-race", "champion").version
    assert champion == second["version"]
    log = catalog.history(cfg)
    assert [(e.seq, e.from_version, e.to_version) for e in log] == [
        (1, None, v1),
        (2, v1, first["version"]),
        (3, first["version"], second["version"]),
    ]
    assert {e.who for e in log[1:]} == {"racer-a", "racer-b"}
    tags = client.get_registered_model("srv-race").tags
    assert json.loads(tags["champion_history"]) == [v1, first["version"], second["version"]]
    assert not client.search_registered_models("name='srv-race.lock'")


# ---- bad input ------------------------------------------------------------------------------------


def test_unreachable_server_fails_fast_and_names_it(
    tiny_dir: Path, tmp_path: Path, make_config: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here: connection refused
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    cfg = make_config(tmp_path / "work", registry={"model_name": "srv-down"})
    start = time.monotonic()
    with pytest.raises(
        TrackingServerUnreachable, match=rf"MLflow server {url} is unreachable.*MLFLOW_TRACKING_URI"
    ):
        R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})
    assert time.monotonic() - start < 30
    with pytest.raises(TrackingServerUnreachable, match="start it"):
        R.resolve_checkpoint("models:/srv-down@champion", cfg)
    for args in (["model", "promote", "1"], ["model", "rollback"], ["model", "history"], ["promote"]):
        result = CliRunner().invoke(app, [*args, "--set", "registry.model_name=srv-down"])
        assert result.exit_code == 2, (args, result.output)
        assert f"MLflow server {url} is unreachable" in " ".join(result.output.split()), args


@pytest.fixture(scope="module")
def refusing_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Endpoint, MlflowServer]]:
    """A moto server with IAM auth on, and an MLflow server proxying to it. The server's bucket creation is
    the one request moto lets through; every later one (the server's or a client's) is refused (403)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "1")
        with (
            moto_s3() as endpoint,
            mlflow_server(tmp_path_factory.mktemp("mlflow-refused"), endpoint, bucket=BUCKET) as srv,
        ):
            yield endpoint, srv


def _no_version_left(cfg: Config, name: str) -> None:
    assert versions(cfg, name) == []


def test_direct_s3_unreachable_leaves_no_version(
    cfg_for, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = cfg_for("srv-s3-down", experiment="direct-s3", artifact_root=f"s3://{BUCKET}/direct")
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", dead)
    with pytest.raises(ArtifactStoreError, match=r"S3 endpoint .* unreachable.*MLFLOW_S3_ENDPOINT_URL"):
        R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})
    _no_version_left(cfg, "srv-s3-down")


def test_direct_s3_refused_credentials_leave_no_version(
    cfg_for,
    refusing_s3: tuple[S3Endpoint, MlflowServer],
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = cfg_for("srv-s3-refused", experiment="direct-refused", artifact_root=f"s3://{BUCKET}/direct")
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", refusing_s3[0].url)
    with pytest.raises(ArtifactStoreError, match=r"refused the credentials.*AWS_ACCESS_KEY_ID"):
        R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})
    _no_version_left(cfg, "srv-s3-refused")


def test_proxied_upload_refused_by_s3_leaves_no_version(
    refusing_s3: tuple[S3Endpoint, MlflowServer],
    tiny_dir: Path,
    tmp_path: Path,
    make_config: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", refusing_s3[1].url)
    cfg = make_config(tmp_path / "work", registry={"model_name": "srv-proxy-refused"})
    with pytest.raises(
        ArtifactStoreError,
        match=r"is up but dropped the request while storing artifacts.*--artifacts-destination",
    ):
        R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})
    _no_version_left(cfg, "srv-proxy-refused")


ADMIN_PASSWORD = "admin-password-1234"


@pytest.fixture(scope="module")
def auth_server(s3: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The server with MLflow's basic-auth app, as k8s/ deploys it."""
    if importlib.util.find_spec("flask_wtf") is None:
        pytest.skip("MLflow's basic-auth app needs Flask-WTF: pip install 'mlflow[auth]==3.17.2'")
    work = tmp_path_factory.mktemp("mlflow-auth")
    ini = work / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{work / 'basic_auth.db'}\n"
        f"admin_username = admin\nadmin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
        mp.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "test-secret")
        with mlflow_server(work, s3, bucket="mlflow-auth", extra_args=("--app-name", "basic-auth")) as srv:
            yield srv


def test_refused_tracking_credentials_are_named(
    auth_server: MlflowServer,
    tiny_dir: Path,
    tmp_path: Path,
    make_config: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    cfg = make_config(tmp_path / "work", registry={"model_name": "srv-auth"})
    with pytest.raises(
        TrackingAuthError, match=r"refused the credentials \(HTTP 401\).*MLFLOW_TRACKING_PASSWORD"
    ):
        R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    got = R.register_model(tiny_dir, eval_dir(tmp_path / "ev", format_compliance=0.9), cfg, {})
    assert [v.version for v in versions(cfg, "srv-auth")] == [got.version]
