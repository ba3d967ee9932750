"""Register, promote, roll back and resolve model versions in the MLflow registry (aliases, not stages).

* ``register_model``: one MLflow run (params = flattened config, metrics from evaluate, config.yaml and
  the evaluation files as artifacts) and a pyfunc model version carrying the checkpoint, tagged with
  lineage (git sha, config hash, data/KG version, KFP run, image digest) and ``metric.<name>``; alias
  ``candidate``. The checkpoint is uploaded once (with the logged model); the version points at it.
* ``storage_uri``: the checkpoint's object-store prefix for KServe; proxied ``mlflow-artifacts:/`` URIs
  map onto ``registry.artifacts_destination`` (the server's ``--artifacts-destination``).
* ``promote``: alias ``champion`` only when the gate (``registry.gate``, see ``registry.gate``'s module)
  passes, or with ``force`` and a reason; the decision and each check are version tags (``gate.passed``,
  ``gate.reasons``, ``gate.check.<name>``). The move happens under the promotion lock (``registry.lock``)
  and is appended to the audit log (``registry.audit``); the registered-model tag ``champion_history``
  keeps the order of champions (JSON list of versions) for ``rollback``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow.exceptions import MlflowException

from pathreasoner import __version__
from pathreasoner.config import Config
from pathreasoner.errors import RegistryError
from pathreasoner.io_utils import atomic_dir
from pathreasoner.registry import audit, pyfunc_code
from pathreasoner.registry.failures import TRANSPORT_ERRORS, ModelVersionNotFound, explain
from pathreasoner.registry.gate import Check, Evidence, evaluate_gate, read_verdicts, required_metrics
from pathreasoner.registry.lock import Lock, registry_lock
from pathreasoner.registry.pyfunc_model import CHECKPOINT_ARTIFACT, SIGNATURE
from pathreasoner.registry.tracking import Tracking, configure

logger = logging.getLogger(__name__)

CANDIDATE = "candidate"
CHAMPION = "champion"
HISTORY_TAG = "champion_history"
METRIC_TAG_PREFIX = "metric."
EVAL_SET_TAG = "eval.set_hash"
EVAL_SPLIT_TAG = "eval.split"
GATE_CHECK_PREFIX = "gate.check."
EVAL_ON_PREFIX = "eval_on."  # eval_on.<eval_set_hash> = run id of a re-evaluation of this version on that set
PREDICTIONS_ARTIFACT = "eval/predictions.jsonl"
EVAL_FILES = (
    "predictions.jsonl",
    "report.md",
    "metrics_ci.json",
    "metrics_by_type.json",
    "metrics_by_organ.json",
    "by_question_type.png",
    "radar.png",
)
LINEAGE_KEYS = ("git_sha", "config_hash", "data_version", "kg_version", "kfp_run_id", "image_digest")
NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")
MAX_TAG_CHARS = 5000


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str
    model_uri: str  # models:/<name>/<version>
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}

    def line(self) -> str:
        scores = " ".join(f"{k}={v:.3f}" for k, v in sorted(self.metrics.items()))
        return f"register: {self.name} v{self.version} (run {self.run_id[:8]}, alias {CANDIDATE}) {scores}"


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of the promotion gate; every check is one reason, prefixed 'pass:' or 'fail:'.

    ``promoted``: 'champion' is (now) on ``version``; ``gate_passed``: the gate alone would allow it;
    ``forced``: promoted although the gate failed, for ``force_reason``."""

    promoted: bool
    reasons: list[str] = field(default_factory=list)
    previous_champion: str | None = None
    version: str | None = None
    gate_passed: bool | None = None
    forced: bool = False
    force_reason: str | None = None
    checks: tuple[Check, ...] = field(
        default=(), repr=False
    )  # the reasons, structured (tags gate.check.<name>)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}

    def line(self) -> str:
        verdict = f"v{self.version} -> {CHAMPION}" if self.promoted else f"v{self.version} NOT promoted"
        if self.forced:
            verdict += f" (FORCED past the gate: {self.force_reason})"
        return f"promote: {verdict} (previous champion: {self.previous_champion}); " + "; ".join(self.reasons)


