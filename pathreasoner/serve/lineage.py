"""What every answer is traceable to: model name/version/alias, KG and data versions, request id.

Model version and alias come from ``$PATHREASONER_MODEL_VERSION`` / ``$PATHREASONER_MODEL_ALIAS`` (set by
the deployed InferenceService, whose checkpoint arrives in /mnt/models without registry metadata), else
from a ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` model URI; ``kg_version`` and
``data_version`` come from the checkpoint's grounding bundle. The same facts go in the response body
(``lineage``) and in ``X-PathReasoner-*`` response headers.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass

MODEL_VERSION_ENV = "PATHREASONER_MODEL_VERSION"
MODEL_ALIAS_ENV = "PATHREASONER_MODEL_ALIAS"
REQUEST_ID_HEADER = "x-request-id"
HEADER_PREFIX = "X-PathReasoner-"
UNKNOWN = "unknown"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class ModelLineage:
    """The served model's identity (fixed at load time)."""

    model_name: str
    model_version: str = UNKNOWN
    model_alias: str = UNKNOWN
    kg_version: str = UNKNOWN
    data_version: str = UNKNOWN

    @classmethod
    def resolve(
        cls, model_name: str, model_uri: str, kg_version: str = UNKNOWN, data_version: str = UNKNOWN
    ) -> ModelLineage:
        version = os.environ.get(MODEL_VERSION_ENV, "").strip()
        alias = os.environ.get(MODEL_ALIAS_ENV, "").strip()
        if model_uri.startswith("models:/"):
            rest = model_uri[len("models:/") :].strip("/")
            if "@" in rest:
                alias = alias or rest.split("@", 1)[1]
            elif "/" in rest:
                version = version or rest.split("/", 1)[1]
        return cls(model_name, version or UNKNOWN, alias or UNKNOWN, kg_version, data_version)

    def for_request(self, request_id: str) -> dict[str, str]:
        """The body's `lineage` object."""
        return {**asdict(self), "request_id": request_id}


def request_id(headers: Mapping[str, str] | None) -> str:
    """The id the server's middleware gave this request, else the caller's X-Request-ID when it is a
    sane token, else a fresh uuid4."""
    from pathreasoner.serve.json_logs import current_request_id

    current = current_request_id()
    if current:
        return current
    for key, value in (headers or {}).items():
        if key.lower() == REQUEST_ID_HEADER and _SAFE_ID.match(value or ""):
            return value
    return uuid.uuid4().hex


def lineage_headers(lineage: Mapping[str, str]) -> dict[str, str]:
    """One `X-PathReasoner-<Key>` header per lineage fact (e.g. X-PathReasoner-Kg-Version)."""
    return {HEADER_PREFIX + key.replace("_", "-").title(): str(value) for key, value in lineage.items()}
