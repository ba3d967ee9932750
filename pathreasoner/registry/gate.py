"""The promotion gate as pure logic: absolute minimums, item count, distance from chance, and
non-inferiority against the champion (paired bootstrap on per-item correctness, same eval set only).

Nothing here talks to MLflow: ``mlflow_registry`` gathers each version's metrics, eval-set hash and
per-item verdicts and calls ``evaluate_gate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pathreasoner.config import GateConfig
from pathreasoner.errors import RegistryError

ACCURACY = "answer_accuracy"


@dataclass(frozen=True)
class Check:
    """One gate check: a short name (the version tag ``gate.check.<name>``), its outcome and why."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'pass' if self.ok else 'fail'}: {self.detail}"


@dataclass(frozen=True)
class Evidence:
    """What the gate knows about one version's evaluation."""

    version: str
    metrics: dict[str, float]
    eval_set_hash: str | None = None
    split: str | None = None
    verdicts: dict[str, bool] | None = field(
        default=None, repr=False
    )  # item id -> correct (None: not logged)


@dataclass(frozen=True)
class PairedDiff:
    """Mean of (candidate - champion) per-item correctness over shared items, with its bootstrap 95 % CI."""

    diff: float
    low: float
    high: float
    n_pairs: int


def read_verdicts(predictions: Path) -> dict[str, bool]:
    """item id -> correct from an evaluate predictions.jsonl (rows whose ``correct`` is null are left out)."""
    verdicts: dict[str, bool] = {}
    with open(predictions, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RegistryError(f"{predictions}:{line_no} is not JSON ({exc}); rerun evaluate") from None
            if "id" not in row:
                raise RegistryError(
                    f"{predictions}:{line_no} has no 'id'; rerun evaluate to rewrite predictions"
                )
            if isinstance(row.get("correct"), bool):
                verdicts[str(row["id"])] = row["correct"]
    return verdicts


def paired_bootstrap(
    candidate: dict[str, bool], champion: dict[str, bool], n_boot: int, seed: int
) -> PairedDiff | None:
    """Paired percentile bootstrap over the items both versions scored; None when they share none."""
    shared = sorted(set(candidate) & set(champion))
    if not shared:
        return None
    delta = np.array([float(candidate[i]) - float(champion[i]) for i in shared])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(delta), size=(n_boot, len(delta)))
    means = delta[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDiff(float(delta.mean()), float(low), float(high), len(shared))


def _items(metrics: dict[str, float]) -> tuple[str, float | None]:
    for key in ("n_scored", "n_samples"):
        if key in metrics:
            return key, metrics[key]
    return "n_scored", None


def _absolute(gate: GateConfig, cand: Evidence) -> list[Check]:
    checks: list[Check] = []
    key, n = _items(cand.metrics)
    if n is None:
        checks.append(Check("min_items", False, f"no n_scored/n_samples in v{cand.version}'s metrics"))
    else:
        ok = n >= gate.min_items
        checks.append(
            Check("min_items", ok, f"{key}={int(n)} {'>=' if ok else '<'} min_items {gate.min_items}")
        )
    for metric, minimum in sorted(gate.minimums.items()):
        value = cand.metrics[metric]
        ok = value >= minimum
        checks.append(
            Check(f"min.{metric}", ok, f"{metric}={value:.4f} {'>=' if ok else '<'} minimum {minimum}")
        )
    if gate.min_above_chance is not None:
        checks.append(_above_chance(gate.min_above_chance, cand.metrics))
    return checks


def _above_chance(margin: float, m: dict[str, float]) -> Check:
    if "diagnosis_accuracy" not in m or "diagnosis_chance" not in m:
        return Check(
            "above_chance", True, "above-chance check not applicable (no diagnosis_accuracy/_chance)"
        )
    baseline = max(m["diagnosis_chance"], m.get("diagnosis_majority", 0.0))
    gain = m["diagnosis_accuracy"] - baseline
    ok = gain >= margin
    return Check(
        "above_chance",
        ok,
        f"diagnosis_accuracy={m['diagnosis_accuracy']:.4f} - max(chance, majority)={baseline:.4f} = {gain:.4f} "
        f"{'>=' if ok else '<'} min_above_chance {margin}",
    )


def _against_champion(gate: GateConfig, cand: Evidence, champ: Evidence) -> list[Check]:
    fix = (
        f"re-evaluate the champion on the candidate's eval set (`pathreasoner model reevaluate {champ.version} "
        "--samples DIR`, or `model promote --reevaluate-champion DIR`), or promote with --force --reason"
    )
    if cand.eval_set_hash is None or champ.eval_set_hash is None:
        missing = [f"v{e.version}" for e in (cand, champ) if e.eval_set_hash is None]
        return [
            Check(
                "eval_set",
                False,
                f"{', '.join(missing)} has no eval_set_hash, so the comparison is unsafe; {fix}",
            )
        ]
    if cand.eval_set_hash != champ.eval_set_hash:
        return [
            Check(
                "eval_set",
                False,
                f"different eval sets: v{cand.version} on {cand.split} {cand.eval_set_hash[:12]}, champion "
                f"v{champ.version} on {champ.split} {champ.eval_set_hash[:12]}; {fix}",
            )
        ]
    checks = [
        Check("eval_set", True, f"same eval set as champion v{champ.version} ({cand.eval_set_hash[:12]})")
    ]
    missing = [f"v{e.version}" for e in (cand, champ) if e.verdicts is None]
    if missing:
        checks.append(
            Check(
                "non_inferiority",
                False,
                f"{', '.join(missing)} has no eval/predictions.jsonl artifact; re-register",
            )
        )
        return checks
    assert cand.verdicts is not None and champ.verdicts is not None
    paired = paired_bootstrap(cand.verdicts, champ.verdicts, gate.n_boot, gate.seed)
    if paired is None:
        checks.append(
            Check("non_inferiority", False, f"no item scored by both v{cand.version} and v{champ.version}")
        )
        return checks
    assert gate.margin is not None
    ok = paired.low > -gate.margin
    checks.append(
        Check(
            "non_inferiority",
            ok,
            f"{ACCURACY} v{cand.version} - champion v{champ.version} = {paired.diff:+.4f} over {paired.n_pairs} "
            f"paired items, 95% CI [{paired.low:+.4f}, {paired.high:+.4f}]; lower bound "
            f"{'>' if ok else '<='} -margin {-gate.margin}",
        )
    )
    return checks


def required_metrics(gate: GateConfig) -> list[str]:
    """Metrics a version must carry before the gate can judge it."""
    return sorted(gate.minimums)


def evaluate_gate(gate: GateConfig, cand: Evidence, champ: Evidence | None) -> list[Check]:
    """Every check of the gate for `cand`; `champ` is the current champion (None: none, or `cand` itself)."""
    checks = _absolute(gate, cand)
    if gate.margin is not None and champ is not None:
        checks += _against_champion(gate, cand, champ)
    return checks
