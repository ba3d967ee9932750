"""Generation in a child process, so the model's decode loop does not share the HTTP process's GIL.

With a small model (or a fast GPU), `generate` is mostly Python: each new token runs the model's modules,
the logits processors and the stopping criteria under the GIL. In one process, HTTP parsing, base64 and
image decoding, tokenizing and grounding queue behind it, and the model idles between batches. Here the
predictor (the HTTP process) prepares each request (`Preparer.prepare`: token ids, image patches) and
sends each batch's arrays through a pipe to a child that holds the weights and only generates: the two
run on different cores. vLLM separates its engine core from the API server for the same reason.

Cancellation crosses the pipe too: while a batch generates, the parent sends ``("cancel", rows)`` for
requests that timed out or whose client left, and the child's stopping criterion marks those rows
finished at the next token. A child that dies is started again on the next batch; the batch it was
running fails with a ServingError (HTTP 500) that names its exit code.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from pathreasoner.errors import ServingError

if TYPE_CHECKING:
    from pathreasoner.model.inference import PreparedItem

logger = logging.getLogger(__name__)

POLL_S = 0.005  # how often the parent looks for newly cancelled rows while a batch generates


@dataclass(frozen=True)
class ModelSpec:
    """What the child loads: checkpoint, device, dtype, torch threads (0: leave torch's default)."""

    checkpoint: Path
    device: str
    dtype: str
    max_new_tokens: int
    threads: int = 0


class ModelProcess:
    """A child process holding the model; `run` generates one batch of prepared items in it."""

    def __init__(self, spec: ModelSpec, start_timeout_s: float = 900) -> None:
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one batch at a time

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the child and wait until it has loaded the model; ServingError with its message if it fails."""
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_child_main, args=(child, self.spec), name="pathreasoner-model", daemon=True
        )
        started = time.monotonic()
        process.start()
        child.close()
        ready = wait([parent, process.sentinel], timeout=self.start_timeout_s)
        message = parent.recv() if parent in ready and parent.poll() else None
        if not message or message[0] != "ready":
            process.kill()
            process.join(5)
            reason = message[1] if message else f"exit code {process.exitcode}"
            raise ServingError(f"the model process could not load {self.spec.checkpoint}: {reason}")
        self._process, self._conn = process, parent
        logger.info(
            "model process %d ready on %s in %.1f s",
            process.pid,
            self.spec.device,
            time.monotonic() - started,
        )

    def run(
        self,
        prepared: list[PreparedItem],
        max_new_tokens: int,
        temperature: float,
        cancelled: list[threading.Event],
    ) -> tuple[list[str], list[int]]:
        """(texts, new-token counts) for `prepared`; a set event in `cancelled` stops its row at the next token."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                if self._process is not None:
                    logger.error(
                        "model process %s exited (code %s); starting a new one",
                        self.pid,
                        self._process.exitcode,
                    )
                self.start()
            assert self._conn is not None and self._process is not None
            arrays = [{k: v.numpy() for k, v in p.tensors.items()} for p in prepared]
            with contextlib.suppress(OSError):  # it died since is_alive(): the sentinel below reports it
                self._conn.send(("generate", arrays, max_new_tokens, temperature))
            sent: set[int] = set()
            while True:
                ready = wait([self._conn, self._process.sentinel], timeout=POLL_S)
                try:
                    reply = self._conn.recv() if self._conn in ready and self._conn.poll() else None
                except (EOFError, OSError):  # the child went away mid-batch
                    reply = None
                    ready.append(self._process.sentinel)
                if reply is not None:
                    kind, *payload = reply
                    if kind == "error":
                        raise ServingError(f"generation failed in the model process: {payload[0]}")
                    texts, counts = payload
                    return texts, counts
                if self._process.sentinel in ready:
                    self._process.join(5)
                    raise ServingError(
                        f"the model process exited (code {self._process.exitcode}) while generating a batch of "
                        f"{len(prepared)}; it is started again for the next batch"
                    )
                newly = [i for i, event in enumerate(cancelled) if i not in sent and event.is_set()]
                if newly:
                    with contextlib.suppress(OSError):  # a dead child shows on the sentinel next round
                        self._conn.send(("cancel", newly))
                    sent.update(newly)

    def close(self) -> None:
        """Stop the child (it also exits on its own when this process goes away)."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
            conn.close()
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)


class ModelPool:
    """Several model processes generating batches at once, each with its own GIL and cores (CPU serving: one
    process keeps generating a batch while the other waits for its clients' next requests). `run` takes a
    free process (`free_process`), so at most one batch per process runs at a time (MicroBatcher's `lanes`)."""

    def __init__(self, processes: list[ModelProcess]) -> None:
        if not processes:
            raise ValueError("a ModelPool needs at least one ModelProcess")
        self.processes = processes
        # last in, first out: a lone client keeps getting the process it just used, whose caches are warm
        # (alternating between two idle processes costs ~3 ms a request on CPU)
        self._free: queue.LifoQueue[ModelProcess] = queue.LifoQueue()
        for process in processes:
            self._free.put(process)

    def start(self) -> None:
        """Start every process (they load the checkpoint side by side); ServingError if one cannot."""
        with ThreadPoolExecutor(len(self.processes)) as pool:
            failures = [f.exception() for f in [pool.submit(p.start) for p in self.processes]]
        errors = [exc for exc in failures if exc is not None]
        if errors:
            self.close()
            raise errors[0]

    @contextlib.contextmanager
    def free_process(self) -> Iterator[ModelProcess]:
        """A process that is not generating (waits for one when all are), given back afterwards."""
        process = self._free.get()
        try:
            yield process
        finally:
            self._free.put(process)

    def close(self) -> None:
        for process in self.processes:
            process.close()


def _child_main(conn: Connection, spec: ModelSpec) -> None:
    """The child: load the model, then generate each batch the parent sends until "stop" or the pipe closes."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import StoppingCriteriaList

    from pathreasoner.model.inference import Generator, PreparedItem, StopRows

    if spec.threads:
        torch.set_num_threads(spec.threads)
    try:
        generator = Generator.from_checkpoint(
            spec.checkpoint, max_new_tokens=spec.max_new_tokens, device=spec.device, dtype=spec.dtype
        )
    except Exception as exc:  # the parent raises it as a ServingError
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message[0] != "generate":
            if message[0] == "stop":
                return
            continue  # a late "cancel" for a batch that already finished
        _, arrays, max_new_tokens, temperature = message
        done = [False] * len(arrays)

        def cancelled_rows(done: list[bool] = done) -> list[bool]:
            while conn.poll():
                kind, *rows = conn.recv()
                if kind == "cancel":
                    for row in rows[0]:
                        done[row] = True
            return done

        prepared = [PreparedItem({k: torch.from_numpy(v) for k, v in item.items()}) for item in arrays]
        try:
            texts, counts = generator.generate_prepared(
                prepared, max_new_tokens, temperature, StoppingCriteriaList([StopRows(cancelled_rows)])
            )
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", texts, counts))
