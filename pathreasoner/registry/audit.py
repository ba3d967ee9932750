"""The audit log of alias moves, kept in the registry itself: one registered-model tag per move.

Tag ``audit.<seq, 6 digits>`` holds a JSON entry (seq, action, alias, from, to, who, when, why, forced).
Entries are written only while the promotion lock is held, so sequence numbers never collide and each
entry's ``from`` is the previous entry's ``to``.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

PREFIX = "audit."
ACTOR_ENV = "PATHREASONER_ACTOR"


@dataclass(frozen=True)
class AuditEntry:
    """One alias move."""

    seq: int
    action: str  # promote | force-promote | rollback
    alias: str
    from_version: str | None
    to_version: str
    who: str
    when: str  # ISO 8601, UTC
    why: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuditEntry:
        raw: dict[str, Any] = json.loads(text)
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def actor() -> str:
    """Who moves the alias: $PATHREASONER_ACTOR (e.g. a pipeline run), else the MLflow user or the OS user,
    with the host."""
    explicit = os.environ.get(ACTOR_ENV, "").strip()
    if explicit:
        return explicit
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_log(tags: dict[str, str]) -> list[AuditEntry]:
    """The audit entries among a registered model's tags, oldest first (unreadable ones skipped, logged)."""
    entries = []
    for key, value in tags.items():
        if not key.startswith(PREFIX):
            continue
        try:
            entries.append(AuditEntry.from_json(value))
        except (json.JSONDecodeError, TypeError) as exc:
            logger.warning("registered-model tag %s is not an audit entry (%s); skipped", key, exc)
    return sorted(entries, key=lambda e: e.seq)


def append(client: MlflowClient, name: str, entry: AuditEntry) -> None:
    """Write `entry` (the caller holds the promotion lock and chose ``seq`` = last + 1)."""
    client.set_registered_model_tag(name, f"{PREFIX}{entry.seq:06d}", entry.to_json())
