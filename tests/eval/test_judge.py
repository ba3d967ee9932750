"""The optional judge_score against a local OpenAI-compatible server on 127.0.0.1: scores, skipped
failures counted, an unreachable judge is an error, and the config needs URL and model together."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from pathreasoner.config import EvalConfig
from pathreasoner.errors import LLMError
from pathreasoner.eval.judge import RUBRIC_PATH, eval_judge
from pathreasoner.eval.scoring import score_predictions
from pathreasoner.response import compose_response


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class _Handler(BaseHTTPRequestHandler):
    """Scores the word overlap (Jaccard) of candidate and reference; answers 503 for candidates saying FAIL."""

    systems: list[str] = []  # noqa: RUF012

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.systems.append(body["messages"][0]["content"])
        user = body["messages"][-1]["content"]
        ref = re.search(r"Reference answer: (.*)", user).group(1)
        cand = re.search(r"Candidate answer: (.*)", user).group(1)
        if "FAIL" in cand:
            self.send_response(503)
            self.end_headers()
            return
        score = len(_words(ref) & _words(cand)) / max(len(_words(ref) | _words(cand)), 1)
        content = json.dumps({"score": score})
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


RECORDS = [
    {
        "id": "a",
        "question_type": "diagnosis",
        "question": "Diagnosis?",
        "answer": "invasive ductal carcinoma",
    },
    {"id": "b", "question_type": "diagnosis", "question": "Diagnosis?", "answer": "lobular carcinoma"},
    {"id": "c", "question_type": "grade", "question": "Grade?", "answer": "grade 2"},
]


def test_judge_score_and_skipped_failures(judge_url: str) -> None:
    judge = eval_judge(EvalConfig(judge_base_url=judge_url, judge_model="judge", judge_max_retries=0))
    predictions = [
        compose_response("o", "t", "invasive ductal carcinoma"),  # 1.0
        compose_response("o", "t", "ductal carcinoma"),  # {carcinoma} / {lobular, carcinoma, ductal} = 1/3
        compose_response("o", "t", "FAIL"),  # the call fails: skipped, counted
    ]
    out = score_predictions(RECORDS, predictions, {}, {}, judge=judge, resamples=100)
    assert out.metrics["judge_score"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert out.metrics["judge_failed"] == 1.0
    assert out.by_type["grade"].get("judge_score") is None  # its only call failed
    assert _Handler.systems[-1] == RUBRIC_PATH.read_text(encoding="utf-8")  # the rubric in the package


def test_unreachable_judge_is_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    cfg = EvalConfig(
        judge_base_url=f"http://127.0.0.1:{port}/v1",
        judge_model="judge",
        judge_max_retries=0,
        judge_timeout_s=5,
    )
    predictions = [compose_response("o", "t", "carcinoma")] * 3
    with pytest.raises(
        LLMError, match=r"evaluation judge at http://127\.0\.0\.1:\d+/v1 .* answered none of 3"
    ):
        score_predictions(RECORDS, predictions, {}, {}, judge=eval_judge(cfg), resamples=100)


def test_judge_config_needs_url_and_model() -> None:
    assert eval_judge(EvalConfig()) is None
    with pytest.raises(ValidationError, match="set both"):
        EvalConfig(judge_base_url="http://127.0.0.1:1/v1")
