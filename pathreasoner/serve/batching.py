"""Dynamic micro-batching: concurrent requests share one `generate` call, with a per-request timeout.

`MicroBatcher.submit` queues a request's items and awaits their texts. One worker task, once one of its
`lanes` is free (one per model process; one in a thread), takes the first queued request and every request
already queued and, when the previous batch held several requests (concurrent traffic), waits up to
`max_wait_s` until the lane's share of the active clients has arrived: the most seen at the end of the last
`lanes` batches (each batch's items, whose clients come back, plus those queued meanwhile and those
generating in other lanes), divided by the lanes. While another lane is idle it takes no more than that share
(the idle lane takes the rest); never over `max_batch_size` items; a single client's requests never wait. It
groups them by generation options and runs each group as one batch in a worker thread; requests that arrive
meanwhile form the next batch. A request past its timeout is cancelled: dropped from the queue if it has not
started, or its rows stopped at the next token (its cancel event, read by a `StoppingCriteria`) if it has,
so its slot is freed either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from pathreasoner.errors import RequestError, ServingError
from pathreasoner.serve import metrics

logger = logging.getLogger(__name__)

Item = tuple[Sequence[Image.Image], str]  # (views, question), as requests carry them
# run(items, options, cancelled) -> (texts, new-token counts); called in a worker thread. `cancelled` has one
# event per item, set when its request is cancelled (stop that row). The batcher does not look inside items:
# the predictor queues them already prepared (Generator.prepare)
RunBatch = Callable[[list[Any], "GenerationOptions", list[threading.Event]], tuple[list[str], list[int]]]


class GenerationTimeout(ServingError):
    """A request ran past serving.request_timeout_s (HTTP 504)."""


@dataclass(frozen=True)
class GenerationOptions:
    """Per-request generation options, already checked against the configured bounds."""

    max_new_tokens: int
    temperature: float = 0.0

    @classmethod
    def from_parameters(
        cls, parameters: Any, max_new_tokens: int, max_temperature: float
    ) -> GenerationOptions:
        """The request's ``parameters`` object -> options; RequestError naming the field when out of bounds."""
        if parameters is None:
            return cls(max_new_tokens)
        if not isinstance(parameters, dict):
            raise RequestError(
                f"parameters must be a JSON object like {{'max_new_tokens': 64, 'temperature': 0}}, "
                f"got {type(parameters).__name__}"
            )
        unknown = sorted(set(parameters) - {"max_new_tokens", "temperature"})
        if unknown:
            raise RequestError(
                f"parameters has unknown field(s) {unknown}; allowed: ['max_new_tokens', 'temperature']"
            )
        tokens = parameters.get("max_new_tokens", max_new_tokens)
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= max_new_tokens:
            raise RequestError(
                f"parameters.max_new_tokens is {tokens!r}: it must be an integer from 1 to {max_new_tokens} "
                "(serving.max_new_tokens)"
            )
        temperature = parameters.get("temperature", 0.0)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 <= temperature <= max_temperature
        ):
            raise RequestError(
                f"parameters.temperature is {temperature!r}: it must be a number from 0 (greedy) to "
                f"{max_temperature} (serving.max_temperature)"
            )
        return cls(tokens, float(temperature))


@dataclass(eq=False)
class _Request:
    items: list[Any]
    options: GenerationOptions
    future: asyncio.Future[list[str]]
    cancelled: threading.Event = field(default_factory=threading.Event)


