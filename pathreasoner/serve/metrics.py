"""Prometheus metrics, the request-id middleware and the error handlers of the predictor's HTTP app.

The collectors live in prometheus_client's default registry, which kserve already serves on ``GET /metrics``
(next to its own ``request_predict_seconds`` etc.). `install(app)` runs after kserve registered its handlers:

- a request whose client disconnects before its response is cancelled (`disconnect.py`): status 499 in the
  histogram, ``client_disconnected`` in the error counter, one INFO line;
- every request gets an id (``X-Request-Id`` or a new one), echoed in the ``x-request-id`` header and put on
  its log lines; its latency goes to ``pathreasoner_request_seconds{route,status}``;
- client errors (4xx) are one WARNING line without a traceback and count in
  ``pathreasoner_request_errors_total{type}``; a timeout is HTTP 504 JSON; an unexpected error stays a 500
  with its traceback logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from http import HTTPStatus
from typing import Any

from prometheus_client import Counter, Histogram

from pathreasoner.serve.disconnect import call_cancelling_on_disconnect
from pathreasoner.serve.json_logs import reset_request_id, set_request_id

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
REQUEST_SECONDS = Histogram(
    "pathreasoner_request_seconds",
    "HTTP request latency by route template and status code",
    ["route", "status"],
    buckets=LATENCY_BUCKETS,
)
GENERATED_TOKENS = Counter("pathreasoner_generated_tokens", "New tokens generated (all requests)")
BATCH_SIZE = Histogram(
    "pathreasoner_batch_size",
    "Instances per generate() call (micro-batches across concurrent requests)",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
)
GENERATE_SECONDS = Histogram(
    "pathreasoner_generate_seconds",
    "Wall time of each batched generate() call (its sum over elapsed time: how busy the model is)",
    buckets=LATENCY_BUCKETS,
)
REQUEST_ERRORS = Counter(
    "pathreasoner_request_errors", "Failed requests by error type", ["type"]
)  # exported as pathreasoner_request_errors_total


def record_error(kind: str) -> None:
    """Count one failed request of `kind` (invalid_input, timeout, model_not_found, internal, ...)."""
    REQUEST_ERRORS.labels(type=kind).inc()


class RequestMiddleware:
    """Pure ASGI middleware: request id in and out, latency by route and status, cancel on disconnect."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (
            next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id" and v), None)
            or uuid.uuid4().hex
        )
        token = set_request_id(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            if await call_cancelling_on_disconnect(self.app, scope, receive, send_with_id):
                status = 499  # client closed request (nginx's code): counted, not an error of ours
                record_error("client_disconnected")
                logger.info("%s %s: client disconnected, request cancelled", scope["method"], scope["path"])
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if template != "/metrics":
                REQUEST_SECONDS.labels(route=template, status=str(status)).observe(
                    time.perf_counter() - start
                )
            reset_request_id(token)


def _client_error(kind: str, status: HTTPStatus) -> Any:
    from fastapi.responses import JSONResponse

    async def handler(request: Any, exc: Exception) -> Any:
        record_error(kind)
        logger.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, kind, exc)
        return JSONResponse(status_code=status, content={"error": str(exc)})

    return handler


async def _internal_error(request: Any, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    record_error("internal")
    logger.error("%s %s -> 500", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"error": f"{type(exc).__name__}: {exc}"})


def install(app: Any) -> None:
    """Add the middleware and error handlers to kserve's FastAPI `app` (after kserve added its own)."""
    from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady

    from pathreasoner.errors import RequestError
    from pathreasoner.serve.batching import GenerationTimeout

    app.add_middleware(RequestMiddleware)
    app.add_exception_handler(InvalidInput, _client_error("invalid_input", HTTPStatus.BAD_REQUEST))
    app.add_exception_handler(RequestError, _client_error("invalid_input", HTTPStatus.BAD_REQUEST))
    app.add_exception_handler(ModelNotFound, _client_error("model_not_found", HTTPStatus.NOT_FOUND))
    app.add_exception_handler(ModelNotReady, _client_error("model_not_ready", HTTPStatus.SERVICE_UNAVAILABLE))
    app.add_exception_handler(GenerationTimeout, _client_error("timeout", HTTPStatus.GATEWAY_TIMEOUT))
    app.add_exception_handler(Exception, _internal_error)
