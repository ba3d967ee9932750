"""The kserve.Model in-process: load from a local dir or the registry champion, predict, reject bad input."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kserve.errors import InvalidInput

from pathreasoner.errors import ServingError
from pathreasoner.serve.predictor import PathReasonerModel, resolve_model_dir

KEYS = {"text", "observe", "think", "answer", "well_formed", "entities", "lineage"}


@pytest.fixture(scope="module", params=["process", "thread"])
def loaded(
    request: pytest.FixtureRequest, tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PathReasonerModel]:
    """The tiny model loaded with the model generating in a child process, and in a thread."""
    from pathreasoner.config import config_from_dict

    serving = {"max_new_tokens": 8, "model_name": "pr-test", "allow_cpu": True, "model_worker": request.param}
    cfg = config_from_dict({"serving": serving}, tmp_path_factory.mktemp("work"))
    model = PathReasonerModel(cfg, model_uri=str(tiny_dir))
    assert model.load() is True
    assert (model.model_pool is not None) == (request.param == "process")
    yield model
    model.stop()
    assert model.model_pool is None and not model.ready


def test_predict_v1_and_bare(loaded: PathReasonerModel, jpeg_b64: str) -> None:
    assert loaded.ready and loaded.name == "pr-test"
    out = asyncio.run(
        loaded.predict(
            {
                "instances": [
                    {"image": jpeg_b64, "question": "Diagnosis?"},
                    {"images": [jpeg_b64, jpeg_b64], "question": "Grade?"},
                ]
            }
        )
    )
    assert len(out["predictions"]) == 2
    for pred in out["predictions"]:
        assert set(pred) == KEYS and isinstance(pred["text"], str) and pred["text"]
        assert isinstance(pred["well_formed"], bool)
    bare = asyncio.run(loaded.predict({"image": jpeg_b64, "question": "Diagnosis?"}))
    assert bare["predictions"][0]["text"] == out["predictions"][0]["text"]  # greedy: same input, same answer


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"image": "AAAA"}, "question is missing"),
        ({"image": "%%%", "question": "q"}, "not valid base64"),
        ({"instances": [{"question": "q"}]}, r"instances\[0\]\.image is missing"),
        (b"{oops", "request body is not JSON"),
    ],
)
def test_predict_rejects_malformed_with_invalid_input(
    loaded: PathReasonerModel, payload: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        asyncio.run(loaded.predict(payload))


def test_predict_before_load_is_a_serving_error(tmp_path: Path, make_config: Callable, jpeg_b64: str) -> None:
    model = PathReasonerModel(make_config(tmp_path), model_uri=str(tmp_path))
    with pytest.raises(ServingError, match="not loaded"):
        asyncio.run(model.predict({"image": jpeg_b64, "question": "q"}))


def test_resolve_model_dir_layouts(tiny_dir: Path, tmp_path: Path, make_config: Callable) -> None:
    cfg = make_config(tmp_path / "work")
    assert resolve_model_dir(str(tiny_dir), cfg) == tiny_dir.resolve()
    assert resolve_model_dir(f"file://{tiny_dir}", cfg) == tiny_dir.resolve()
    mlflow_layout = tmp_path / "mnt-models"
    shutil.copytree(tiny_dir, mlflow_layout / "artifacts" / "checkpoint")
    (mlflow_layout / "MLmodel").write_text("flavors: {}\n")
    assert (
        resolve_model_dir(str(mlflow_layout), cfg) == (mlflow_layout / "artifacts" / "checkpoint").resolve()
    )
    with pytest.raises(ServingError, match="STORAGE_URI"):
        resolve_model_dir("s3://bucket/model", cfg)
    with pytest.raises(ServingError, match="no checkpoint under"):
        resolve_model_dir(str(tmp_path / "empty"), cfg)


def test_load_champion_from_registry(
    tiny_dir: Path, tmp_path: Path, make_config: Callable, jpeg_b64: str
) -> None:
    from pathreasoner.registry.mlflow_registry import promote, register_model

    cfg = make_config(
        tmp_path / "work",
        registry={"model_name": "served"},
        serving={"model_uri": "models:/served@champion", "max_new_tokens": 4, "allow_cpu": True},
    )
    ev = tmp_path / "eval"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps({"format_compliance": 0.0, "n_samples": 1, "split": "test"}))
    version = register_model(tiny_dir, ev, cfg, {"git_sha": "abc"}).version
    assert promote(cfg, version).promoted

    model = PathReasonerModel(cfg)
    model.load()
    assert model.checkpoint is not None and model.checkpoint.name == "checkpoint"
    assert str(model.checkpoint).startswith(str(tmp_path / "work"))
    out = asyncio.run(model.predict({"image": jpeg_b64, "question": "Diagnosis?"}))
    assert set(out["predictions"][0]) == KEYS

    model.stop()
    with pytest.raises(ServingError, match="has no alias 'nope'"):
        PathReasonerModel(cfg, "models:/served@nope").load()


def test_auto_picks_the_model_processes_from_cores_and_memory(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathreasoner.config import config_from_dict
    from pathreasoner.serve import predictor

    cfg = config_from_dict({"serving": {"allow_cpu": True}}, tmp_path)
    monkeypatch.setattr(predictor, "usable_cores", lambda: 2)
    assert predictor.generates_in_process(cfg, "cpu") and predictor.generates_in_process(cfg, "cuda")
    assert predictor.model_processes(cfg, "cpu", tiny_dir) == 2  # two tiny copies fit
    assert predictor.model_processes(cfg, "cuda", tiny_dir) == 1  # one engine per GPU
    huge = tmp_path / "huge"
    huge.mkdir()
    with (huge / "model.safetensors").open("wb") as f:  # sparse: weights a quarter of the RAM
        f.truncate(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 + 1)
    assert predictor.model_processes(cfg, "cpu", huge) == 1  # two copies would not fit in half the RAM
    monkeypatch.setattr(predictor, "usable_cores", lambda: 1)
    assert not predictor.generates_in_process(cfg, "cpu")
    assert predictor.model_processes(cfg, "cpu", tiny_dir) == 1
    explicit = config_from_dict({"serving": {"model_processes": 3, "model_worker": "thread"}}, tmp_path)
    assert predictor.model_processes(explicit, "cpu", tiny_dir) == 3
    assert not predictor.generates_in_process(explicit, "cuda")
