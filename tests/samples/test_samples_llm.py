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

from pathreasoner.config import Config
from pathreasoner.errors import ConfigError, DatasetError
from pathreasoner.io_utils import read_jsonl
from pathreasoner.response import is_well_formed, parse_response
from pathreasoner.samples.build import build_samples
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.demo_reports import make_demo_cases
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.llm import LLMBackendError, LLMClient, LLMSettings, llm_extract, llm_response
from pathreasoner.samples.recovery import answers_agree, reasoning_without_conclusion


class _State:
    requests: ClassVar[list[dict]] = []
    failures_left = 0
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()
    ctx: ClassVar[list[KGContext]] = []  # the KG the "rules-backed" model reads reports with


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
            user = body["messages"][-1]["content"]
            if schema_name in ("answer_recovery", "answer_judge"):
                content = json.dumps(_recovery_answer(model, schema_name, user))
            elif model in ("rules-backed", "hallucinating") and schema_name == "report_extraction":
                content = json.dumps(_rules_backed_extraction(user, model == "hallucinating"))
            elif model == "bad-json":
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


def _rules_backed_extraction(report_text: str, hallucinate: bool) -> dict:
    """A stand-in LLM that reads the report with the rules backend (so its answers are checkable);
    "hallucinating" also adds a finding and, for a report mentioning 'hallucinate', a diagnosis the
    report never states."""
    from pathreasoner.samples.reports import Report

    extraction = extract_report(Report("P1", None, report_text, "stub"), _State.ctx[0])
    facts = extraction.facts
    value = {
        "diagnosis": extraction.diagnosis_display,
        "findings": list(extraction.findings),
        "grade": facts.get("grade"),
        "pT": facts.get("pT"),
        "pN": facts.get("pN"),
        "margin": facts.get("margin"),
        "lvi": facts.get("lvi"),
    }
    if hallucinate:
        value["findings"].append(
            "Extensive tumour necrosis with sarcomatoid dedifferentiation in the liver hilum"
        )
        if "hallucinate" in report_text:
            value["diagnosis"] = "glioblastoma"
    return value


def _recovery_answer(model: str, schema_name: str, user: str) -> dict:
    """Answer recovery: the last reasoning sentence (a reader concluding from the reasoning), or a wrong
    answer for model "wrong-recovery"/"lenient"; the judge says yes only for "lenient"."""
    if schema_name == "answer_judge":
        return {"correct": model == "lenient"}
    if model in ("wrong-recovery", "lenient"):
        return {"answer": "benign fibroadipose tissue"}
    sentences = [x for x in user.replace("\n", " ").split(". ") if x.strip()]
    return {"answer": sentences[-1] if sentences else ""}


@pytest.fixture(scope="module")
def server(ctx: KGContext) -> Iterator[str]:
    _State.ctx[:] = [ctx]
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
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(3, seed=0))
    cfg = Config.model_validate(
        {"samples": {"writer": "llm", "llm_base_url": server, "llm_model": "ok", "answer_recovery": False}}
    )
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


def _llm_cfg(server: str, model: str, **samples: object) -> Config:
    return Config.model_validate(
        {"samples": {"llm_base_url": server, "llm_model": model, "llm_max_retries": 0, **samples}}
    )


def test_llm_extractor_builds_the_same_answers_as_the_rules_it_read_with(
    server: str, tmp_path: Path, kg_dir: Path, write_reports
) -> None:
    """extractor=llm (a rules-backed stand-in model): the grounded, linked, normalised extraction gives
    the answers the rules backend gives, through the whole build."""
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(4, seed=1))
    build_samples(reports, None, kg_dir, tmp_path / "rules", Config())
    llm = build_samples(
        reports, None, kg_dir, tmp_path / "llm", _llm_cfg(server, "rules-backed", extractor="llm")
    )
    by_rules = {r["id"]: r["answer"] for r in read_jsonl(tmp_path / "rules" / "samples.jsonl")}
    by_llm = {r["id"]: r for r in read_jsonl(tmp_path / "llm" / "samples.jsonl")}
    assert llm.n_records > 0 and llm.n_quarantined == 0
    for key in ("diagnosis", "grade", "pT", "margin"):
        shared = [i for i in by_llm if i.endswith(f":{key}") and i in by_rules]
        assert shared, key
        assert all(by_llm[i]["answer"] == by_rules[i] for i in shared), key
    record = next(iter(by_llm.values()))
    assert record["provenance"]["extractor"] == "llm"
    card = json.loads((tmp_path / "llm" / "card.json").read_text())
    assert card["extractor"] == "llm" and card["linking"]["diagnosis_link"] == {"llm": 4}
    assert card["answer_recovery"]["run"] and card["checks"]["answer_recovered"]["passed"] > 0
    texts = {
        json.loads(line)["patient_id"]: json.loads(line)["text"] for line in reports.read_text().splitlines()
    }
    for entry in read_jsonl(
        tmp_path / "llm" / "evidence.jsonl"
    ):  # the LLM's statements located in the report
        kinds = {span["kind"] for span in entry["spans"]}
        assert kinds == {"diagnosis", "finding"}, entry
        for span in entry["spans"]:
            assert span["text"] == texts[entry["patient_id"]][span["start"] : span["end"]]


