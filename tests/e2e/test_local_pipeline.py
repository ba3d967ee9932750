"""The whole pipeline through kfp.local on a small synthetic cohort, then the served answer over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from pathreasoner import stages
from pathreasoner.client import ask, wait_until_ready
from pathreasoner.demo import free_port, pick_samples, start_server
from pathreasoner.io_utils import read_jsonl
from pathreasoner.pipeline_runner import run_local
from pathreasoner.response import is_well_formed

pytestmark = pytest.mark.slow


def test_local_pipeline_end_to_end_then_serve(tmp_path: Path, make_config) -> None:
    cfg = make_config(tmp_path / "work")
    demo = stages.demo_data(cfg)
    assert len(demo.slides) == cfg.demo_data.n_patients

    run = run_local(cfg, demo.slides_dir, demo.reports)

    expected = {
        "shard-slides",
        "tile-slides[0]",
        "tile-slides[1]",
        "build-kg",
        "build-samples",
        "train-sft",
        "train-grpo",
        "evaluate",
        "register",
    }
    assert expected <= set(run.task_dirs), sorted(run.task_dirs)
    samples_dir = run.task_dirs["build-samples"] / "samples"
    records = read_jsonl(samples_dir / "samples.jsonl")
    assert records and all(is_well_formed(r["response"]) for r in records)
    # both tiling shards fed build-samples: every demo slide has its views in the dataset
    assert {r["slide_id"] for r in records if r["images"]} == {p.stem for p in demo.slides}
    assert {r["split"] for r in records} == {"train", "val", "test"}
    assert (run.task_dirs["train-grpo"] / "model" / "checkpoint" / "config.json").exists()
    metrics = json.loads((run.task_dirs["evaluate"] / "report" / "metrics.json").read_text())
    assert 0.0 <= metrics["format_compliance"] <= 1.0 and "entity_f1" in metrics

    # the tests' open gate (tests/conftest.py) passes, so promote ran under dsl.If and set the champion
    assert run.champion is not None
    client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
    champion = client.get_model_version_by_alias(cfg.registry.model_name, "champion")
    tags = champion.tags
    assert tags["config_hash"] == cfg.config_hash() and tags["kg_version"] and tags["data_version"]

    port = free_port()
    server = start_server(cfg, port, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, cfg.serving.model_name, timeout_s=180, proc=server)
        record = pick_samples(samples_dir)[0]
        images, question = [samples_dir / image for image in record["images"]], record["question"]
        prediction = ask(url, cfg.serving.model_name, images, question)
        single = ask(url, cfg.serving.model_name, images[0], question)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert set(prediction) >= {"text", "observe", "think", "answer"}
    assert isinstance(prediction["text"], str) and prediction["text"]
    assert set(single) >= {"text", "observe", "think", "answer"}
