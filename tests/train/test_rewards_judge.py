"""The LLM-judge semantic reward against a local OpenAI-compatible server on 127.0.0.1: scores, None on
every kind of failure (counted, logged, reported to TRL), the on-disk cache, and the concurrency bound."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from pathreasoner.config import Config, RewardConfig, config_from_dict
from pathreasoner.llm_client import LLMSettings
from pathreasoner.response import compose_response
from pathreasoner.train.grpo import train_grpo
from pathreasoner.train.rewards import LLMJudge, build_rewards, make_judge_reward, run_sync, score_completions
from pathreasoner.train.rewards.judge import RUBRIC_PATH

REFERENCE = "Invasive ductal carcinoma of the breast, grade 3."


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class _Judge:
    """What the server saw, and how it answers: model "judge" scores the word overlap (Jaccard) of the
    candidate with the reference; "down" answers 503, "slow" outlasts the client timeout, "garbage" gives
    a score that is not a number."""

    requests: ClassVar[list[dict]] = []
    in_flight: ClassVar[dict[str, int]] = {}  # per model: a timed-out "slow" call may still be running
    max_in_flight: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        with _Judge.lock:
            _Judge.requests.append(body)
            _Judge.in_flight[model] = _Judge.in_flight.get(model, 0) + 1
            _Judge.max_in_flight[model] = max(_Judge.max_in_flight.get(model, 0), _Judge.in_flight[model])
        try:
            time.sleep(0.05)
            if model == "down":
                self.send_response(503)
                self.end_headers()
                return
            if model == "slow":
                time.sleep(1.5)
            user = body["messages"][-1]["content"]
            ref = re.search(r"Reference answer: (.*)", user).group(1)
            cand = re.search(r"Candidate answer: (.*)", user).group(1)
            score = len(_words(ref) & _words(cand)) / max(len(_words(ref) | _words(cand)), 1)
            content = json.dumps({"score": "high" if model == "garbage" else score})
            payload = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass
        finally:
            with _Judge.lock:
                _Judge.in_flight[model] -= 1


class _Server(ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _reset() -> None:
    _Judge.requests.clear()
    _Judge.max_in_flight.clear()


def _judge(url: str, model: str = "judge", **kw: object) -> LLMJudge:
    return LLMJudge(LLMSettings(url, model, backoff_s=0.01, **kw))  # type: ignore[arg-type]


def test_judge_scores_answers_with_the_rubric(judge_url: str) -> None:
    judge = _judge(judge_url, max_retries=0)
    candidates = [REFERENCE, "Invasive lobular carcinoma.", "anything", "   "]
    refs = [REFERENCE, REFERENCE, None, REFERENCE]
    scores = asyncio.run(judge.score(candidates, refs, ["Diagnosis?"] * 4))
    assert scores[0] == 1.0
    assert scores[1] == pytest.approx(len({"invasive", "carcinoma"}) / len(_words(REFERENCE) | {"lobular"}))
    assert scores[2] is None  # no reference: not scored, not sent
    assert scores[3] == 0.0  # empty answer: 0 without a call
    assert len(_Judge.requests) == 2 and judge.failed == 0 and judge.scored == 2
    request = _Judge.requests[0]
    assert request["temperature"] == 0 and request["model"] == "judge"
    assert request["messages"][0] == {"role": "system", "content": RUBRIC_PATH.read_text()}
    assert request["messages"][1]["content"].startswith("Question: Diagnosis?\nReference answer: ")
    assert request["response_format"]["json_schema"]["schema"]["required"] == ["score"]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.mark.parametrize("model", ["down", "slow", "garbage", "unreachable"])
def test_failed_judge_calls_give_none_counted_and_logged(
    judge_url: str, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = _closed_port_url() if model == "unreachable" else judge_url
    judge = _judge(url, model, max_retries=1, timeout_s=0.5)
    reward = make_judge_reward(judge)
    metrics: list[tuple[str, float]] = []
    completions = [compose_response("o", "t", REFERENCE), compose_response("o", "t", "Lobular carcinoma.")]
    with caplog.at_level(logging.WARNING, logger="pathreasoner.train.rewards.judge"):
        scores = asyncio.run(
            reward(completions, answer=[REFERENCE, REFERENCE], log_metric=lambda k, v: metrics.append((k, v)))
        )
    assert scores == [None, None]  # skipped by TRL, never a 0 that would punish the policy
    assert judge.failed == 2 and judge.scored == 0
    assert metrics == [("judge_failed", 2.0)]
    assert "2 of 2 calls failed and were skipped" in caplog.text
    if model in ("down", "slow"):
        assert len(_Judge.requests) == 4  # each call tried twice (max_retries=1)
    if model == "garbage":
        assert len(_Judge.requests) == 2  # a well-formed answer without a usable score is not retried


def test_judge_cache_hit_makes_no_request(judge_url: str, tmp_path: Path) -> None:
    candidates = ["Invasive ductal carcinoma.", "Lobular carcinoma.", "Fibroadenoma."]
    first = _judge(judge_url, cache_dir=str(tmp_path))
    scores = asyncio.run(first.score(candidates, [REFERENCE] * 3))
    assert len(_Judge.requests) == 3 and first.client.calls == 3
    assert len(list(tmp_path.glob("*.json"))) == 3
    again = _judge(judge_url, cache_dir=str(tmp_path))  # a new process would see the same files
    assert asyncio.run(again.score(candidates, [REFERENCE] * 3)) == scores
    assert len(_Judge.requests) == 3 and again.client.calls == 0
    other = _judge(judge_url, model="judge-2", cache_dir=str(tmp_path))  # another judge model: not a hit
    asyncio.run(other.score(candidates[:1], [REFERENCE]))
    assert other.client.calls == 1


def test_judge_concurrency_is_bounded(judge_url: str) -> None:
    judge = _judge(judge_url, "judge-bounded", max_concurrency=3)
    candidates = [f"carcinoma variant {i}" for i in range(12)]
    start = time.perf_counter()
    scores = asyncio.run(judge.score(candidates, [REFERENCE] * 12))
    elapsed = time.perf_counter() - start
    assert all(s is not None for s in scores) and len(_Judge.requests) == 12
    assert _Judge.max_in_flight["judge-bounded"] == 3  # never more than the bound, and the bound is used
    assert elapsed >= 4 * 0.05  # 12 calls of 50 ms, 3 at a time


def test_judge_backend_from_config(judge_url: str, tmp_path: Path) -> None:
    cfg = config_from_dict(
        {
            "reward": {
                "components": {"format": 1.0, "semantic": 1.0},
                "semantic_backend": "judge",
                "judge_base_url": judge_url,
                "judge_model": "judge",
                "judge_concurrency": 2,
            },
            "project": {"work_dir": str(tmp_path)},
        }
    )
    rewards = build_rewards(cfg.reward, None, cfg.work_dir)
    semantic = rewards[1]
    assert semantic.func.__name__ == "semantic_reward" and inspect.iscoroutinefunction(semantic.func)
    record = {"question": "Diagnosis?", "answer": REFERENCE}
    texts = [compose_response("o", "t", REFERENCE), "Invasive ductal carcinoma of the breast, grade 3."]
    rows = score_completions(rewards, texts, [record, record])
    assert rows[0] == {"format": 1.0, "semantic": 1.0, "total": 2.0}
    assert rows[1] == {"format": 0.0, "semantic": 1.0, "total": 1.0}  # untagged: the whole text is judged
    assert len(list((tmp_path / "judge_cache").glob("*.json"))) == 1  # one distinct request, cached
    assert run_sync(semantic.func, texts[:1], answer=[None]) == [None]


def test_grpo_step_skips_failed_judge_calls(
    judge_url: str, samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    """In a real GRPOTrainer step the async judge reward runs, its failures are NaN-skipped (the total is
    the format reward alone, not dragged down by zeros) and counted in the `judge_failed` metric."""
    reward = RewardConfig(
        components={"format": 1.0, "semantic": 1.0},
        semantic_backend="judge",
        judge_base_url=judge_url,
        judge_model="down",
        judge_max_retries=0,
    )
    cfg = train_cfg.model_copy(update={"reward": reward})
    result = train_grpo(samples_dir, tiny_dir, tmp_path, cfg)
    assert result.extra["reward_funcs"] == ["format_reward", "semantic_reward"]
    (entry,) = result.reward_history
    assert entry.get("rewards/semantic_reward/mean") is None  # TRL logs None: no completion was scored
    assert entry["reward"] == pytest.approx(entry["rewards/format_reward/mean"])
    n = cfg.grpo.per_device_batch_size
    assert len(_Judge.requests) == n  # every completion was sent (to a server that failed them all)
    logged = [h for h in json.loads((tmp_path / "train_log.json").read_text())["loss"] if "judge_failed" in h]
    assert logged and logged[0]["judge_failed"] == n
