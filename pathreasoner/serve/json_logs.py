"""Server logs as one JSON object per line, each with the id of the request being served.

The request id is the client's ``X-Request-Id`` header or a new uuid4 hex; `metrics.RequestMiddleware`
sets it for the request (`current_request_id()`) and returns it in the ``x-request-id`` response header.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import warnings

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# kserve and uvicorn install their own handlers (kserve.logging.KSERVE_LOG_CONFIG): route them to the root
SERVER_LOGGERS = ("kserve", "kserve.trace", "uvicorn", "uvicorn.error", "uvicorn.access")


def current_request_id() -> str | None:
    """The id of the request this task is serving (None outside a request)."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"?, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_server_logging(level: str, fmt: str = "json") -> None:
    """Root logger to stderr as JSON (or plain text) lines; kserve's and uvicorn's loggers propagate to it.

    kserve's per-request timing lines (`kserve.trace`) are dropped below WARNING: /metrics carries latencies.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python warnings as log lines too (logger py.warnings), not raw stderr
    # kserve's v1/v2 routes use FastAPI's deprecated ORJSONResponse: one warning per request otherwise
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(level.upper())
    logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
