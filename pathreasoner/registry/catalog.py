"""Read-only views of the registry for platform teams: versions, one version, two side by side, the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from pathreasoner.config import Config
from pathreasoner.registry import audit
from pathreasoner.registry.failures import TRANSPORT_ERRORS, ModelVersionNotFound, explain
from pathreasoner.registry.gate import PairedDiff, paired_bootstrap
from pathreasoner.registry.mlflow_registry import (
    EVAL_SET_TAG,
    EVAL_SPLIT_TAG,
    LINEAGE_KEYS,
    _client,
    _evidence,
    _not_found,
    _version_metrics,
    _version_or_raise,
)
from pathreasoner.registry.tracking import Tracking


@dataclass(frozen=True)
class VersionView:
    """One model version as the CLI shows it."""

    version: str
    aliases: list[str]
    created: str
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str] = field(repr=False)

    @property
    def gate(self) -> str:
        passed = self.tags.get("gate.passed")
        if passed is None:
            return "-"
        return ("passed" if passed == "true" else "refused") + (
            " (forced)" if self.tags.get("gate.forced") == "true" else ""
        )

    @property
    def eval_set(self) -> str:
        split, digest = self.tags.get(EVAL_SPLIT_TAG, "?"), self.tags.get(EVAL_SET_TAG)
        return f"{split}:{digest[:10]}" if digest else f"{split}:(no hash)"


@dataclass(frozen=True)
class VersionDiff:
    """Two versions side by side: metrics (a, b, b - a), tags that differ, and the paired accuracy difference."""

    a: VersionView
    b: VersionView
    metrics: list[tuple[str, float | None, float | None]]
    tags: list[tuple[str, str | None, str | None]]
    same_eval_set: bool
    paired: PairedDiff | None


def _view(mv: Any, aliases: list[str]) -> VersionView:
    created = datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    return VersionView(
        str(mv.version),
        sorted(aliases),
        created,
        str(mv.run_id or ""),
        _version_metrics(mv),
        dict(mv.tags or {}),
    )


def _model(tracking: Tracking, name: str) -> Any:
    try:
        return tracking.client.get_registered_model(name)
    except MlflowException as exc:
        if not _not_found(exc):
            raise
        raise ModelVersionNotFound(
            f"registered model {name!r} does not exist in {tracking.tracking_uri}; register a version first "
            "(`pathreasoner register`) or fix registry.model_name"
        ) from None


def _aliases(tracking: Tracking, name: str) -> dict[str, list[str]]:
    """version -> aliases on it."""
    model = _model(tracking, name)
    out: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        out.setdefault(str(version), []).append(alias)
    return out


def list_versions(cfg: Config) -> list[VersionView]:
    """Every version of the configured model, newest first."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        aliases = _aliases(tracking, name)
        found = tracking.client.search_model_versions(f"name='{name}'")
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"list versions of {name!r}", tracking.tracking_uri) from exc
    views = [_view(mv, aliases.get(str(mv.version), [])) for mv in found]
    return sorted(views, key=lambda v: int(v.version), reverse=True)


def show_version(cfg: Config, version: str) -> VersionView:
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        mv = _version_or_raise(tracking, name, version)
        return _view(mv, _aliases(tracking, name).get(str(mv.version), []))
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"read {name} v{version}", tracking.tracking_uri) from exc


def diff_versions(cfg: Config, a: str, b: str) -> VersionDiff:
    """Metrics and lineage of `a` and `b`; on the same eval set also the paired (b - a) answer_accuracy CI."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        mva, mvb = _version_or_raise(tracking, name, a), _version_or_raise(tracking, name, b)
        aliases = _aliases(tracking, name)
        va, vb = _view(mva, aliases.get(a, [])), _view(mvb, aliases.get(b, []))
        same = bool(va.tags.get(EVAL_SET_TAG)) and va.tags.get(EVAL_SET_TAG) == vb.tags.get(EVAL_SET_TAG)
        paired = None
        if same:
            ea, eb = _evidence(tracking, mva, True), _evidence(tracking, mvb, True)
            if ea.verdicts is not None and eb.verdicts is not None:
                gate = cfg.registry.gate
                paired = paired_bootstrap(eb.verdicts, ea.verdicts, gate.n_boot, gate.seed)
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"compare {name} v{a} and v{b}", tracking.tracking_uri) from exc
    metric_names = sorted(set(va.metrics) | set(vb.metrics))
    metrics = [(m, va.metrics.get(m), vb.metrics.get(m)) for m in metric_names]
    keys = [*LINEAGE_KEYS, EVAL_SPLIT_TAG, EVAL_SET_TAG, "gate.passed", "gate.forced"]
    tags = [(k, va.tags.get(k), vb.tags.get(k)) for k in keys if va.tags.get(k) != vb.tags.get(k)]
    return VersionDiff(va, vb, metrics, tags, same, paired)


def history(cfg: Config) -> list[audit.AuditEntry]:
    """The audit log of alias moves, oldest first."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        model = _model(tracking, name)
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"read the audit log of {name!r}", tracking.tracking_uri) from exc
    return audit.read_log(dict(model.tags))