class MicroBatcher:
    """Collects concurrent requests into batches of at most `max_batch_size` items for `run`."""

    def __init__(self, run: RunBatch, max_batch_size: int, max_wait_s: float, lanes: int = 1) -> None:
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._lanes = lanes
        self._running: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._held: _Request | None = None  # did not fit in the previous batch
        self._last_batch_requests = 0  # requests in the previous batch: > 1 means concurrent traffic
        # clients active at the end of the previous batch: its items (their clients come back), the items
        # queued meanwhile and those generating in the other lanes; under concurrent traffic the next batch
        # waits for its share of them (all of them with one lane)
        self._expected_items = 0
        self._queued_items = 0
        self._generating_items = 0  # in every lane
        self._recent_active: deque[int] = deque(maxlen=lanes)

    @property
    def lanes(self) -> int:
        """Batches generating at once (more than one: `run` must be re-entrant, e.g. a ModelPool's)."""
        return self._lanes

    @lanes.setter
    def lanes(self, lanes: int) -> None:
        self._lanes = lanes
        self._recent_active = deque(self._recent_active, maxlen=lanes)

    async def submit(self, items: list[Any], options: GenerationOptions, timeout_s: float) -> list[str]:
        """Texts for `items`; GenerationTimeout after `timeout_s` (the request is cancelled then)."""
        self._ensure_worker()
        assert self._queue is not None
        request = _Request(list(items), options, asyncio.get_running_loop().create_future())
        self._queued_items += len(request.items)
        await self._queue.put(request)
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), timeout_s)
        except TimeoutError:
            raise GenerationTimeout(
                f"generation took longer than {timeout_s:g} s (serving.request_timeout_s); retry with a "
                "smaller parameters.max_new_tokens or fewer instances, or raise the timeout"
            ) from None
        finally:
            if not request.future.done():  # timed out or the client went away: free the slot
                request.cancelled.set()
                request.future.cancel()

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():  # first call, or a new event loop
            self._queue, self._held, self._queued_items = asyncio.Queue(), None, 0
            # a fresh context: the worker serves every request, it must not carry the first one's request id
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="micro-batcher", context=contextvars.Context()
            )

    async def _next_batch(self) -> list[_Request]:
        assert self._queue is not None
        if self._held is not None:
            first, self._held = self._held, None
        else:
            first = await self._queue.get()
            self._queued_items -= len(first.items)
        batch, size = [first], len(first.items)
        # one client at a time: answer at once. Concurrent clients: wait (at most max_wait) until this
        # lane's share of the clients active at the end of the previous batch is back, then take whatever
        # else is queued; no more than that share while another lane is idle (it takes the rest)
        now = time.monotonic()
        deadline = now + self.max_wait_s if self._last_batch_requests > 1 else now
        while True:
            expected = min(self._expected_items, self.max_batch_size)  # (other lanes may finish meanwhile)
            idle_lanes = self.lanes - 1 - len(self._running)
            limit = expected if idle_lanes > 0 and expected > 0 else self.max_batch_size
            if size >= limit:
                break
            try:
                request = self._queue.get_nowait()
                self._queued_items -= len(request.items)
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or size >= expected:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                    self._queued_items -= len(request.items)
                except TimeoutError:
                    break
            if size + len(request.items) > limit:
                self._held = request
                break
            batch.append(request)
            size += len(request.items)
        return [r for r in batch if not r.future.done()]

    async def _work(self) -> None:
        lanes = asyncio.Semaphore(self.lanes)
        while True:
            await lanes.acquire()  # a free lane first: the batch then gathers while the others generate
            try:
                batch = await self._next_batch()
            except BaseException:
                lanes.release()
                raise
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(lambda _: lanes.release())

    async def _run_batch(self, batch: list[_Request]) -> None:
        size = sum(len(r.items) for r in batch)
        self._generating_items += size
        groups: dict[GenerationOptions, list[_Request]] = {}
        for request in batch:
            groups.setdefault(request.options, []).append(request)
        try:
            for options, requests in groups.items():
                await self._run_group(options, requests)
        finally:
            self._generating_items -= size
        self._last_batch_requests = len(batch)
        held = len(self._held.items) if self._held is not None else 0
        # a batch ending while another lane's clients are answered but not yet back undercounts them: the
        # most active clients seen at the end of the last `lanes` batches count
        self._recent_active.append(size + self._queued_items + held + self._generating_items)
        self._expected_items = -(-max(self._recent_active) // self.lanes)  # a lane's share, rounded up

    async def _run_group(self, options: GenerationOptions, requests: list[_Request]) -> None:
        requests = [r for r in requests if not r.future.done()]
        if not requests:
            return
        items = [item for r in requests for item in r.items]
        rows = [r.cancelled for r in requests for _ in r.items]
        metrics.BATCH_SIZE.observe(len(items))
        try:
            with metrics.GENERATE_SECONDS.time():
                texts, counts = await asyncio.to_thread(self.run, items, options, rows)
        except Exception as exc:  # every waiting request gets the error
            logger.exception("generation failed for a batch of %d item(s)", len(items))
            for r in requests:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        metrics.GENERATED_TOKENS.inc(sum(counts))
        start = 0
        for r in requests:
            end = start + len(r.items)
            if not r.future.done():
                r.future.set_result(texts[start:end])
            start = end

    async def close(self) -> None:
        """Stop the worker (pending requests are cancelled)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for task in list(self._running):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
