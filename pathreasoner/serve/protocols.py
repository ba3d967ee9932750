"""The predictor's own additions to kserve's app: the request guard and the OpenAI-compatible routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pathreasoner.serve.http_guards import RequestGuard
from pathreasoner.serve.metrics import record_error
from pathreasoner.serve.openai_route import register_openai_routes

logger = logging.getLogger(__name__)


async def _validation_error(request: Any, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's schema errors (e.g. a v2 body that is not an InferenceRequest) as one 422 JSON line."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "InferenceRequest"))
    record_error("invalid_input")
    message = f"{field or 'body'}: {first.get('msg', 'invalid request')}"
    logger.warning("%s %s -> 422: %s", request.method, request.url.path, message)
    return JSONResponse({"error": message, "field": field or "body"}, status_code=422)


def protocol_hook(model: Any) -> Callable[[Any], None]:
    """A HostModelServer app hook adding the size/content-type guard and /openai/v1 routes for `model`."""

    def install(app: Any) -> None:
        app.add_middleware(RequestGuard, max_request_bytes=model.cfg.serving.max_request_bytes)
        app.add_exception_handler(RequestValidationError, _validation_error)
        register_openai_routes(app, model)

    return install
