"""Bidirectional all-shortest-paths search: same paths as networkx, hop limit, cap, determinism."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from pathreasoner.kg.search import all_shortest_paths


@pytest.mark.parametrize("seed", range(40))
def test_matches_networkx_all_shortest_paths(seed: int) -> None:
    graph = nx.gnm_random_graph(80, 140, seed=seed)
    src, dst = random.Random(seed).sample(range(80), 2)
    try:
        expected = sorted(nx.all_shortest_paths(graph, src, dst))
    except nx.NetworkXNoPath:
        expected = []
    if expected and len(expected[0]) - 1 > 5:
        expected = []
    assert sorted(all_shortest_paths(graph.adj, src, dst, max_hops=5, cap=10**6)) == expected


def test_hop_limit_cap_and_order() -> None:
    # a 4-cycle a-b-d, a-c-d plus a long tail d-e-f-g
    graph = nx.Graph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("e", "f"), ("f", "g")])
    assert all_shortest_paths(graph.adj, "a", "d", 2, 10) == [["a", "b", "d"], ["a", "c", "d"]]
    assert all_shortest_paths(graph.adj, "a", "d", 2, 1) == [["a", "b", "d"]]
    assert all_shortest_paths(graph.adj, "a", "g", 4, 10) == []  # 5 hops needed
    assert all_shortest_paths(graph.adj, "a", "g", 5, 10) == [
        ["a", "b", "d", "e", "f", "g"],
        ["a", "c", "d", "e", "f", "g"],
    ]
    assert all_shortest_paths(graph.adj, "a", "a", 3, 10) == []
    assert all_shortest_paths(graph.adj, "a", "zz", 3, 10) == []
    graph.add_node("island")
    assert all_shortest_paths(graph.adj, "a", "island", 8, 10) == []
