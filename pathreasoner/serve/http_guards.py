"""ASGI guard in front of the inference routes: body size cap and content type, as 4xx JSON.

A POST to an inference route (v1 ``:predict``, v2 ``/infer``, ``/openai/``) over
``serving.max_request_bytes`` gets 413 (chunked bodies included), one whose ``Content-Type`` is not JSON
(or, on v2, ``application/octet-stream`` for binary tensors) gets 415, and a JSON body that does not
parse gets 400; each names the field and the fix. A v2 body in the binary tensor extension is rewritten
as plain JSON (`v2.binary_to_json`: raw image bytes become base64) before KServe parses it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from pathreasoner.errors import RequestError
from pathreasoner.serve.metrics import record_error
from pathreasoner.serve.v2 import binary_to_json

Scope = dict[str, Any]


def guarded(path: str) -> bool:
    """The inference routes: v1 :predict/:explain, v2 .../infer, and everything under /openai/."""
    if path.startswith("/openai/"):
        return True
    if path.startswith("/v1/models/"):
        return ":" in path.rsplit("/", 1)[-1]
    return path.startswith("/v2/models/") and path.endswith("/infer")


async def _send_error(send: Any, status: int, message: str, field: str) -> None:
    record_error({413: "payload_too_large", 415: "unsupported_media_type"}.get(status, "invalid_input"))
    body = json.dumps({"error": message, "field": field}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_headers(raw: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """The request headers for a body rewritten as JSON of `length` bytes."""
    dropped = (b"content-type", b"content-length", b"inference-header-content-length")
    kept = [(k, v) for k, v in raw if k.lower() not in dropped]
    return [*kept, (b"content-type", b"application/json"), (b"content-length", str(length).encode())]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _content_type_ok(path: str, content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return _is_json(media) or (path.startswith("/v2/") and media == "application/octet-stream")


class RequestGuard:
    """Reject oversized or non-JSON POST bodies before they reach KServe's handlers."""

    def __init__(self, app: Any, max_request_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or not guarded(path):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        content_type = headers.get("content-type", "")
        if not _content_type_ok(path, content_type):
            await _send_error(
                send,
                415,
                f"Content-Type {content_type or '(none)'!r} is not supported; send the body as JSON with "
                "'Content-Type: application/json'",
                "Content-Type",
            )
            return
        too_big = (
            f"request body is larger than {self.max_request_bytes} bytes (serving.max_request_bytes); "
            "send fewer or smaller images per request"
        )
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            await _send_error(send, 400, f"Content-Length {length!r} is not a number", "Content-Length")
            return
        if length is not None and int(length) > self.max_request_bytes:
            await _send_error(send, 413, too_big, "body")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_request_bytes:
                await _send_error(send, 413, too_big, "body")
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        binary_header = headers.get("inference-header-content-length")
        if path.startswith("/v2/") and binary_header is not None:
            try:
                if not binary_header.isdigit():
                    raise RequestError(f"Inference-Header-Content-Length {binary_header!r} is not a number")
                body = binary_to_json(body, int(binary_header))
            except RequestError as exc:
                await _send_error(send, 400, str(exc), "Inference-Header-Content-Length")
                return
            scope = {**scope, "headers": _json_headers(scope.get("headers", []), len(body))}
            content_type = "application/json"
        if _is_json(content_type):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                await _send_error(
                    send, 400, f"request body is not valid JSON ({exc}); send a JSON object", "body"
                )
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
