"""Typed registry errors, and the translation of MLflow / HTTP / S3 failures into them.

MLflow reports an unreachable server, refused credentials and a failed S3 upload as the same
``MlflowException`` (or a bare ``requests``/``botocore`` error); ``explain`` tells them apart so
the message names the endpoint and the setting to fix.
"""

from __future__ import annotations

import re
import urllib.request

from mlflow.exceptions import MlflowException

from pathreasoner.errors import RegistryError


def _transport_errors() -> tuple[type[BaseException], ...]:
    """MLflow's own errors, OSError (requests' errors and sockets) and the S3 client's errors."""
    errors: list[type[BaseException]] = [MlflowException, OSError]
    try:
        import boto3.exceptions
        import botocore.exceptions
    except ImportError:  # no S3 client installed: s3:// artifact roots are then unusable anyway
        return tuple(errors)
    return (
        *errors,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        boto3.exceptions.Boto3Error,
    )


TRANSPORT_ERRORS = _transport_errors()  # what MLflow, requests and boto3 raise when a store fails


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
    r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Unable to locate credentials|ExpiredToken|InvalidToken"
)
_NO_BUCKET = re.compile(r"NoSuchBucket")
_AUTH_CODES = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}
_HTTP_STATUS = re.compile(r"\b(?:error code|status code|HTTP)\s*:?\s*(\d{3})\b|\b(\d{3}) Client Error", re.I)
# the server's artifact proxy failed (its own S3 upload/download): it answers 5xx, then may drop the connection
_PROXY_FAILURE = re.compile(r"\b5\d\d Server Error\b[^<]*/mlflow-artifacts/")


def _chain(exc: BaseException) -> list[str]:
    """'Type: message' of an exception and of everything it was raised from or while handling, outermost
    first (both links are followed: a failure inside ``__exit__`` hides the original one in ``__context__``)."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        node = todo.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        parts.append(f"{type(node).__name__}: {node}")
        todo += [e for e in (node.__cause__, node.__context__) if e is not None]
    return parts


def _first(pattern: re.Pattern[str], parts: list[str]) -> str | None:
    """The first exception text in the chain that matches `pattern`, shortened for a message."""
    for part in parts:
        if pattern.search(part):
            text = " ".join(part.split())
            return text if len(text) <= 400 else text[:397] + "..."
    return None


def _http_status(exc: BaseException, text: str) -> int | None:
    code = getattr(exc, "error_code", None)
    if code in _AUTH_CODES:
        return _AUTH_CODES[code]
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return int(response.status_code)
    match = _HTTP_STATUS.search(text)
    return int(match.group(1) or match.group(2)) if match else None


def _healthy(tracking_uri: str) -> bool:
    """Does the server answer GET /health right now (a dropped request vs. a server that is down)?"""
    try:
        with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=3) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):
        return False


def explain(
    exc: BaseException, action: str, tracking_uri: str, artifact_location: str | None = None
) -> RegistryError:
    """A typed RegistryError for a failure of `action` (e.g. "register pathreasoner") against `tracking_uri`.

    ``artifact_location`` is where the artifacts were going (experiment root), named in S3 messages.
    """
    if isinstance(exc, RegistryError):
        return exc
    parts = _chain(exc)
    where = artifact_location or "the artifact store"
    if found := _first(_S3_UNREACHABLE, parts):
        return ArtifactStoreError(
            f"cannot {action}: the S3 endpoint behind {where} is unreachable ({found}); start the object "
            "store or fix its endpoint: MLFLOW_S3_ENDPOINT_URL / AWS_ENDPOINT_URL of the process that writes "
            "the artifacts (this one for s3:// artifact roots, the MLflow server for mlflow-artifacts:/)"
        )
    if found := _first(_S3_REFUSED, parts):
        return ArtifactStoreError(
            f"cannot {action}: the object store refused the credentials for {where} ({found}); set valid "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (Secret s3-credentials) for the process that writes the "
            "artifacts (this one for s3:// artifact roots, the MLflow server for mlflow-artifacts:/)"
        )
    if found := _first(_NO_BUCKET, parts):
        return ArtifactStoreError(
            f"cannot {action}: the bucket of {where} does not exist ({found}); create it, or point the "
            "artifact root (registry.artifact_root / the server's --artifacts-destination) at an existing bucket"
        )
    if found := _first(_PROXY_FAILURE, parts):
        return ArtifactStoreError(
            f"cannot {action}: the MLflow server {tracking_uri} failed to store or serve artifacts in {where} "
            f"({found}); check the server's log and its S3 settings (--artifacts-destination, "
            "MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the server)"
        )
    status = _http_status(exc, " ".join(parts))
    if status in (401, 403):
        return TrackingAuthError(
            f"cannot {action}: the MLflow server {tracking_uri} refused the credentials (HTTP {status}); set "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (Secret mlflow-client-credentials) to a user of "
            "its basic-auth app, with permission on this experiment and model"
        )
    found = _first(_UNREACHABLE, parts)
    if (
        found
        and tracking_uri.startswith(("http://", "https://"))
        and artifact_location
        and _healthy(tracking_uri)
    ):
        # alive, but it dropped the connection: its artifact proxy failed (uvicorn closes after a 500)
        return ArtifactStoreError(
            f"cannot {action}: the MLflow server {tracking_uri} is up but dropped the request while storing "
            f"artifacts in {where} ({found}); check the server's log and its S3 settings (--artifacts-destination, "
            "MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the server)"
        )
    if found and tracking_uri.startswith(("http://", "https://")):
        return TrackingServerUnreachable(
            f"cannot {action}: the MLflow server {tracking_uri} is unreachable ({found}); start it "
            "(`mlflow server ...`, check GET /health) or fix MLFLOW_TRACKING_URI / registry.tracking_uri; "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES and MLFLOW_HTTP_REQUEST_TIMEOUT bound how long the client waits"
        )
    return RegistryError(
        f"cannot {action} in {tracking_uri} ({_first(re.compile(''), parts)}); check registry.tracking_uri / "
        "MLFLOW_TRACKING_URI and the server's log"
    )
