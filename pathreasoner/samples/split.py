"""Patient-level train/val/test split from a seeded hash: no patient is in two splits.

With strata (e.g. each patient's organ), every stratum of at least 3 patients is split by the fractions
on its own, so that each split sees every organ; smaller strata are pooled and split together.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def _rank(patient_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest()


def split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """How many patients each split gets; with at least 3 patients every split with a fraction > 0 gets one."""
    counts = {s: round(n * fractions.get(s, 0.0)) for s in SPLITS}
    if n >= 3:
        for s in SPLITS:
            if fractions.get(s, 0.0) > 0 and counts[s] == 0:
                counts[s] = 1
    while sum(counts.values()) > n:
        largest = max(SPLITS, key=lambda s: (counts[s], s == "train"))
        counts[largest] -= 1
    while sum(counts.values()) < n:
        counts[
            "train" if fractions.get("train", 0) > 0 else max(SPLITS, key=lambda s: fractions.get(s, 0.0))
        ] += 1
    return counts


def assign_splits(
    patient_ids: list[str],
    fractions: dict[str, float],
    seed: int,
    strata: dict[str, str] | None = None,
) -> dict[str, str]:
    """Patients ordered by sha256(seed:patient) and cut into train/val/test by the configured fractions;
    with `strata` ({patient: stratum}), per stratum (strata under 3 patients are pooled)."""
    if strata:
        groups: dict[str, list[str]] = {}
        for patient in sorted(set(patient_ids)):
            groups.setdefault(strata.get(patient, ""), []).append(patient)
        pooled = [p for group in groups.values() if len(group) < 3 for p in group]
        assignment: dict[str, str] = {}
        for group in [g for g in groups.values() if len(g) >= 3] + ([pooled] if pooled else []):
            assignment.update(assign_splits(group, fractions, seed))
        return assignment
    patients = sorted(set(patient_ids), key=lambda p: (_rank(p, seed), p))
    counts = split_counts(len(patients), fractions)
    assignment: dict[str, str] = {}
    pos = 0
    for split in SPLITS:
        for patient in patients[pos : pos + counts[split]]:
            assignment[patient] = split
        pos += counts[split]
    return assignment
