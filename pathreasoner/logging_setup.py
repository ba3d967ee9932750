"""Logging for entry points (CLI, components, server). Library modules only call getLogger.

`capture_output` is for `make demo`: everything a kfp.local run writes (kfp's loggers, each task's streamed
subprocess output, warnings) goes to a log file, and `KfpTaskWatcher` turns kfp's task lines into one
`TaskEvent` per finished task, so the console shows the stages and their results only.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

NOISY_LOGGERS = ("urllib3", "httpx", "filelock", "matplotlib", "PIL", "alembic", "git")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local logs through the root logger, as "09:06:48.056 - INFO - Executing task 'build-kg'" (its own
# handler) or, when ParallelFor threads race on swapping the root handlers, through capture_output's handler
_KFP = r"^(?:\d\d:\d\d:\d\d\.\d+ - [A-Z]+ - |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ root: )"
_START = re.compile(_KFP + r"Executing task '([^']+)'")
_FINISH = re.compile(_KFP + r"Task '([^']+)' finished with status (SUCCESS|FAILURE)")
_OUTPUTS = re.compile(_KFP + r"Task '([^']+)' (outputs:|has no outputs)")
_OUTPUT_PARAM = re.compile(r"^ {4}Output: (.*)$")
_CACHED = re.compile(_KFP + r"Task (\S+) cache hit")
_SKIPPED = re.compile(_KFP + r"Skipping (?:conditional )?task (\S+?):? (.*)$")
_SEPARATOR = re.compile(r"^\s*-{20,}$")  # indented when kfp's ParallelFor threads race on `print`
_ERROR = re.compile(r"\b[A-Za-z_.]*(?:Error|Exception)\b: .+")


def configure_logging(level: str = "INFO") -> None:
    """Rich console logs on a terminal, plain timestamped lines otherwise (KFP/KServe log collectors)."""
    level = os.environ.get("PATHREASONER_LOG_LEVEL", level).upper()
    root = logging.getLogger()
    if getattr(root, "_pathreasoner_configured", False):
        root.setLevel(level)
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root._pathreasoner_configured = True  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TaskEvent:
    """One pipeline task as it ended: SUCCESS, FAILURE, CACHED or SKIPPED."""

    name: str
    status: str
    seconds: float = 0.0
    summary: str = ""  # the task's `Output` (the stage's one-line summary), or why it was skipped
    error: str = ""  # on FAILURE: the last exception line of the task's output


@dataclass
class _Running:
    name: str
    start: float
    status: str = ""
    seconds: float = 0.0
    summary: str = ""
    collecting: bool = False
    emitted: bool = False
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=60))


def summarize_output(value: str) -> str:
    """kfp's rendering of a task's `Output` parameter, made short: a string unquoted, a list counted.

    `'build-kg: 519 nodes'` -> `build-kg: 519 nodes`; a list of JSON objects -> `2 items: 3 slides | 3 slides`.
    """
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if not isinstance(parsed, list):
        return value
    parts = []
    for item in parsed:
        with contextlib.suppress(ValueError):
            item = json.loads(item) if isinstance(item, str) else item
        if isinstance(item, dict):
            counted = next(((k, v) for k, v in item.items() if isinstance(v, list)), None)
            parts.append(f"{len(counted[1])} {counted[0]}" if counted else f"{len(item)} keys")
        elif isinstance(item, list):
            parts.append(f"{len(item)} entries")
        else:
            parts.append(str(item)[:40])
    return f"{len(parsed)} items: " + " | ".join(parts)


class KfpTaskWatcher:
    """Reads kfp.local's log lines (one thread's lines in order) and reports each task once it ends.

    Tasks of a `dsl.ParallelFor` run in threads, so state is kept per thread: the start, finish and outputs
    lines of one task all come from the thread that ran it.
    """

    def __init__(
        self, on_task: Callable[[TaskEvent], None], on_start: Callable[[str], None] | None = None
    ) -> None:
        self.on_task = on_task
        self.on_start = on_start
        self.events: list[TaskEvent] = []
        self._running: dict[int, _Running] = {}

    def feed(self, thread: int, line: str) -> None:
        """One complete line (ANSI colours removed) written by `thread`."""
        task = self._running.get(thread)
        if match := _START.match(line):
            if task is not None and task.status:
                self._finish(thread, task)
            self._running[thread] = _Running(match.group(1), time.monotonic())
            if self.on_start:
                self.on_start(match.group(1))
        elif match := _CACHED.match(line):
            self._emit(TaskEvent(match.group(1), "CACHED", summary="outputs reused from the cache"))
        elif match := _SKIPPED.match(line):
            self._emit(TaskEvent(match.group(1), "SKIPPED", summary=match.group(2).strip().rstrip(".")))
        elif task is None:
            return
        elif match := _FINISH.match(line):
            task.status, task.seconds = match.group(2), time.monotonic() - task.start
            if task.status == "FAILURE":
                self._finish(thread, task)
        elif match := _OUTPUTS.match(line):
            task.collecting = match.group(2) == "outputs:"
            if not task.collecting:
                self._finish(thread, task)
        elif task.collecting and (match := _OUTPUT_PARAM.match(line)):
            task.summary = summarize_output(match.group(1))
        elif _SEPARATOR.match(line) and task.status:
            self._finish(thread, task)
        elif not task.status:
            task.tail.append(line)

    def close(self) -> None:
        """Report tasks that finished without their closing lines (e.g. the run was interrupted)."""
        for thread, task in list(self._running.items()):
            if task.status:
                self._finish(thread, task)

    def _finish(self, thread: int, task: _Running) -> None:
        if not task.emitted:
            task.emitted = True
            errors = [m.group(0) for line in task.tail if (m := _ERROR.search(line))]
            error = errors[-1] if task.status == "FAILURE" and errors else ""
            self._emit(TaskEvent(task.name, task.status, task.seconds, task.summary, error))
        self._running.pop(thread, None)

    def _emit(self, event: TaskEvent) -> None:
        self.events.append(event)
        self.on_task(event)


class _LineStream(io.TextIOBase):
    """A write-only text stream: whole lines, colours removed, go to `file` and to `on_line(thread, line)`."""

    def __init__(self, file: TextIO, on_line: Callable[[int, str], None] | None = None) -> None:
        super().__init__()
        self._file = file
        self._on_line = on_line
        self._partial: dict[int, str] = {}
        self._lock = threading.RLock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        thread = threading.get_ident()
        with self._lock:
            *lines, rest = (self._partial.pop(thread, "") + text).split("\n")
            if rest:
                self._partial[thread] = rest
            for line in lines:
                self._line(thread, line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def drain(self) -> None:
        """Write out every thread's unfinished line."""
        with self._lock:
            for thread, rest in list(self._partial.items()):
                self._line(thread, rest)
            self._partial.clear()
            self._file.flush()

    def _line(self, thread: int, line: str) -> None:
        line = _ANSI.sub("", line).rstrip("\r")
        self._file.write(line + "\n")
        if self._on_line is not None:
            self._on_line(thread, line)


