"""Re-evaluate a registered version on another eval set, so the gate can compare it with a candidate.

The version's checkpoint is downloaded, evaluated on `samples_dir` (its ``eval.split``), and the outputs
are logged as a run of their own (``reevaluate-v<N>``: metrics, ``eval/`` files). The version gets the
tag ``eval_on.<eval_set_hash>`` = that run's id; the gate uses it when the candidate was evaluated on
that set. The version's own ``metric.*`` and ``eval.set_hash`` tags stay as registered.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow

from pathreasoner.config import Config
from pathreasoner.errors import RegistryError
from pathreasoner.registry.failures import TRANSPORT_ERRORS, explain
from pathreasoner.registry.mlflow_registry import (
    CHAMPION,
    EVAL_FILES,
    EVAL_ON_PREFIX,
    EVAL_SET_TAG,
    EVAL_SPLIT_TAG,
    _alias_version,
    _client,
    _version_or_raise,
    read_metrics,
    resolve_checkpoint,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reevaluation:
    version: str
    eval_set_hash: str
    run_id: str
    metrics: dict[str, float]

    def line(self) -> str:
        acc = self.metrics.get("answer_accuracy", float("nan"))
        return (
            f"reevaluate: v{self.version} on eval set {self.eval_set_hash[:12]} answer_accuracy={acc:.3f} "
            f"(run {self.run_id[:8]}, tag {EVAL_ON_PREFIX}{self.eval_set_hash[:12]}…)"
        )


def reevaluate(
    cfg: Config, version: str, samples_dir: Path, out_dir: Path | None = None, expect_hash: str | None = None
) -> Reevaluation:
    """Evaluate `version` on `samples_dir` and link the result to the version (tag eval_on.<hash>).

    `expect_hash`: the eval set the caller needs (a candidate's); a different set is an error, and nothing is
    logged."""
    from pathreasoner.eval.evaluate import evaluate_checkpoint

    tracking = _client(cfg)
    name = cfg.registry.model_name
    _version_or_raise(tracking, name, version)
    checkpoint = resolve_checkpoint(f"models:/{name}/{version}", cfg)
    with tempfile.TemporaryDirectory(prefix="reevaluate-") as tmp:
        out = Path(out_dir) if out_dir else Path(tmp) / "eval"
        evaluate_checkpoint(checkpoint, Path(samples_dir), out, cfg)
        raw = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        digest = raw.get("eval_set_hash")
        if not digest:
            raise RegistryError(f"{out}/metrics.json has no eval_set_hash; update pathreasoner and rerun")
        if expect_hash and digest != expect_hash:
            raise RegistryError(
                f"{samples_dir} (split {raw.get('split')}) is eval set {digest[:12]}, not the candidate's "
                f"{expect_hash[:12]}; pass the samples dir (and eval.split) the candidate was evaluated on"
            )
        metrics = read_metrics(out)
        try:
            with mlflow.start_run(
                experiment_id=tracking.experiment_id, run_name=f"reevaluate-v{version}"
            ) as run:
                mlflow.log_metrics(metrics)
                mlflow.set_tags(
                    {
                        "reevaluated_version": version,
                        EVAL_SET_TAG: digest,
                        EVAL_SPLIT_TAG: str(raw.get("split")),
                    }
                )
                for fname in (*EVAL_FILES, "metrics.json"):
                    if (out / fname).exists():
                        mlflow.log_artifact(str(out / fname), artifact_path="eval")
            tracking.client.set_model_version_tag(name, version, f"{EVAL_ON_PREFIX}{digest}", run.info.run_id)
        except TRANSPORT_ERRORS as exc:
            raise explain(exc, f"log the re-evaluation of {name} v{version}", tracking.tracking_uri) from exc
    result = Reevaluation(version, digest, run.info.run_id, metrics)
    logger.info(result.line())
    return result


def reevaluate_champion_for(cfg: Config, version: str, samples_dir: Path) -> Reevaluation | None:
    """Re-evaluate the current champion on candidate `version`'s eval set (from `samples_dir`) when it has no
    evaluation on that set yet; None when there is nothing to do (no champion, same set, already done)."""
    tracking = _client(cfg)
    name = cfg.registry.model_name
    try:
        cand = _version_or_raise(tracking, name, version)
        digest = (cand.tags or {}).get(EVAL_SET_TAG)
        champion = _alias_version(tracking, name, CHAMPION)
        if not digest:
            raise RegistryError(
                f"v{version} has no {EVAL_SET_TAG} tag (evaluated before eval sets were hashed); evaluate it again "
                "and register the checkpoint again"
            )
        if champion is None or champion == str(version):
            return None
        tags = _version_or_raise(tracking, name, champion).tags or {}
        if tags.get(EVAL_SET_TAG) == digest or f"{EVAL_ON_PREFIX}{digest}" in tags:
            return None
    except TRANSPORT_ERRORS as exc:
        raise explain(
            exc, f"read the eval sets of {name} v{version} and {CHAMPION}", tracking.tracking_uri
        ) from exc
    return reevaluate(cfg, champion, samples_dir, expect_hash=digest)
