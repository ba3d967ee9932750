"""Typed registry errors, and the translation of MLflow / HTTP / S3 failures into them.

MLflow reports an unreachable server, refused credentials and a failed S3 upload as the same
``MlflowException`` (or a bare ``requests``/``botocore`` error); ``explain`` tells them apart so
the message names the endpoint and the setting to fix.
"""

from __future__ import annotations

import re

from pathreasoner.errors import RegistryError


class TrackingServerUnreachable(RegistryError):
    """The MLflow tracking server does not answer (connection refused, DNS, timeout)."""


class TrackingAuthError(RegistryError):
    """The MLflow tracking server refused the client's credentials (HTTP 401/403)."""


class ArtifactStoreError(RegistryError):
    """Artifacts could not be written to / read from the object store (S3 unreachable, refused, missing)."""


class ModelVersionNotFound(RegistryError):
    """A models:/ URI names a model, version or alias the registry does not hold."""


_UNREACHABLE = re.compile(
    r"Connection refused|Failed to establish a new connection|NewConnectionError|Max retries exceeded"
    r"|Name or service not known|nodename nor servname|timed out|ConnectTimeout|RemoteDisconnected",
    re.IGNORECASE,
)
_S3_UNREACHABLE = re.compile(r"Could not connect to the endpoint URL|EndpointConnectionError", re.IGNORECASE)
_S3_REFUSED = re.compile(
    r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Unable to locate credentials|ExpiredToken"
    r"|InvalidToken|\(403\)|Forbidden",
)
_AUTH_CODES = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}
_HTTP_STATUS = re.compile(r"\b(?:error code|status code|HTTP)\s*:?\s*(\d{3})\b|\b(\d{3}) Client Error", re.I)
_SERVER_FAILURE = re.compile(r"\b5\d\d Server Error\b|error code 5\d\d\b|INTERNAL_ERROR")


def _chain(exc: BaseException) -> str:
    """The text of an exception and everything it was raised from."""
    parts: list[str] = []
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        parts.append(f"{type(node).__name__}: {node}")
        node = node.__cause__ or node.__context__
    return " <- ".join(parts)


def _http_status(exc: BaseException, text: str) -> int | None:
    code = getattr(exc, "error_code", None)
    if code in _AUTH_CODES:
        return _AUTH_CODES[code]
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return int(response.status_code)
    match = _HTTP_STATUS.search(text)
    return int(match.group(1) or match.group(2)) if match else None


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain(
    exc: BaseException, action: str, tracking_uri: str, artifact_location: str | None = None
) -> RegistryError:
    """A typed RegistryError for a failure of `action` (e.g. "register pathreasoner") against `tracking_uri`.

    ``artifact_location`` is where the artifacts were going (experiment root), named in S3 messages.
    """
    if isinstance(exc, RegistryError):
        return exc
    text = _chain(exc)
    where = artifact_location or "the artifact store"
    if _S3_UNREACHABLE.search(text):
        return ArtifactStoreError(
            f"cannot {action}: the S3 endpoint behind {where} is unreachable ({_short(text)}); start the object "
            "store or fix its endpoint: MLFLOW_S3_ENDPOINT_URL / AWS_ENDPOINT_URL of the process that writes "
            "the artifacts (this one for s3:// artifact roots, the MLflow server for mlflow-artifacts:/)"
        )
    if _S3_REFUSED.search(text):
        return ArtifactStoreError(
            f"cannot {action}: the object store refused the credentials for {where} ({_short(text)}); set valid "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (Secret s3-credentials) for the process that writes the "
            "artifacts (this one for s3:// artifact roots, the MLflow server for mlflow-artifacts:/)"
        )
    status = _http_status(exc, text)
    if status in (401, 403):
        return TrackingAuthError(
            f"cannot {action}: the MLflow server {tracking_uri} refused the credentials (HTTP {status}); set "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (Secret mlflow-client-credentials) to a user of "
            "its basic-auth app, with permission on this experiment and model"
        )
    if _UNREACHABLE.search(text) and tracking_uri.startswith(("http://", "https://")):
        return TrackingServerUnreachable(
            f"cannot {action}: the MLflow server {tracking_uri} is unreachable ({_short(text)}); start it "
            "(`mlflow server ...`, check GET /health) or fix MLFLOW_TRACKING_URI / registry.tracking_uri; "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES and MLFLOW_HTTP_REQUEST_TIMEOUT bound how long the client waits"
        )
    if _SERVER_FAILURE.search(text) and "artifact" in text.lower():
        return ArtifactStoreError(
            f"cannot {action}: the MLflow server {tracking_uri} failed to store or serve artifacts in {where} "
            f"({_short(text)}); check the server's log and its S3 settings (--artifacts-destination, "
            "MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the server)"
        )
    return RegistryError(
        f"cannot {action} in {tracking_uri} ({_short(text)}); check registry.tracking_uri / MLFLOW_TRACKING_URI "
        "and the server's log"
    )
