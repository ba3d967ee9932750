"""Operations against `pathreasoner serve` on 127.0.0.1: /metrics, request ids, JSON logs, readiness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serve.predictor_process import NAME, Served, predictor_server

PREDICT_ROUTE = "/v1/models/{model_name}:predict"


@pytest.fixture(scope="module")
def served(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with predictor_server(tiny_dir, tmp_path_factory.mktemp("metrics"), max_new_tokens=4) as served:
        yield served


def log_entries(served: Served) -> list[dict]:
    lines = served.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_ready_only_with_the_model_loaded(served: Served) -> None:
    assert requests.get(f"{served.url}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{served.url}/v1/models/{NAME}", timeout=5).json() == {"name": NAME, "ready": True}
    loaded = [e for e in log_entries(served) if "ready from" in e["message"]]
    assert loaded, "the model-loaded line is missing"  # logged before the server accepted connections


def test_metrics_count_latency_tokens_batches_and_errors(served: Served, jpeg_b64: str) -> None:
    ok_before = served.metric("pathreasoner_request_seconds_count", route=PREDICT_ROUTE, status="200")
    tokens = served.metric("pathreasoner_generated_tokens_total")
    bad = served.metric("pathreasoner_request_errors_total", type="invalid_input")
    missing = served.metric("pathreasoner_request_errors_total", type="model_not_found")
    assert served.predict({"image": jpeg_b64, "question": "Diagnosis?"}).status_code == 200
    assert served.predict({"image": jpeg_b64}).status_code == 400
    res = requests.post(
        f"{served.url}/v1/models/nope:predict", json={"image": jpeg_b64, "question": "q"}, timeout=30
    )
    assert res.status_code == 404 and "nope" in res.json()["error"]
    assert (
        served.metric("pathreasoner_request_seconds_count", route=PREDICT_ROUTE, status="200")
        == ok_before + 1
    )
    assert served.metric("pathreasoner_request_seconds_count", route=PREDICT_ROUTE, status="400") >= 1
    assert served.metric("pathreasoner_generated_tokens_total") - tokens == 4
    assert served.metric("pathreasoner_batch_size_count") >= 1
    assert served.metric("pathreasoner_request_errors_total", type="invalid_input") == bad + 1
    assert served.metric("pathreasoner_request_errors_total", type="model_not_found") == missing + 1
    assert served.metric("request_predict_seconds_count", model_name=NAME) >= 1  # kserve's own, same registry


def test_request_id_in_header_and_json_logs(served: Served, jpeg_b64: str) -> None:
    given = served.predict({"image": jpeg_b64, "question": "Diagnosis?"}, headers={"X-Request-Id": "abc-123"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "abc-123"
    fresh = served.predict({"image": jpeg_b64, "question": "Diagnosis?"})
    assert len(fresh.headers["x-request-id"]) == 32  # a new uuid4 hex
    entries = log_entries(served)
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)


def test_client_error_is_one_warning_line_without_traceback(served: Served) -> None:
    res = served.predict({"image": "not-base64!", "question": "q"}, headers={"X-Request-Id": "bad-b64"})
    assert res.status_code == 400 and "not valid base64" in res.json()["error"]
    mine = [e for e in log_entries(served) if e.get("request_id") == "bad-b64"]
    assert [e["level"] for e in mine] == ["WARNING"], mine
    assert "invalid_input" in mine[0]["message"] and "exception" not in mine[0]
    assert "Traceback" not in served.log.read_text()