@dataclass
class Capture:
    """What `capture_output` hands back: the log file and the kfp watcher (set one with `watch`)."""

    path: Path
    stream: _LineStream
    handler: logging.Handler
    watcher: KfpTaskWatcher | None = None

    def watch(self, watcher: KfpTaskWatcher | None) -> None:
        """Feed the captured lines to `watcher` (None: stop)."""
        if self.watcher is not None:
            self.watcher.close()
        self.watcher = watcher

    def reset_logging(self) -> None:
        """Route the root logger to the log file again (kfp.local's ParallelFor threads can leave its handler)."""
        logging.getLogger().handlers[:] = [self.handler]


@contextlib.contextmanager
def capture_output(log_path: Path, level: str = "INFO") -> Iterator[Capture]:
    """Send sys.stdout, sys.stderr, every logging record and every warning to `log_path` (appended).

    A console meant to stay on the terminal must be bound to the real stream *before* entering (e.g.
    `rich.console.Console(file=sys.stderr)`). Child processes that inherit file descriptors 1/2 directly are
    not captured; kfp.local pipes its task subprocesses through `print`, so they are.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8", buffering=1) as file:
        capture: Capture | None = None

        def on_line(thread: int, line: str) -> None:
            if capture is not None and capture.watcher is not None:
                capture.watcher.feed(thread, line)

        stream = _LineStream(file, on_line)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        capture = Capture(log_path, stream, handler)
        root = logging.getLogger()
        saved_handlers, saved_level = root.handlers[:], root.level
        saved_print = builtins.print  # kfp's ParallelFor threads can leave its indenting `print` installed
        capture.reset_logging()
        root.setLevel(os.environ.get("PATHREASONER_LOG_LEVEL", level).upper())
        for noisy in NOISY_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        file.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}: {' '.join(sys.argv)}\n")
        try:
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(stream),
                contextlib.redirect_stderr(stream),
            ):
                warnings.simplefilter("default")
                logging.captureWarnings(True)
                try:
                    yield capture
                finally:
                    logging.captureWarnings(False)
        finally:
            stream.drain()
            capture.watch(None)
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            builtins.print = saved_print