# ---- helpers --------------------------------------------------------------------------------------


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"}; lists/None become their JSON text."""
    out: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def read_metrics(eval_dir: Path) -> dict[str, float]:
    """Numeric entries of <eval_dir>/metrics.json (``n_samples`` included, ``split`` dropped)."""
    path = Path(eval_dir) / "metrics.json"
    if not path.exists():
        raise RegistryError(
            f"{path} does not exist; run `pathreasoner evaluate` first and pass its output dir"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path} is not valid JSON ({exc}); rerun evaluate") from None
    metrics = {
        k: float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    if not metrics:
        raise RegistryError(f"{path} holds no numeric metrics; rerun evaluate")
    return metrics


def read_eval_set(eval_dir: Path) -> dict[str, str]:
    """Version tags naming the evaluated set: ``eval.split`` and ``eval.set_hash`` (when metrics.json has them)."""
    raw = json.loads((Path(eval_dir) / "metrics.json").read_text(encoding="utf-8"))
    found = {EVAL_SPLIT_TAG: raw.get("split"), EVAL_SET_TAG: raw.get("eval_set_hash")}
    return {k: str(v) for k, v in found.items() if isinstance(v, str) and v}


def _by_type_metrics(eval_dir: Path) -> dict[str, float]:
    """metrics_by_type.json flattened to ``by_type.<question type>.<metric>`` (empty when absent)."""
    path = eval_dir / "metrics_by_type.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        logger.warning("%s is not valid JSON; per-type metrics not logged", path)
        return {}
    return {
        f"by_type.{qtype}.{name}": float(value)
        for qtype, scores in data.items()
        if isinstance(scores, dict)
        for name, value in scores.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))
    }


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def _stage_checkpoint(checkpoint: Path, staging: Path) -> Path:
    """MLflow names the artifact folder after the directory: make sure it is called 'checkpoint'.

    The staged folder is a tree of hard links (no second copy of multi-GB weights) unless the
    staging dir is on another filesystem.
    """
    if checkpoint.name == CHECKPOINT_ARTIFACT:
        return checkpoint
    target = staging / CHECKPOINT_ARTIFACT
    shutil.copytree(checkpoint, target, copy_function=_link_or_copy)
    return target


def _pip_requirements() -> list[str]:
    import PIL
    import torch
    import transformers

    return [
        f"mlflow=={mlflow.__version__}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"transformers=={transformers.__version__}",
        f"pillow=={PIL.__version__}",
        "pandas<3",
        f"pathreasoner=={__version__}",  # the serving image installs it from this repo
    ]


def _client(cfg: Config) -> Tracking:
    return configure(cfg)


def _not_found(exc: MlflowException) -> bool:
    """The registry answered that the model/version/alias does not exist (not a transport failure)."""
    return exc.error_code in NOT_FOUND_CODES


def _version_or_raise(tracking: Tracking, name: str, version: str) -> Any:
    try:
        return tracking.client.get_model_version(name, str(version))
    except MlflowException as exc:
        if not _not_found(exc):
            raise explain(exc, f"read {name} v{version}", tracking.tracking_uri) from exc
        raise ModelVersionNotFound(
            f"model {name!r} has no version {version!r} in {tracking.tracking_uri} ({exc.message}); "
            "register one with `pathreasoner register` or pass an existing version"
        ) from None


