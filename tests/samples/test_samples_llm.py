"""`llm` backends against a local OpenAI-compatible test server on 127.0.0.1, including failure modes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from pathreasoner.response import is_well_formed, parse_response
from pathreasoner.samples.llm import LLMBackendError, LLMClient, LLMSettings, llm_extract, llm_response


class _State:
    requests: ClassVar[list[dict]] = []
    failures_left = 0
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()


EXTRACTION = {
    "diagnosis": "Clear cell renal cell carcinoma",
    "findings": ["tumour cells with clear cytoplasm"],
    "grade": "WHO/ISUP grade 2",
    "pT": "pT1a",
    "pN": None,
    "margin": "negative",
    "lvi": "absent",
}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with _State.lock:
            _State.requests.append(body)
            _State.in_flight += 1
            _State.max_in_flight = max(_State.max_in_flight, _State.in_flight)
        try:
            time.sleep(0.03)
            model = body["model"]
            if model == "flaky":
                with _State.lock:
                    fail = _State.failures_left > 0
                    _State.failures_left -= 1
                if fail:
                    self.send_response(503)
                    self.end_headers()
                    return
            schema_name = body["response_format"]["json_schema"]["name"]
            if model == "bad-json":
                content = "{not json"
            elif model == "off-schema":
                content = json.dumps({"something": "else"})
            elif schema_name == "reasoning":
                think = "1. Clear cytoplasm suggests clear cell RCC."
                if model == "leaky":
                    think += " This aligns with the given answer."
                content = json.dumps({"observe": "Nests of clear cells.", "think": think})
            elif model == "unknown-dx":
                content = json.dumps({**EXTRACTION, "diagnosis": "zorblacytoma"})
            else:
                content = json.dumps(EXTRACTION)
            payload = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            with _State.lock:
                _State.in_flight -= 1


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _client(url: str, model: str, tmp_path: Path | None = None, **kw: object) -> LLMClient:
    settings = LLMSettings(url, model, backoff_s=0.01, cache_dir=str(tmp_path) if tmp_path else None, **kw)
    return LLMClient(settings)


def _link(name: str) -> str | None:
    return {"clear cell renal cell carcinoma": "clear cell renal cell carcinoma"}.get(name.lower())


def test_extraction_uses_json_schema_and_links(server: str, tmp_path: Path) -> None:
    client = _client(server, "ok", tmp_path)
    value = llm_extract(client, "FINAL DIAGNOSIS: clear cell RCC", "r1", _link)
    assert value["diagnosis_entity"] == "clear cell renal cell carcinoma" and value["pT"] == "pT1a"
    request = _State.requests[-1]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"]["required"][0] == "diagnosis"
    # the second identical call is served from the on-disk cache
    calls = client.calls
    assert llm_extract(client, "FINAL DIAGNOSIS: clear cell RCC", "r1", _link) == value
    assert client.calls == calls and len(list(tmp_path.glob("*.json"))) == 1


def test_retries_then_succeeds(server: str) -> None:
    _State.failures_left = 2
    client = _client(server, "flaky", max_retries=3)
    assert llm_extract(client, "text", "r2", _link)["grade"] == "WHO/ISUP grade 2"
    assert client.calls == 3


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("bad-json", "JSONDecodeError"),
        ("off-schema", "answer lacks"),
        ("unknown-dx", "links to no KG entity"),
    ],
)
def test_failures_name_the_item(server: str, model: str, message: str) -> None:
    client = _client(server, model, max_retries=1)
    with pytest.raises(LLMBackendError, match=message) as info:
        llm_extract(client, "text", "BLADDER.csv:row7", _link)
    assert "BLADDER.csv:row7" in str(info.value)


def test_endpoint_down() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}/v1", "ok", max_retries=1, timeout_s=2)
    with pytest.raises(LLMBackendError, match=r"failed for r9 after 2 attempts \(URLError"):
        llm_extract(client, "text", "r9", _link)


def test_writer_and_leakage(server: str) -> None:
    text = llm_response(_client(server, "ok"), "Diagnosis?", ["clear cells"], ["a -> b"], "ccRCC", "q1")
    assert is_well_formed(text) and parse_response(text).answer == "ccRCC"
    assert "answer" not in json.dumps(_State.requests[-1]["messages"]).lower().replace(
        "do not assume or mention any given answer", ""
    )
    with pytest.raises(LLMBackendError, match="leakage phrase"):
        llm_response(_client(server, "leaky"), "Diagnosis?", ["clear cells"], [], "ccRCC", "q2")


def test_bounded_concurrency_and_failures_per_item(server: str) -> None:
    _State.max_in_flight = 0
    client = _client(server, "ok", max_concurrency=3)
    out = client.map(lambda i: llm_extract(client, f"report {i}", f"r{i}", _link)["pT"], list(range(12)))
    assert out == ["pT1a"] * 12 and 1 < _State.max_in_flight <= 3
    bad = _client(server, "unknown-dx", max_concurrency=2)
    results = bad.map(lambda i: llm_extract(bad, f"report {i}", f"r{i}", _link), [0, 1])
    assert all(isinstance(r, LLMBackendError) for r in results)


def test_build_samples_with_llm_writer(server: str, tmp_path: Path, kg_dir: Path, write_reports) -> None:
    from pathreasoner.config import Config
    from pathreasoner.errors import ConfigError
    from pathreasoner.io_utils import read_jsonl
    from pathreasoner.samples.build import build_samples
    from pathreasoner.samples.demo_reports import make_demo_cases

    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(3, seed=0))
    cfg = Config.model_validate({"samples": {"writer": "llm", "llm_base_url": server, "llm_model": "ok"}})
    summary = build_samples(reports, None, kg_dir, tmp_path / "samples", cfg)
    records = read_jsonl(tmp_path / "samples" / "samples.jsonl")
    assert summary.n_records == len(records) > 0
    for r in records:
        assert (
            is_well_formed(r["response"]) and parse_response(r["response"]).observe == "Nests of clear cells."
        )
        assert r["provenance"]["writer"] == "llm" and parse_response(r["response"]).answer == r["answer"]
    assert list((tmp_path / "llm_cache").glob("*.json"))  # responses cached on disk
    leaky = Config.model_validate(
        {"samples": {"writer": "llm", "llm_base_url": server, "llm_model": "leaky"}}
    )
    with pytest.raises(Exception, match="no samples could be built"):
        build_samples(reports, None, kg_dir, tmp_path / "leaky", leaky)
    with pytest.raises(ConfigError, match="llm_base_url"):
        build_samples(
            reports, None, kg_dir, tmp_path / "x", Config.model_validate({"samples": {"writer": "llm"}})
        )
