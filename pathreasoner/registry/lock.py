"""A mutual-exclusion lock for alias moves, built on the one atomic operation the MLflow registry has.

MLflow has no transactions and no compare-and-set, but creating a registered model is atomic: the
backend store (sqlite, Postgres, MySQL) enforces the name as primary key, so of two concurrent
``create_registered_model("<model>.lock")`` calls exactly one succeeds and the other gets
RESOURCE_ALREADY_EXISTS. The lock model carries its holder's token, who and when as tags; releasing
deletes it. A holder that died leaves it behind: after ``ttl_s`` a waiter deletes it and competes again
by creating it. Before any write the holder re-reads the token (``verify``), so a holder that was
overtaken after its TTL stops instead of writing.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from pathreasoner.errors import RegistryError
from pathreasoner.registry.failures import TRANSPORT_ERRORS, explain
from pathreasoner.registry.tracking import Tracking

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
EXISTS = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
GONE = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")


def lock_name(model_name: str) -> str:
    return model_name + LOCK_SUFFIX


@dataclass(frozen=True)
class Lock:
    """A held lock: the lock model's name and this holder's token."""

    tracking: Tracking
    name: str
    token: str
    who: str

    def holder(self) -> dict[str, str] | None:
        """Tags of the lock model now (None: it does not exist)."""
        try:
            return dict(self.tracking.client.get_registered_model(self.name).tags)
        except MlflowException as exc:
            if exc.error_code in GONE:
                return None
            raise

    def verify(self) -> None:
        """Raise if this holder no longer holds the lock (overtaken after its TTL)."""
        tags = self.holder()
        if tags is None or tags.get("token") != self.token:
            who = (tags or {}).get("who", "nobody")
            raise RegistryError(
                f"lost the lock {self.name!r} (now held by {who}) before writing: this process took longer than "
                "registry.lock_ttl_s; nothing further was changed; retry, or raise registry.lock_ttl_s"
            )


@contextmanager
def registry_lock(
    tracking: Tracking, model_name: str, who: str, ttl_s: float, wait_s: float
) -> Iterator[Lock]:
    """Hold the lock of `model_name` for the block; RegistryError naming the holder when `wait_s` passes."""
    name = lock_name(model_name)
    token = uuid.uuid4().hex
    lock = Lock(tracking, name, token, who)
    action = f"take the promotion lock {name!r}"
    deadline = time.monotonic() + wait_s
    try:
        while not _try_acquire(lock, ttl_s):
            if time.monotonic() > deadline:
                tags = lock.holder() or {}
                raise RegistryError(
                    f"cannot {action}: held by {tags.get('who', '?')} since {tags.get('since', '?')} (expires "
                    f"{tags.get('expires', '?')}); wait for that promotion, or if its process died, retry after "
                    f"the expiry or delete the registered model {name!r}"
                )
            time.sleep(random.uniform(0.05, 0.3))
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, action, tracking.tracking_uri) from exc
    try:
        yield lock
    finally:
        _release(lock)


def _try_acquire(lock: Lock, ttl_s: float) -> bool:
    now = time.time()
    tags = {
        "token": lock.token,
        "who": lock.who,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + ttl_s)),
        "expires_epoch": f"{now + ttl_s:.3f}",
    }
    try:
        lock.tracking.client.create_registered_model(
            lock.name, tags=tags, description="promotion lock (pathreasoner.registry.lock); not a model"
        )
        return True
    except MlflowException as exc:
        if exc.error_code not in EXISTS:
            raise
    held = lock.holder()
    if held is None:
        return False  # released meanwhile: try again
    if held.get("token") == lock.token:
        return True  # our create went through but its answer was lost (a retried request)
    try:
        expired = float(held.get("expires_epoch", "inf")) < time.time()
    except ValueError:
        expired = True
    if expired:
        logger.warning(
            "lock %s held by %s expired at %s; taking it over",
            lock.name,
            held.get("who"),
            held.get("expires"),
        )
        _delete(lock)
    return False


def _delete(lock: Lock) -> None:
    try:
        lock.tracking.client.delete_registered_model(lock.name)
    except MlflowException as exc:
        if exc.error_code not in GONE:
            raise


def _release(lock: Lock) -> None:
    try:
        tags = lock.holder()
        if tags is not None and tags.get("token") == lock.token:
            _delete(lock)
        else:
            logger.warning(
                "lock %s was taken over before release (holder now %s)", lock.name, (tags or {}).get("who")
            )
    except TRANSPORT_ERRORS as exc:
        logger.warning("could not release lock %s (%s); it expires after registry.lock_ttl_s", lock.name, exc)
