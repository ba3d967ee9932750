"""Patient-level split."""

from __future__ import annotations

from pathreasoner.samples.split import assign_splits, split_counts

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_every_split_non_empty_from_three_patients() -> None:
    for n in range(3, 12):
        counts = split_counts(n, FRACTIONS)
        assert sum(counts.values()) == n and min(counts.values()) >= 1, (n, counts)
    assert split_counts(2, FRACTIONS)["train"] >= 1 and sum(split_counts(2, FRACTIONS).values()) == 2
    assert split_counts(10, {"train": 1.0, "val": 0.0, "test": 0.0}) == {"train": 10, "val": 0, "test": 0}


def test_assignment_is_seeded_and_patient_level() -> None:
    patients = [f"P{i}" for i in range(20)]
    first = assign_splits(patients + patients[:5], FRACTIONS, seed=0)
    assert set(first) == set(patients) and first == assign_splits(list(reversed(patients)), FRACTIONS, seed=0)
    assert first != assign_splits(patients, FRACTIONS, seed=1)
    assert [list(first.values()).count(s) for s in ("train", "val", "test")] == [12, 4, 4]


def test_stratified_split_gives_every_split_each_organ() -> None:
    organs = ["kidney", "liver", "brain", "breast"]
    patients = [f"P{i:03d}" for i in range(40)]
    strata = {p: organs[i % 4] for i, p in enumerate(patients)}
    strata["P999"] = "bladder"  # a stratum of one is pooled with the other small ones
    split = assign_splits([*patients, "P999"], FRACTIONS, seed=0, strata=strata)
    assert set(split) == {*patients, "P999"}
    for organ in organs:
        members = [split[p] for p in patients if strata[p] == organ]
        assert {s: members.count(s) for s in ("train", "val", "test")} == split_counts(10, FRACTIONS)
    assert split == assign_splits(list(reversed([*patients, "P999"])), FRACTIONS, seed=0, strata=strata)