def _alias_version(tracking: Tracking, name: str, alias: str) -> str | None:
    try:
        return str(tracking.client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if not _not_found(exc):
            raise explain(exc, f"read alias {alias!r} of {name}", tracking.tracking_uri) from exc
        return None


def _history(tracking: Tracking, name: str) -> list[str]:
    try:
        model = tracking.client.get_registered_model(name)
    except MlflowException as exc:
        if not _not_found(exc):
            raise explain(exc, f"read registered model {name!r}", tracking.tracking_uri) from exc
        raise ModelVersionNotFound(
            f"registered model {name!r} does not exist in {tracking.tracking_uri} ({exc.message}); "
            "run `pathreasoner register` first or fix registry.model_name"
        ) from None
    return _parse_history(model.tags)


def _parse_history(tags: dict[str, str]) -> list[str]:
    raw = tags.get(HISTORY_TAG, "[]")
    try:
        return [str(v) for v in json.loads(raw)]
    except (json.JSONDecodeError, TypeError):
        logger.warning(
            "registered-model tag %s=%r is not a JSON list; starting a new history", HISTORY_TAG, raw
        )
        return []


def _set_history(tracking: Tracking, name: str, history: list[str]) -> None:
    tracking.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def _version_metrics(mv: Any) -> dict[str, float]:
    out = {}
    for key, value in (mv.tags or {}).items():
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                out[key[len(METRIC_TAG_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return out


# ---- stage functions ------------------------------------------------------------------------------


def log_training_curves(train_log: Path) -> int:
    """Log a training stage's per-step history (train_log.json) as MLflow metrics; returns points logged."""
    if not train_log.exists():
        return 0
    log = json.loads(train_log.read_text(encoding="utf-8"))
    stage = str(log.get("stage", "train"))
    points = 0
    for entry in log.get("loss", []):
        step = int(entry.get("step", 0))
        values = {
            f"{stage}/{k}": float(v)
            for k, v in entry.items()
            if k not in ("step", "epoch") and isinstance(v, int | float)
        }
        mlflow.log_metrics(values, step=step)
        points += len(values)
    mlflow.log_artifact(str(train_log), artifact_path=stage)
    return points


def register_model(
    checkpoint: Path, eval_dir: Path, cfg: Config, lineage: dict[str, str]
) -> RegisteredVersion:
    """Log one run with config/metrics/eval artifacts and register the checkpoint as a new version.

    The checkpoint is uploaded once, with the logged model; the version (created with all its tags in
    one call) only points at it. When anything fails, no model version is left behind.
    """
    checkpoint, eval_dir = Path(checkpoint), Path(eval_dir)
    if not (checkpoint / "config.json").exists():
        raise RegistryError(
            f"checkpoint {checkpoint} has no config.json; pass the save_pretrained dir of train-sft/train-grpo"
        )
    metrics = read_metrics(eval_dir)
    eval_set = read_eval_set(eval_dir)
    tracking = _client(cfg)
    name = cfg.registry.model_name
    lineage = {k: str(v) for k, v in (lineage or {}).items()}
    if "git_sha" not in lineage:
        from pathreasoner.lineage import git_sha

        lineage["git_sha"] = git_sha()
    lineage["config_hash"] = cfg.config_hash()
    action = f"register {name} (artifacts in {tracking.artifact_location})"
    try:
        info, run_id = _log_run(checkpoint, eval_dir, cfg, tracking, lineage, metrics)
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, action, tracking.tracking_uri, tracking.artifact_location) from exc
    tags = {
        **lineage,
        **eval_set,
        "run_id": run_id,
        **{f"{METRIC_TAG_PREFIX}{k}": repr(v) for k, v in metrics.items()},
    }
    version = _create_version(tracking, name, info.model_uri, run_id, tags, action)
    registered = RegisteredVersion(name, version, run_id, f"models:/{name}/{version}", metrics)
    logger.info(registered.line())
    return registered


def _log_run(
    checkpoint: Path,
    eval_dir: Path,
    cfg: Config,
    tracking: Tracking,
    lineage: dict[str, str],
    metrics: dict[str, float],
) -> tuple[Any, str]:
    """The run: params, metrics, lineage tags, config + eval files, and the pyfunc model (checkpoint)."""
    with (
        tempfile.TemporaryDirectory(prefix="register-") as staging,
        mlflow.start_run(
            experiment_id=tracking.experiment_id, run_name=f"register-{lineage['config_hash'][:8]}"
        ) as run,
    ):
        mlflow.log_params(flatten(cfg.to_dict()))
        mlflow.log_metrics(metrics)
        mlflow.log_metrics(_by_type_metrics(eval_dir))
        mlflow.set_tags({f"lineage.{k}": v for k, v in lineage.items()})
        mlflow.log_text(cfg.to_yaml(), "config.yaml")
        for fname in EVAL_FILES:
            if (eval_dir / fname).exists():
                mlflow.log_artifact(str(eval_dir / fname), artifact_path="eval")
        mlflow.log_artifact(str(eval_dir / "metrics.json"), artifact_path="eval")
        log_training_curves(checkpoint.parent / "train_log.json")
        with warnings.catch_warnings():
            # an input example would make MLflow load and run the model at logging time
            warnings.filterwarnings("ignore", message=".*input example was not provided.*")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Path(pyfunc_code.__file__),  # models-from-code: nothing pickled
                artifacts={CHECKPOINT_ARTIFACT: str(_stage_checkpoint(checkpoint, Path(staging)))},
                pip_requirements=_pip_requirements(),
                signature=SIGNATURE,
                model_config={"max_new_tokens": cfg.serving.max_new_tokens},
            )
        return info, run.info.run_id


def _create_version(
    tracking: Tracking, name: str, model_uri: str, run_id: str, tags: dict[str, str], action: str
) -> str:
    """Register the uploaded model (no copy: the version's source is the logged model) + alias 'candidate'."""
    client = tracking.client
    version: str | None = None
    try:
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):  # a later version: fine
                raise
        mv = client.create_model_version(
            name,
            source=model_uri,
            run_id=run_id,
            tags={k: str(v)[:MAX_TAG_CHARS] for k, v in tags.items()},
            model_id=model_uri.removeprefix("models:/"),
        )
        version = str(mv.version)
        client.set_registered_model_alias(name, CANDIDATE, version)
    except TRANSPORT_ERRORS as exc:
        if version is not None:
            try:
                client.delete_model_version(name, version)
            except TRANSPORT_ERRORS:
                logger.warning("could not delete the half-registered %s v%s", name, version)
        raise explain(exc, action, tracking.tracking_uri, tracking.artifact_location) from exc
    return version


def _resolve_version_arg(tracking: Tracking, name: str, version: str | int | None) -> str:
    if version is not None and str(version).strip():
        return str(version)
    candidate = _alias_version(tracking, name, CANDIDATE)
    if candidate is None:
        raise RegistryError(
            f"model {name!r} has no '{CANDIDATE}' alias in {tracking.tracking_uri}; register a version first "
            "(`pathreasoner register`) or pass --version"
        )
    return candidate


def _evidence(tracking: Tracking, mv: Any, with_verdicts: bool) -> Evidence:
    """A version's metrics and eval set from its tags; its per-item verdicts from its run's predictions."""
    tags = mv.tags or {}
    verdicts = _run_verdicts(tracking, mv) if with_verdicts else None
    return Evidence(
        str(mv.version), _version_metrics(mv), tags.get(EVAL_SET_TAG), tags.get(EVAL_SPLIT_TAG), verdicts
    )


def _on_set(tracking: Tracking, mv: Any, eval_set_hash: str | None) -> Evidence | None:
    """The version's re-evaluation on `eval_set_hash` (tag eval_on.<hash>, `pathreasoner model reevaluate`)."""
    run_id = (mv.tags or {}).get(f"{EVAL_ON_PREFIX}{eval_set_hash}") if eval_set_hash else None
    if not run_id:
        return None
    run = tracking.client.get_run(run_id)
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    split = run.data.tags.get(EVAL_SPLIT_TAG)
    return Evidence(str(mv.version), metrics, eval_set_hash, split, _run_verdicts(tracking, mv, run_id))


def _run_verdicts(tracking: Tracking, mv: Any, run_id: str | None = None) -> dict[str, bool] | None:
    """item id -> correct from the run artifact eval/predictions.jsonl of the version's run, or of `run_id`
    (None when not logged)."""
    run_id = run_id or mv.run_id or (mv.tags or {}).get("run_id")
    if not run_id:
        return None
    folder, fname = PREDICTIONS_ARTIFACT.split("/")
    try:
        if fname not in {Path(f.path).name for f in tracking.client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory(prefix="gate-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=PREDICTIONS_ARTIFACT,
                dst_path=tmp,
                tracking_uri=tracking.tracking_uri,
            )
            return read_verdicts(Path(local))
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"read {PREDICTIONS_ARTIFACT} of run {run_id}", tracking.tracking_uri) from exc


def _gate(tracking: Tracking, cfg: Config, version: str) -> PromotionDecision:
    """Evaluate the gate for `version` against the current champion (no side effects)."""
    name = cfg.registry.model_name
    gate_cfg = cfg.registry.gate
    mv = _version_or_raise(tracking, name, version)
    metrics = _version_metrics(mv)
    missing = [m for m in required_metrics(gate_cfg) if m not in metrics]
    if missing:
        raise RegistryError(
            f"version {version} of {name!r} has no eval metric(s) {missing} (tags {METRIC_TAG_PREFIX}<name>; it has "
            f"{sorted(metrics)}); evaluate it (`pathreasoner evaluate`) and register the checkpoint again, or drop "
            "them from registry.gate.minimums"
        )
    previous = _alias_version(tracking, name, CHAMPION)
    compare = gate_cfg.margin is not None and previous is not None and previous != version
    cand = _evidence(tracking, mv, with_verdicts=compare)
    champ = None
    if compare:
        champ_mv = _version_or_raise(tracking, name, previous)
        champ = _on_set(tracking, champ_mv, cand.eval_set_hash) or _evidence(tracking, champ_mv, True)
    checks = evaluate_gate(gate_cfg, cand, champ)
    if previous == version:
        checks.append(Check("champion", True, f"v{version} is already {CHAMPION}"))
    passed = all(c.ok for c in checks)
    return PromotionDecision(
        passed, [str(c) for c in checks], previous, version, passed, checks=tuple(checks)
    )


def check_gate(cfg: Config, version: str | int | None = None) -> PromotionDecision:
    """Would `version` (default: alias 'candidate') be promoted? Changes nothing in the registry."""
    tracking = _client(cfg)
    try:
        return _gate(tracking, cfg, _resolve_version_arg(tracking, cfg.registry.model_name, version))
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"check the gate of {cfg.registry.model_name}", tracking.tracking_uri) from exc


