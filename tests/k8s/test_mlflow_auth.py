"""MLflow as deployed: basic-auth app, proxied artifacts, one Ingress host, and the user-setup Job.

The last test runs the manifests for real: `mlflow server` on 127.0.0.1 with the Deployment's
arguments and environment (backend store and artifact destination swapped for local ones) and the
dev overlay's auth config, then the mlflow-create-users Job's script against it, twice.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.k8s.conftest import OVERLAYS
from tests.k8s.kube import Doc
from tests.servers import free_port, stop, wait_http

Env = dict[str, str]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(docs: list[Doc], kind: str, name: str) -> Doc:
    return find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def resolve_env(c: Doc, docs: list[Doc]) -> Env:
    """The container's environment as the kubelet builds it: values, Secret/ConfigMap keys, $(VAR)."""
    secrets = {d["metadata"]["name"]: d.get("stringData", {}) for d in docs if d["kind"] == "Secret"}
    maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    env: Env = {}
    for item in c.get("env", []):
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:  # prod renders no Secret: such variables stay unset here
            ref = source["secretKeyRef"]
            if ref["name"] not in secrets:
                continue
            value = secrets[ref["name"]][ref["key"]]
        elif "configMapKeyRef" in source:
            value = maps[source["configMapKeyRef"]["name"]][source["configMapKeyRef"]["key"]]
        else:
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
        env[item["name"]] = value
    return env


def server_options(c: Doc) -> dict[str, str | bool]:
    assert c["command"] + c["args"][:1] == ["mlflow", "server"]
    return {
        a.removeprefix("--").split("=", 1)[0]: (a.split("=", 1)[1] if "=" in a else True)
        for a in c["args"][1:]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_runs_basic_auth_and_proxies_artifacts(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    c = container(docs, "Deployment", "mlflow")
    opts = server_options(c)
    endpoints = find(docs, "ConfigMap", "pathreasoner-endpoints")["data"]
    assert opts["app-name"] == "basic-auth"
    assert opts["serve-artifacts"] is True
    assert (
        opts["artifacts-destination"] == endpoints["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflow/artifacts"
    )
    assert (
        opts["backend-store-uri"]
        == "postgresql+psycopg2://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@postgres:5432/$(POSTGRES_DB)"
    )
    names = [e["name"] for e in c["env"]]
    assert names.index("POSTGRES_DB") < names.index("MLFLOW_AUTH_CONFIG_PATH")  # $(VAR) needs earlier env
    refs = {e["name"]: e.get("valueFrom", {}) for e in c["env"]}
    assert refs["MLFLOW_AUTH_ADMIN_PASSWORD"]["secretKeyRef"]["name"] == "mlflow-admin-credentials"
    for key in ("MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION"):  # the same endpoints the steps get
        assert refs[key]["configMapKeyRef"] == {"name": "pathreasoner-endpoints", "key": key}
    assert (
        endpoints["MLFLOW_TRACKING_URI"]
        == f"http://mlflow.{docs[0]['metadata']['name']}.svc.cluster.local:5000"
    )
    # the auth config file is the mounted Secret
    config_path = Path(next(e["value"] for e in c["env"] if e["name"] == "MLFLOW_AUTH_CONFIG_PATH"))
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "auth-config"]
    (volume,) = [
        v
        for v in find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "auth-config"
    ]
    assert (str(config_path.parent), volume["secret"]["secretName"], mount["readOnly"]) == (
        mount["mountPath"],
        "mlflow-auth-config",
        True,
    )


@pytest.mark.parametrize(
    ("overlay", "host"),
    [("dev", "mlflow.pathreasoner.localtest.me"), ("prod", "mlflow.pathreasoner.example.com")],
)
def test_ingress_serves_mlflow_over_tls_on_one_host(
    rendered: dict[str, list[Doc]], overlay: str, host: str
) -> None:
    docs = rendered[overlay]
    spec = find(docs, "Ingress", "mlflow")["spec"]
    (rule,) = spec["rules"]
    (tls,) = spec["tls"]
    assert (rule["host"], tls["hosts"], tls["secretName"]) == (host, [host], "mlflow-tls")
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = find(docs, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert service["metadata"]["name"] == "mlflow"
    env = resolve_env(container(docs, "Deployment", "mlflow"), docs)
    assert host in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")  # MLflow accepts the Host header it forwards
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == f"https://{host}"


def call(
    url: str, host: str | None = None, auth: tuple[str, str] | None = None, body: dict | None = None
) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body else None, method="POST" if body else "GET"
    )
    if body:
        request.add_header("Content-Type", "application/json")
    if host:
        request.add_header("Host", host)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # nothing listening (yet)


@pytest.mark.slow
def test_deployed_auth_and_user_job_work_against_a_real_server(
    rendered: dict[str, list[Doc]], tmp_path: Path
) -> None:
    pytest.importorskip(
        "flask_wtf", reason="MLflow's basic-auth app needs Flask-WTF: pip install 'mlflow[auth]'"
    )
    docs = rendered["dev"]
    c = container(docs, "Deployment", "mlflow")
    opts = server_options(c)
    env = resolve_env(c, docs)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ini = configparser.ConfigParser()
    ini.read_string(find(docs, "Secret", "mlflow-auth-config")["stringData"]["basic_auth.ini"])
    ini["mlflow"]["database_uri"] = f"sqlite:///{tmp_path / 'auth.db'}"  # instead of Postgres
    config_path = tmp_path / "basic_auth.ini"
    with config_path.open("w") as handle:
        ini.write(handle)
    server_env = {
        **os.environ,
        **{
            k: v
            for k, v in env.items()
            if k.startswith(("MLFLOW_AUTH_ADMIN", "MLFLOW_SERVER_", "MLFLOW_FLASK"))
        },
        "MLFLOW_AUTH_CONFIG_PATH": str(config_path),
    }
    server_env["MLFLOW_SERVER_ALLOWED_HOSTS"] += f",127.0.0.1:{port}"  # this test's port, not 5000
    args = [
        "server",
        f"--app-name={opts['app-name']}",
        f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",  # instead of Postgres
        "--serve-artifacts",
        f"--artifacts-destination={tmp_path / 'artifacts'}",  # instead of s3://mlflow/artifacts
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
    ]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", *args], env=server_env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"{url}/health", server, 120, tmp_path / "server.log")
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
        job = container(docs, "Job", "mlflow-create-users")
        job_env = resolve_env(job, docs)
        user = (job_env["CLIENT_USERNAME"], job_env["CLIENT_PASSWORD"])
        assert call(search) == 401  # no credentials
        assert call(search, auth=user) == 401  # the client user does not exist yet
        outputs = []
        for _ in range(2):  # creates the user, then finds it and resets its password
            proc = subprocess.run(
                [sys.executable, *job["command"][1:], job["args"][0]],
                env={**os.environ, **job_env, "MLFLOW_TRACKING_URI": url},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            outputs.append(proc.stdout.strip().splitlines()[-1])
        assert outputs == [
            f"created MLflow user {user[0]}",
            f"MLflow user {user[0]} exists; password set from the Secret",
        ]
        assert call(search, auth=user) == 200
        assert call(search, auth=(user[0], "wrong-password")) == 401
        created = call(f"{url}/api/2.0/mlflow/experiments/create", auth=user, body={"name": "pathreasoner"})
        assert created == 200  # the pipeline's user may create its experiment
        # Host allow-list: the in-cluster name passes, a foreign name does not.
        assert call(search, host="mlflow.pathreasoner.svc.cluster.local:5000", auth=user) == 200
        assert call(search, host="attacker.example", auth=user) == 403
    finally:
        stop(server)
        log.close()
