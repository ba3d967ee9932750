"""A Kubernetes API server on 127.0.0.1 for `pathreasoner deploy --apply`: custom objects only.

    GET/DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}
    POST       /apis/{group}/{version}/namespaces/{ns}/{plural}               create (409 if it exists)
    PUT        /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}        replace (409 on a stale resourceVersion)

With `?fieldValidation=Strict` an object `validate` finds problems in is refused with 422, like an API server
checking the CRD schema. `forbid` answers 403 to everything (a ServiceAccount without RBAC).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from tests.servers import free_port


@dataclass
class FakeApi:
    validate: Callable[[dict[str, Any]], list[str]] | None = None
    forbid: bool = False
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (plural, ns, name)
    requests: list[tuple[str, str]] = field(default_factory=list)
    revision: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        if self.forbid:
            return 403, _status(403, "Forbidden", f"{method} {path} is forbidden for serviceaccount")
        parts = path.strip("/").split("/")  # apis, group, version, namespaces, ns, plural[, name]
        if len(parts) not in (6, 7) or parts[0] != "apis" or parts[3] != "namespaces":
            return 404, _status(404, "NotFound", f"no route {path}")
        ns, plural = parts[4], parts[5]
        name = parts[6] if len(parts) == 7 else (body or {}).get("metadata", {}).get("name", "")
        key = (plural, ns, name)
        with self.lock:
            current = self.objects.get(key)
            if method == "GET" or method == "DELETE":
                if current is None:
                    return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
                if method == "DELETE":
                    del self.objects[key]
                return 200, current
            strict = query.get("fieldValidation") == ["Strict"]
            problems = self.validate(body) if (strict and self.validate) else []
            if problems:
                return 422, _status(422, "Invalid", "; ".join(problems))
            if method == "POST" and current is not None:
                return 409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            if method == "PUT":
                if current is None:
                    return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
                if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                    return 409, _status(409, "Conflict", "the object has been modified")
            self.revision += 1
            stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.revision)}}
            self.objects[key] = stored
            return (201 if method == "POST" else 200), stored


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message}  # fmt: skip


@contextmanager
def fake_api(api: FakeApi, workdir: Path) -> Iterator[FakeApi]:
    """Serve `api` on a free port with KUBECONFIG pointing at it."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, out = api.handle(self.command, url.path, parse_qs(url.query), body)
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": "deployer", "user": {"token": "test-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "deployer"}}],
                "current-context": "fake",
            }
        )
    )
    saved = {key: os.environ.get(key) for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    os.environ["KUBECONFIG"] = str(kubeconfig)
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
