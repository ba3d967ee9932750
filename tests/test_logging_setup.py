"""capture_output + KfpTaskWatcher on a real kfp.local run: the console gets task events, the file the rest."""

# no `from __future__ import annotations`: kfp reads the components' annotations as types

import logging
import sys
import warnings
from pathlib import Path

import pytest
from kfp import dsl, local

from pathreasoner.logging_setup import KfpTaskWatcher, TaskEvent, capture_output, summarize_output

CUSTOM_IMAGE = "ghcr.io/example/custom:1"  # not a python image: kfp warns once per task


@dsl.component(base_image=CUSTOM_IMAGE)
def say(text: str) -> str:
    return f"said {text}"


@dsl.component(base_image=CUSTOM_IMAGE)
def fail(text: str) -> str:
    raise ValueError(f"boom {text}")


@dsl.pipeline(name="capture-check")
def fan_out_and_fail() -> None:
    with dsl.ParallelFor(["a", "b"]) as item:
        say(text=item)
    broken = fail(text="x")
    say(text="after").after(broken)


def test_kfp_run_goes_to_the_file_and_tasks_become_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[TaskEvent] = []
    started: list[str] = []
    log = tmp_path / "logs" / "run.log"
    before = logging.getLogger().handlers[:]
    with capture_output(log) as capture:
        capture.watch(KfpTaskWatcher(events.append, started.append))
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(tmp_path / "root"),
            raise_on_error=False,
        )
        fan_out_and_fail()
        capture.reset_logging()  # kfp's racing ParallelFor threads may leave their own handler installed
        print("a stray print")
        logging.getLogger("pathreasoner.test").info("a library log line")
        warnings.warn("a stray warning", UserWarning, stacklevel=1)

    out, err = capsys.readouterr()
    assert out == "" and err == ""  # nothing reached the console
    assert logging.getLogger().handlers == before  # handlers restored
    text = log.read_text()
    for expected in (
        "executor_input",  # kfp's executor input JSON
        f'custom or non-Python base image "{CUSTOM_IMAGE}"',  # kfp's RuntimeWarning
        "ValueError: boom x",  # the failing task's traceback
        "a stray print",
        "pathreasoner.test: a library log line",
        "UserWarning: a stray warning",
    ):
        assert expected in text, expected
    assert "\x1b[" not in text  # colours removed

    by_status = sorted((e.name, e.status, e.summary) for e in events if e.status != "FAILURE")
    assert by_status == [
        ("say", "SUCCESS", "said a"),  # both ParallelFor iterations, each with its own output
        ("say", "SUCCESS", "said b"),
        ("say-2", "SKIPPED", "upstream task(s) ['fail'] failed"),
    ]
    failed = [e for e in events if e.status == "FAILURE"]
    assert [(e.name, e.error) for e in failed] == [("fail", "ValueError: boom x")]
    assert all(e.seconds > 0 for e in events if e.status in ("SUCCESS", "FAILURE"))
    assert sorted(started) == ["fail", "say", "say"]


def test_capture_restores_streams_after_an_error(tmp_path: Path) -> None:
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(RuntimeError, match="stage failed"), capture_output(tmp_path / "x.log"):
        print("before the error")
        raise RuntimeError("stage failed")
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert "before the error" in (tmp_path / "x.log").read_text()


@pytest.mark.parametrize(
    ("rendered", "short"),
    [
        ("'build-kg: 519 nodes, 850 edges'", "build-kg: 519 nodes, 850 edges"),
        (
            '[\'{"slides": ["a", "b", "c"], "content": "f1"}\', \'{"slides": ["d"], "content": "f2"}\']',
            "2 items: 3 slides | 1 slides",
        ),
        ("['[1, 2]', '[3]']", "2 items: 2 entries | 1 entries"),
        ("True", "True"),
        ("1", "1"),
    ],
)
def test_summarize_output(rendered: str, short: str) -> None:
    assert summarize_output(rendered) == short