def _decision_tags(decision: PromotionDecision, who: str) -> dict[str, str]:
    tags = {
        "gate.passed": str(bool(decision.gate_passed)).lower(),
        "gate.reasons": "; ".join(decision.reasons)[:MAX_TAG_CHARS],
        "gate.decided_at": audit.now_utc(),
        "gate.decided_by": who,
        "gate.forced": str(decision.forced).lower(),
        **{f"{GATE_CHECK_PREFIX}{c.name}": str(c)[:MAX_TAG_CHARS] for c in decision.checks},
    }
    if decision.forced:
        tags["gate.force_reason"] = str(decision.force_reason)[:MAX_TAG_CHARS]
    return tags


def _write_version_tags(tracking: Tracking, name: str, version: str, tags: dict[str, str]) -> None:
    """Set `tags` on the version and drop gate.check.* tags of an earlier decision that this one lacks."""
    client = tracking.client
    stale = [
        k
        for k in (client.get_model_version(name, version).tags or {})
        if k.startswith(GATE_CHECK_PREFIX) and k not in tags
    ]
    for key in stale:
        client.delete_model_version_tag(name, version, key)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _move_champion(
    tracking: Tracking, lock: Lock, name: str, to_version: str, history: list[str], action: str, why: str
) -> audit.AuditEntry:
    """Under the lock: move 'champion' to `to_version`, then record `history` (champions, oldest first) and
    the audit entry. If recording fails the alias is put back: it never points where the log does not say."""
    client = tracking.client
    previous = _alias_version(tracking, name, CHAMPION)
    entries = audit.read_log(dict(client.get_registered_model(name).tags))
    entry = audit.AuditEntry(
        seq=(entries[-1].seq + 1) if entries else 1,
        action=action,
        alias=CHAMPION,
        from_version=previous,
        to_version=to_version,
        who=lock.who,
        when=audit.now_utc(),
        why=why,
    )
    lock.verify()
    client.set_registered_model_alias(name, CHAMPION, to_version)
    try:
        _set_history(tracking, name, history)
        audit.append(client, name, entry)
    except TRANSPORT_ERRORS:
        try:
            if previous is None:
                client.delete_registered_model_alias(name, CHAMPION)
            else:
                client.set_registered_model_alias(name, CHAMPION, previous)
        except TRANSPORT_ERRORS:
            logger.error("could not put %s back on v%s after a failed audit write", CHAMPION, previous)
        raise
    return entry


