"""`pipeline submit` / `pipeline schedule` against a fake KFP v2beta1 API server on 127.0.0.1.

The fake answers the endpoints kfp 2.17's ``kfp.Client`` calls for these (healthz, experiments list and
create, runs create, recurringruns create) and records every request, so the tests assert what a real
KFP backend would receive: run name, service account, experiment and its namespace, parameters, the
compiled pipeline spec, and the bearer token.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.config import config_from_dict
from pathreasoner.kfp_client import KfpSubmitError, KfpTarget, check_cron, submit

API = "/apis/v2beta1"
SLIDES = "s3://cohort/slides/"
REPORTS = "s3://cohort/reports.jsonl"
NOW = "2026-01-01T00:00:00Z"
runner = CliRunner()


class FakeKfp(ThreadingHTTPServer):
    """A KFP API stand-in: experiments, runs and recurring runs kept in memory; requests recorded."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token  # when set, any other bearer token is answered 401
        self.requests: list[dict[str, Any]] = []
        self.experiments: dict[str, dict[str, Any]] = {}
        self.fail_runs: int | None = None  # answer run creation with this HTTP status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posted(self, path: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"] == API + path]


class _Handler(BaseHTTPRequestHandler):
    server: FakeKfp

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> tuple[str, dict[str, list[str]], dict[str, Any]]:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        self.server.requests.append(
            {
                "method": self.command,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "authorization": self.headers.get("Authorization"),
                "body": body,
            }
        )
        return parts.path, parse_qs(parts.query), body

    def _authorized(self) -> bool:
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._answer(401, {"error": "Unauthenticated", "code": 16})
            return False
        return True

    def do_GET(self) -> None:
        path, query, _ = self._record()
        if not self._authorized():
            return
        if path == f"{API}/healthz":
            self._answer(200, {"multi_user": False})
        elif path == f"{API}/experiments":
            wanted = (
                json.loads(query["filter"][0])["predicates"][0]["stringValue"] if "filter" in query else None
            )
            namespace = query.get("namespace", [""])[0]
            found = [
                e
                for e in self.server.experiments.values()
                if (wanted is None or e["display_name"] == wanted) and e["namespace"] == namespace
            ]
            self._answer(200, {"experiments": found, "total_size": len(found)} if found else {})
        else:
            self._answer(404, {"error": f"no route {path}", "code": 5})

    def do_POST(self) -> None:
        path, _, body = self._record()
        if not self._authorized():
            return
        if path == f"{API}/experiments":
            experiment = {**body, "experiment_id": str(uuid.uuid4()), "created_at": NOW}
            experiment.setdefault("namespace", "")
            self.server.experiments[experiment["experiment_id"]] = experiment
            self._answer(200, experiment)
        elif path == f"{API}/runs" and self.server.fail_runs:
            self._answer(self.server.fail_runs, {"error": "runs are not allowed here", "code": 7})
        elif path == f"{API}/runs":
            self._answer(200, {**body, "run_id": str(uuid.uuid4()), "state": "PENDING", "created_at": NOW})
        elif path == f"{API}/recurringruns":
            self._answer(
                200, {**body, "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED", "created_at": NOW}
            )
        else:
            self._answer(404, {"error": f"no route {path}", "code": 5})