def test_llm_extractor_drops_what_the_report_does_not_say(
    server: str, tmp_path: Path, kg_dir: Path, write_reports
) -> None:
    cases = make_demo_cases(3, seed=2)
    reports = write_reports(tmp_path / "reports.jsonl", cases)
    text = reports.read_text().splitlines()
    first = json.loads(text[0])
    first["text"] += "\nNote: do not hallucinate."
    reports.write_text("\n".join([json.dumps(first), *text[1:]]) + "\n")
    summary = build_samples(
        reports, None, kg_dir, tmp_path / "out", _llm_cfg(server, "hallucinating", extractor="llm")
    )
    out = json.loads((tmp_path / "out" / "summary.json").read_text())
    (bad,) = [q for q in out["quarantine"] if "not stated in the report" in q["reason"]]
    assert "glioblastoma" in bad["reason"] and summary.n_reports == 2
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert card["linking"]["ungrounded_llm_findings"] == 2  # the invented finding, once per kept report
    records = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert records and not any("sarcomatoid" in f for r in records for f in r["findings"])


def test_answer_recovery_keeps_only_recoverable_samples(
    server: str, tmp_path: Path, kg_dir: Path, write_reports
) -> None:
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(3, seed=0))
    kept = build_samples(reports, None, kg_dir, tmp_path / "ok", _llm_cfg(server, "ok"))
    card = json.loads((tmp_path / "ok" / "card.json").read_text())
    counts = card["checks"]["answer_recovered"]
    assert counts["passed"] == kept.n_records > 0 and counts["passed"] + counts["failed"] >= kept.n_records
    assert card["answer_recovery"]["decided_by"].get("local", 0) > 0
    assert "answer recovery (MedReason)" in (tmp_path / "ok" / "card.md").read_text()
    # a reader that concludes something else: every sample dropped, and the failures say why
    with pytest.raises(DatasetError, match="answer_recovered"):
        build_samples(reports, None, kg_dir, tmp_path / "wrong", _llm_cfg(server, "wrong-recovery"))
    assert not (tmp_path / "wrong").exists()
    # the same wrong answers, but a judge accepting them: kept, decided by the judge
    lenient = build_samples(reports, None, kg_dir, tmp_path / "lenient", _llm_cfg(server, "lenient"))
    card = json.loads((tmp_path / "lenient" / "card.json").read_text())
    total = counts["passed"] + counts["failed"]
    assert lenient.n_records == total and card["answer_recovery"]["decided_by"] == {"judge": total}
    # switched off: not run, and the card says why
    build_samples(
        reports, None, kg_dir, tmp_path / "off", _llm_cfg(server, "wrong-recovery", answer_recovery=False)
    )
    card = json.loads((tmp_path / "off" / "card.json").read_text())
    assert card["answer_recovery"] == {"run": False, "why": "samples.answer_recovery is false"}
    assert "answer_recovered" not in card["checks"]


def test_answer_recovery_endpoint_down_drops_samples_never_keeps_them(
    tmp_path: Path, kg_dir: Path, write_reports
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(2, seed=0))
    cfg = _llm_cfg(f"http://127.0.0.1:{port}/v1", "ok", llm_timeout_s=2)
    with pytest.raises(DatasetError, match=r"answer_recovered.*URLError"):
        build_samples(reports, None, kg_dir, tmp_path / "down", cfg)


def test_extractor_llm_needs_an_endpoint(tmp_path: Path, kg_dir: Path, write_reports) -> None:
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(1, seed=0))
    with pytest.raises(ConfigError, match=r"samples.extractor=llm .*llm_base_url"):
        build_samples(
            reports, None, kg_dir, tmp_path / "x", Config.model_validate({"samples": {"extractor": "llm"}})
        )


@pytest.mark.parametrize(
    ("recovered", "reference", "agree"),
    [
        ("These findings indicate clear cell renal cell carcinoma", "clear cell renal cell carcinoma", True),
        ("pT2", "pT2", True),
        ("pT3", "pT2", False),
        ("The margin is a negative surgical margin", "negative surgical margin", True),
        ("positive surgical margin", "negative surgical margin", False),
        ("", "pT2", False),
        (
            "ccRCC, Fuhrman/ISUP nuclear grade 2",
            "clear cell renal cell carcinoma, Fuhrman/ISUP nuclear grade 2",
            True,
        ),
        ("benign fibroadipose tissue", "adenocarcinoma", False),
    ],
)
def test_answers_agree(recovered: str, reference: str, agree: bool, ctx: KGContext) -> None:
    assert answers_agree(recovered, reference, ctx.matcher) is agree


def test_reasoning_without_conclusion_cuts_the_answer() -> None:
    response = "<observe>Clear cells.</observe>\n<think>1. Clear cells suggest ccRCC.</think>\n<answer>ccRCC</answer>"
    cut = reasoning_without_conclusion(response)
    assert "Clear cells." in cut and "suggest ccRCC." in cut and "<answer>" not in cut
    assert not cut.endswith("ccRCC")


def test_llm_extractor_invalid_json_quarantines_every_report_by_name(
    server: str, tmp_path: Path, kg_dir: Path, write_reports
) -> None:
    reports = write_reports(tmp_path / "reports.jsonl", make_demo_cases(2, seed=0))
    with pytest.raises(DatasetError, match=r"2 quarantined.*failed for reports.jsonl:1 after 1 attemp"):
        build_samples(reports, None, kg_dir, tmp_path / "bad", _llm_cfg(server, "bad-json", extractor="llm"))
    assert not (tmp_path / "bad").exists()