def _locked(cfg: Config, tracking: Tracking, who: str) -> Any:
    return registry_lock(
        tracking, cfg.registry.model_name, who, cfg.registry.lock_ttl_s, cfg.registry.lock_wait_s
    )


def promote(
    cfg: Config, version: str | int | None = None, *, force: bool = False, reason: str | None = None
) -> PromotionDecision:
    """Set alias 'champion' on `version` (default: alias 'candidate') iff the gate passes, or with `force`
    and a `reason`. Decision and checks become version tags before the alias moves; the move is audited.
    Everything happens under the promotion lock, so racing promotions serialise."""
    if force and not (reason and reason.strip()):
        raise RegistryError(
            "--force needs --reason TEXT: say why the gate is overridden (it is kept in the audit log)"
        )
    tracking = _client(cfg)
    name = cfg.registry.model_name
    who = audit.actor()
    try:
        version = _resolve_version_arg(tracking, name, version)
        _version_or_raise(tracking, name, version)
        with _locked(cfg, tracking, who) as lock:
            decision = _gate(tracking, cfg, version)
            if force and not decision.gate_passed:
                decision = replace(decision, promoted=True, forced=True, force_reason=reason.strip())
            lock.verify()
            _write_version_tags(tracking, name, version, _decision_tags(decision, who))
            if decision.promoted and decision.previous_champion != version:
                why = (
                    f"forced: {decision.force_reason}"
                    if decision.forced
                    else (reason.strip() if reason and reason.strip() else "gate passed")
                )
                history = _history(tracking, name)
                previous = decision.previous_champion
                if previous is not None and (not history or history[-1] != previous):
                    history.append(previous)  # a champion set by hand: keep it reachable by rollback
                action = "force-promote" if decision.forced else "promote"
                _move_champion(tracking, lock, name, version, [*history, version], action, why)
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"promote {name} v{version}", tracking.tracking_uri) from exc
    logger.info(decision.line())
    return decision