def _serve(token: str | None = None) -> Iterator[FakeKfp]:
    server = FakeKfp(token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def kfp_api() -> Iterator[FakeKfp]:
    yield from _serve()


@pytest.fixture()
def kfp_api_with_token() -> Iterator[FakeKfp]:
    yield from _serve(token="s3cret-token")


@pytest.fixture()
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A params.yaml of the defaults (work dir in tmp); no KFP token or context from the machine."""
    monkeypatch.delenv("KFP_TOKEN", raising=False)
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "no-sa-token"))
    path = tmp_path / "params.yaml"
    path.write_text(f"project:\n  work_dir: {tmp_path / 'work'}\n")
    return path


def _output(result: Any) -> str:
    return " ".join(result.output.split())  # rich wraps long lines


def test_submit_sends_the_compiled_run_with_name_account_experiment_namespace_and_token(
    kfp_api: FakeKfp, params: Path
) -> None:
    args = [
        "pipeline",
        "submit",
        "--slides",
        SLIDES,
        "--reports",
        REPORTS,
        "--host",
        kfp_api.url,
        "--namespace",
        "team-path",
        "--experiment",
        "cohort-2026",
        "--run-name",
        "nightly-001",
        "--service-account",
        "pathreasoner-runner",
        "--token",
        "tok-123",
        "--config",
        str(params),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (experiment,) = kfp_api.posted("/experiments")
    assert experiment["display_name"] == "cohort-2026" and experiment["namespace"] == "team-path"
    (run,) = kfp_api.posted("/runs")
    experiment_id = next(iter(kfp_api.experiments))
    assert run["display_name"] == "nightly-001"
    assert run["service_account"] == "pathreasoner-runner"
    assert run["experiment_id"] == experiment_id
    assert run["runtime_config"]["parameters"] == {"slides": SLIDES, "reports": REPORTS}
    assert run["runtime_config"]["pipeline_root"] == "s3://pathreasoner-data/kfp"
    spec = run["pipeline_spec"]
    assert spec["pipeline_spec"]["pipelineInfo"]["name"] == "pathreasoner"
    assert "kubernetes" in spec["platform_spec"]["platforms"]
    assert str(params.parent) not in json.dumps(spec)  # compiled with the portable config
    listed = [r for r in kfp_api.requests if r["method"] == "GET" and r["path"] == f"{API}/experiments"]
    assert listed and listed[0]["query"]["namespace"] == ["team-path"]
    assert {r["authorization"] for r in kfp_api.requests} == {"Bearer tok-123"}
    run_id = result.stdout.strip().splitlines()[-1]
    assert len(run_id) == 36 and f"{kfp_api.url}/#/runs/details/{run_id}" in _output(result)

    again = runner.invoke(app, [*args[:-6], "--run-name", "nightly-002", *args[-4:]])
    assert again.exit_code == 0, again.output
    assert len(kfp_api.posted("/experiments")) == 1  # the experiment is found, not created twice
    assert [r["experiment_id"] for r in kfp_api.posted("/runs")] == [experiment_id, experiment_id]


def test_schedule_creates_a_recurring_run_with_the_token_from_the_environment(
    kfp_api: FakeKfp, params: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KFP_TOKEN", "env-token")
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp_api.url)
    result = runner.invoke(
        app,
        [
            "pipeline",
            "schedule",
            "--slides",
            SLIDES,
            "--reports",
            REPORTS,
            "--cron",
            "0 0 2 * * *",
            "--name",
            "pathreasoner-nightly",
            "--max-concurrency",
            "2",
            "--namespace",
            "team-path",
            "--config",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    (job,) = kfp_api.posted("/recurringruns")
    assert job["display_name"] == "pathreasoner-nightly"
    assert job["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert job["max_concurrency"] == 2
    assert job["no_catchup"] is True and job["mode"] == "ENABLE"
    assert job["service_account"] == "pathreasoner-pipeline"  # pipeline.service_account
    assert job["runtime_config"]["parameters"] == {"slides": SLIDES, "reports": REPORTS}
    assert job["experiment_id"] in kfp_api.experiments
    assert kfp_api.experiments[job["experiment_id"]]["namespace"] == "team-path"
    assert {r["authorization"] for r in kfp_api.requests} == {"Bearer env-token"}
    job_id = result.stdout.strip().splitlines()[-1]
    # the console may wrap a long URL: compare without whitespace
    assert f"{kfp_api.url}/#/recurringrun/details/{job_id}" in "".join(_output(result).split())


def test_submit_api_with_a_compiled_package(kfp_api: FakeKfp, params: Path, tmp_path: Path) -> None:
    from pathreasoner.pipeline_runner import compile_pipeline

    cfg = config_from_dict({"project": {"work_dir": str(tmp_path / "work")}}, tmp_path)
    package = compile_pipeline(cfg, tmp_path / "p.yaml")
    target = KfpTarget(kfp_api.url, ui_host="https://kubeflow.example/pipeline")
    done = submit(cfg, SLIDES, REPORTS, target, package=package)
    assert done.kind == "run" and done.name.startswith("pathreasoner-run-")
    assert done.link == f"https://kubeflow.example/pipeline/#/runs/details/{done.id}"
    (run,) = kfp_api.posted("/runs")
    assert run["display_name"] == done.name and run["experiment_id"] == done.experiment_id
    assert kfp_api.experiments[done.experiment_id]["display_name"] == "pathreasoner"
    assert {r["authorization"] for r in kfp_api.requests} == {None}  # no token given, none sent


def test_unreachable_host_fails_fast_naming_the_host_and_fix(params: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    host = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    result = runner.invoke(
        app,
        ["pipeline", "submit", "--slides", SLIDES, "--reports", REPORTS, "--host", host, "-c", str(params)],
    )
    seconds = time.perf_counter() - start
    assert result.exit_code == 2
    text = _output(result)
    assert f"KFP host {host} cannot be reached" in text and "check --host" in text
    assert seconds < 10, seconds  # compile + one refused connection, no retry loop


def test_refused_token_names_the_fix(kfp_api_with_token: FakeKfp, params: Path) -> None:
    base = ["pipeline", "submit", "--slides", SLIDES, "--reports", REPORTS, "--host", kfp_api_with_token.url]
    result = runner.invoke(app, [*base, "--token", "wrong", "-c", str(params)])
    assert result.exit_code == 2
    assert "refused the request with the token given (HTTP 401" in _output(result)
    assert "$KFP_TOKEN" in _output(result)
    assert not kfp_api_with_token.posted("/runs")
    ok = runner.invoke(app, [*base, "--token", "s3cret-token", "-c", str(params)])
    assert ok.exit_code == 0, ok.output


def test_bad_inputs_are_refused_before_anything_is_sent(
    kfp_api: FakeKfp, params: Path, tmp_path: Path
) -> None:
    base = ["pipeline", "schedule", "--host", kfp_api.url, "-c", str(params)]
    five = runner.invoke(app, [*base, "--slides", SLIDES, "--reports", REPORTS, "--cron", "0 2 * * *"])
    assert five.exit_code == 2
    assert "KFP cron expressions have 6" in _output(five) and "write '0 0 2 * * *'" in _output(five)
    local = runner.invoke(app, [*base, "--slides", str(tmp_path), "--reports", REPORTS, "--cron", "@daily"])
    assert local.exit_code == 2
    assert f"--slides {tmp_path} is a path on this machine" in _output(local)
    missing = runner.invoke(
        app,
        [*base, "--slides", SLIDES, "--reports", REPORTS, "--cron", "@daily", "--package", "nope.yaml"],
    )
    assert missing.exit_code == 2 and "compiled pipeline nope.yaml does not exist" in _output(missing)
    assert not [r for r in kfp_api.requests if r["method"] == "POST"]
    check_cron("@every 6h")
    with pytest.raises(KfpSubmitError, match="has 1 fields"):
        check_cron("daily")


def test_rejected_run_creation_names_the_status_and_fix(kfp_api: FakeKfp, params: Path) -> None:
    cfg = config_from_dict({"project": {"work_dir": str(params.parent / "work")}}, params.parent)
    target = KfpTarget(kfp_api.url, namespace="team-path")
    kfp_api.fail_runs = 403
    with pytest.raises(
        KfpSubmitError, match=r"refused the request with no token \(HTTP 403 trying to create the run"
    ):
        submit(cfg, SLIDES, REPORTS, target)
    kfp_api.fail_runs = 500
    with pytest.raises(
        KfpSubmitError, match=r"could not create the run: HTTP 500 .*runs are not allowed here"
    ):
        submit(cfg, SLIDES, REPORTS, target)
