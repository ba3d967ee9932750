"""Generation in a child process (serving.model_worker "process"): same answers, cancellation, restarts."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.errors import ServingError
from pathreasoner.model.inference import Generator
from pathreasoner.serve.model_process import ModelPool, ModelProcess, ModelSpec

QUESTIONS = ("What is the diagnosis?", "Which grade is it, and why?")


@pytest.fixture(scope="module")
def generator(tiny_dir: Path) -> Generator:
    return Generator.from_checkpoint(tiny_dir, max_new_tokens=48, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def worker(tiny_dir: Path) -> Iterator[ModelProcess]:
    process = ModelProcess(ModelSpec(tiny_dir, "cpu", "float32", max_new_tokens=48, threads=1))
    process.start()
    yield process
    process.close()


def _items(generator: Generator) -> list:
    images = [Image.new("RGB", (64, 48), (190, 80, 150)), Image.new("RGB", (40, 40), (30, 90, 200))]
    return [generator.prepare([img], q) for img, q in zip(images, QUESTIONS, strict=True)]


def _events(n: int, set_: bool = False) -> list[threading.Event]:
    events = [threading.Event() for _ in range(n)]
    for event in events if set_ else []:
        event.set()
    return events


def test_child_answers_exactly_what_the_model_answers_in_process(
    worker: ModelProcess, generator: Generator
) -> None:
    prepared = _items(generator)
    expected = generator.generate_prepared(prepared, 48)
    assert worker.run(prepared, 48, 0.0, _events(2)) == expected
    assert worker.pid is not None and worker.pid != os.getpid()


def test_cancelled_rows_stop_early(worker: ModelProcess, generator: Generator) -> None:
    prepared = _items(generator)
    _, full = worker.run(prepared, 48, 0.0, _events(2))
    if max(full) < 24:
        pytest.skip(f"the tiny model stops by itself after {full} tokens; nothing to cut short")
    _, cut = worker.run(prepared, 48, 0.0, _events(2, set_=True))
    # the cancel message reaches the child within a few decode steps
    assert max(cut) < max(full), (cut, full)


def test_a_killed_child_is_started_again(worker: ModelProcess, generator: Generator) -> None:
    prepared = _items(generator)
    before = worker.pid
    assert before is not None
    # killed mid-batch (the tiny model generates to the limit: 4000 tokens take seconds): that batch fails
    result: list[object] = []
    running = threading.Thread(
        target=lambda: result.append(_outcome(lambda: worker.run(prepared, 4000, 0.0, _events(2)))),
        daemon=True,
    )
    running.start()
    time.sleep(0.5)
    os.kill(before, signal.SIGKILL)
    running.join(60)
    assert isinstance(result[0], ServingError) and "exited (code -9)" in str(result[0])
    # the next batch starts a new child and is answered
    texts, counts = worker.run(prepared[:1], 8, 0.0, _events(1))
    assert worker.pid not in (None, before) and len(texts) == 1 and counts[0] >= 1


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except ServingError as exc:
        return exc


def test_a_checkpoint_that_cannot_load_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    process = ModelProcess(ModelSpec(tmp_path, "cpu", "float32", max_new_tokens=4), start_timeout_s=300)
    with pytest.raises(ServingError, match=f"could not load {tmp_path}"):
        process.start()
    assert process.pid is None


def test_a_pool_generates_two_batches_at_once_with_the_same_answers(
    tiny_dir: Path, generator: Generator
) -> None:
    pool = ModelPool(
        [ModelProcess(ModelSpec(tiny_dir, "cpu", "float32", max_new_tokens=48, threads=1)) for _ in range(2)]
    )
    pool.start()
    try:
        pids = [process.pid for process in pool.processes]
        assert len(set(pids)) == 2 and os.getpid() not in pids
        prepared = _items(generator)
        expected = generator.generate_prepared(prepared, 48)
        used: list[int | None] = []

        def run(_: int) -> tuple[list[str], list[int]]:
            with pool.free_process() as process:
                used.append(process.pid)
                return process.run(prepared, 48, 0.0, _events(2))

        with ThreadPoolExecutor(2) as threads:
            results = list(threads.map(run, range(4)))
        assert results == [expected] * 4 and len(set(used)) == 2
    finally:
        pool.close()


def test_a_pool_that_cannot_start_names_the_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    spec = ModelSpec(tmp_path, "cpu", "float32", max_new_tokens=4)
    pool = ModelPool([ModelProcess(spec, start_timeout_s=300) for _ in range(2)])
    with pytest.raises(ServingError, match=str(tmp_path)):
        pool.start()
    assert all(process.pid is None for process in pool.processes)


def test_a_lone_client_keeps_the_process_it_just_used(tiny_dir: Path) -> None:
    """The pool hands out the most recently freed process (its caches are warm: alternating between two
    idle processes cost ~3 ms a request); concurrent batches get different processes."""
    spec = ModelSpec(tiny_dir, "cpu", "float32", max_new_tokens=4)
    pool = ModelPool([ModelProcess(spec) for _ in range(2)])
    with pool.free_process() as first:
        pass
    for _ in range(3):
        with pool.free_process() as again:
            assert again is first
    with pool.free_process() as one, pool.free_process() as other:
        assert one is not other