def rollback(cfg: Config, reason: str | None = None) -> str:
    """Move 'champion' back to the previous champion (under the promotion lock, audited); returns that version."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        with _locked(cfg, tracking, audit.actor()) as lock:
            current = _alias_version(tracking, name, CHAMPION)
            history = _history(tracking, name)
            if current is None:
                raise RegistryError(
                    f"model {name!r} has no '{CHAMPION}' alias to roll back; promote a version first"
                )
            while history and history[-1] == current:
                history.pop()
            while history:
                try:
                    _version_or_raise(tracking, name, history[-1])
                    break
                except ModelVersionNotFound:
                    logger.warning("previous champion v%s no longer exists; skipping it", history[-1])
                    history.pop()
            if not history:
                raise RegistryError(
                    f"model {name!r} has no earlier champion than v{current} (tag {HISTORY_TAG}); "
                    "promote another version instead of rolling back"
                )
            target = history[-1]
            lock.verify()
            tracking.client.set_model_version_tag(name, current, "rolled_back", "true")
            why = reason.strip() if reason and reason.strip() else f"rollback of v{current}"
            _move_champion(tracking, lock, name, target, history, "rollback", why)
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"roll back {name}", tracking.tracking_uri) from exc
    logger.info("rollback: %s %s v%s -> v%s", name, CHAMPION, current, target)
    return target


def parse_model_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """'models:/name@alias' -> (name, None, alias); 'models:/name/3' -> (name, '3', None)."""
    if not model_uri.startswith("models:/"):
        raise RegistryError(
            f"model URI {model_uri!r} must look like models:/<name>@<alias> or models:/<name>/<version>"
        )
    rest = model_uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return name, None, alias
    elif "/" in rest:
        name, version = rest.split("/", 1)
        if name and version.isdigit():
            return name, version, None
    raise RegistryError(
        f"model URI {model_uri!r} must look like models:/<name>@<alias> or models:/<name>/<version>"
    )


def _resolve(tracking: Tracking, model_uri: str) -> Any:
    name, version, alias = parse_model_uri(model_uri)
    if alias is None:
        return _version_or_raise(tracking, name, str(version))
    try:
        return tracking.client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if not _not_found(exc):
            raise explain(exc, f"resolve {model_uri}", tracking.tracking_uri) from exc
        raise ModelVersionNotFound(
            f"model {name!r} has no alias {alias!r} in {tracking.tracking_uri} ({exc.message}); "
            f"register a version and run `pathreasoner promote`, or use models:/{name}@{CANDIDATE}"
        ) from None


def champion_eval_metrics(cfg: Config) -> dict[str, Any] | None:
    """The current champion's metrics.json (its register run's ``eval/metrics.json``, with ``eval_set_hash`` and
    ``split``) for evaluate's candidate-vs-champion report; None when there is no champion or no such file."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        version = _alias_version(tracking, name, CHAMPION)
        if version is None:
            return None
        run_id = _version_or_raise(tracking, name, version).run_id
        if not run_id or "metrics.json" not in {
            Path(f.path).name for f in tracking.client.list_artifacts(run_id, "eval")
        }:
            return None
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/eval/metrics.json")
    except TRANSPORT_ERRORS as exc:
        raise explain(exc, f"read the eval metrics of {name}@{CHAMPION}", tracking.tracking_uri) from exc
    return {**json.loads(text), "version": version}


