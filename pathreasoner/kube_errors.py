"""Kubernetes API errors (kubernetes.client ApiException) as one line that names the likely fix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CREDENTIALS_HINT = "the credentials were refused; check the kubeconfig or the pod's ServiceAccount token"


def api_error_message(exc: Any, what: str, hints: Mapping[int, str], default_hint: str) -> str:
    """'<what> failed (HTTP <status>): <server message>; <hint for the status>' (401 has a shared hint)."""
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (TypeError, ValueError):
        message = exc.body or exc.reason
    hint = {401: CREDENTIALS_HINT, **hints}.get(exc.status, default_hint)
    return f"{what} failed (HTTP {exc.status}): {message}; {hint}"