def resolve_version(model_uri: str, cfg: Config) -> Any:
    """The ModelVersion a models:/ URI points at (ModelVersionNotFound naming the fix when it does not exist)."""
    return _resolve(_client(cfg), model_uri)


def resolve_checkpoint(model_uri: str, cfg: Config, dst_dir: Path | None = None) -> Path:
    """Download the 'checkpoint' artifact of a registered version; returns the local checkpoint dir
    (``<dst_dir>/artifacts/checkpoint``). It appears only when complete; nothing else in `dst_dir` is touched.
    """
    tracking = _client(cfg)
    mv = _resolve(tracking, model_uri)
    name, version = mv.name, str(mv.version)
    dst = Path(dst_dir) if dst_dir else cfg.work_dir / "models" / f"{name}-v{version}"
    relative = Path("artifacts") / CHECKPOINT_ARTIFACT  # download_artifacts keeps the model-relative path
    target = dst / relative
    if (target / "config.json").exists():
        return target
    try:
        with atomic_dir(target) as tmp:
            scratch = tmp / ".mlflow-download"  # not a name a checkpoint file could have
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version}/{relative.as_posix()}",
                dst_path=str(scratch),
                tracking_uri=tracking.tracking_uri,
            )
            if not (scratch / relative / "config.json").exists():
                raise RegistryError(
                    f"{name} v{version} has no {relative}/config.json; re-register it with `pathreasoner register`"
                )
            for child in (scratch / relative).iterdir():
                child.rename(tmp / child.name)
            shutil.rmtree(scratch)
    except TRANSPORT_ERRORS as exc:
        if isinstance(exc, MlflowException) and _not_found(exc):
            raise ModelVersionNotFound(
                f"{name} v{version} has no artifacts/{CHECKPOINT_ARTIFACT} ({exc.message}); was it registered by "
                "`pathreasoner register` (pyfunc with a checkpoint artifact)?"
            ) from None
        raise explain(exc, f"download {relative} of {name} v{version}", tracking.tracking_uri) from exc
    logger.info("resolved %s -> %s (v%s)", model_uri, target, version)
    return target


def object_store_uri(artifact_uri: str, cfg: Config) -> str:
    """`artifact_uri` as object storage: proxied mlflow-artifacts:/<path> -> <artifacts_destination>/<path>."""
    if not artifact_uri.startswith("mlflow-artifacts:"):
        return artifact_uri.rstrip("/")
    destination = cfg.registry.artifacts_destination
    if not destination:
        raise RegistryError(
            f"{artifact_uri} is stored behind the MLflow server's artifact proxy, which KServe cannot read; set "
            "registry.artifacts_destination to the server's --artifacts-destination (e.g. s3://mlflow/artifacts)"
        )
    path = urlparse(artifact_uri).path.strip("/")
    return f"{destination}/{path}" if path else destination


def storage_uri(model_uri: str, cfg: Config) -> str:
    """Object-store URI of the checkpoint folder of a registered version (KServe's STORAGE_URI)."""
    tracking = _client(cfg)
    mv = _resolve(tracking, model_uri)
    try:
        root = tracking.client.get_model_version_download_uri(mv.name, str(mv.version))
    except MlflowException as exc:
        raise explain(exc, f"locate the artifacts of {mv.name} v{mv.version}", tracking.tracking_uri) from exc
    return f"{object_store_uri(root, cfg)}/artifacts/{CHECKPOINT_ARTIFACT}"
