"""Loader for PrimeKG's `kg.csv` column format, so the full PrimeKG can be plugged into build-kg.

Columns used: relation, display_relation, x_id, x_type, x_name, x_source, y_id, y_type, y_name, y_source.
Node ids are `<source>:<id>` (e.g. `MONDO:8019`); PrimeKG node types map to the project's types
(PRIMEKG_TYPES); rows whose endpoints have other types (drugs, pathways, ...) are skipped and counted.
PrimeKG stores each undirected edge in both directions; one direction is kept. Relations map to the
project's relations (PRIMEKG_RELATIONS, orientated feature → disease); others become `associated_with`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pandas as pd

from pathreasoner.errors import KGSourceError
from pathreasoner.kg.schema import Edge, Node, SourceTables

logger = logging.getLogger(__name__)

PRIMEKG_SOURCE = "primekg"
REQUIRED_COLUMNS = (
    "relation",
    "x_id",
    "x_type",
    "x_name",
    "x_source",
    "y_id",
    "y_type",
    "y_name",
    "y_source",
)
PRIMEKG_TYPES = {
    "disease": "diagnosis",
    "effect/phenotype": "histologic_finding",
    "anatomy": "anatomic_site",
    "gene/protein": "ihc_marker",
}
# PrimeKG relation → (project relation, True when the edge should run y → x)
PRIMEKG_RELATIONS = {
    "disease_phenotype_positive": ("characteristic_of", True),
    "disease_protein": ("biomarker_for", True),
    "disease_disease": ("associated_with", False),
    "phenotype_phenotype": ("is_a", False),
    "anatomy_anatomy": ("part_of", False),
    "anatomy_protein_present": ("associated_with", False),
    "phenotype_protein": ("associated_with", False),
}
CHUNK_ROWS = 500_000


def load_primekg(path: Path) -> SourceTables:
    """Nodes and edges of a PrimeKG-format CSV (streamed in chunks); KGSourceError when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise KGSourceError(
            f"PrimeKG file {path} does not exist; set kg.primekg_path to PrimeKG's kg.csv (or null to skip it)"
        )
    tables = SourceTables(PRIMEKG_SOURCE, str(path))
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str, str], str] = {}
    seen_pairs: set[tuple[str, str, str]] = set()
    skipped: Counter[str] = Counter()
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
        for chunk in reader:
            missing = [c for c in REQUIRED_COLUMNS if c not in chunk.columns]
            if missing:
                raise KGSourceError(
                    f"PrimeKG file {path} lacks columns {missing}; expected PrimeKG kg.csv columns "
                    f"{', '.join(REQUIRED_COLUMNS)}"
                )
            _add_rows(chunk, nodes, edges, seen_pairs, skipped)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KGSourceError(
            f"PrimeKG file {path} is not a readable CSV ({exc}); pass PrimeKG's kg.csv"
        ) from None
    if not nodes:
        raise KGSourceError(
            f"PrimeKG file {path} holds no rows with node types {sorted(PRIMEKG_TYPES)}; pass PrimeKG's kg.csv"
        )
    if skipped:
        logger.info(
            "PrimeKG %s: skipped %d rows by endpoint type %s", path, sum(skipped.values()), dict(skipped)
        )
    tables.nodes = [nodes[k] for k in sorted(nodes)]
    tables.edges = [Edge(s, r, d, note) for (s, r, d), note in sorted(edges.items())]
    logger.debug("PrimeKG %s: %d nodes, %d edges", path, len(tables.nodes), len(tables.edges))
    return tables


def _node(row_id: str, kind: str, name: str, source: str, nodes: dict[str, Node]) -> str:
    node_id = f"{source.strip().upper() or 'PRIMEKG'}:{row_id.strip()}"
    if node_id not in nodes:
        nodes[node_id] = Node(node_id, name.strip(), PRIMEKG_TYPES[kind], (), (node_id,), PRIMEKG_SOURCE)
    return node_id


def _add_rows(
    chunk: pd.DataFrame,
    nodes: dict[str, Node],
    edges: dict[tuple[str, str, str], str],
    seen_pairs: set[tuple[str, str, str]],
    skipped: Counter[str],
) -> None:
    columns = [chunk[c].tolist() for c in REQUIRED_COLUMNS]
    for rel, x_id, x_type, x_name, x_src, y_id, y_type, y_name, y_src in zip(*columns, strict=True):
        if x_type not in PRIMEKG_TYPES or y_type not in PRIMEKG_TYPES:
            skipped[x_type if x_type not in PRIMEKG_TYPES else y_type] += 1
            continue
        if not x_id.strip() or not y_id.strip() or not x_name.strip() or not y_name.strip():
            skipped["row without id or name"] += 1
            continue
        x = _node(x_id, x_type, x_name, x_src, nodes)
        y = _node(y_id, y_type, y_name, y_src, nodes)
        if x == y:
            continue
        relation, flip = PRIMEKG_RELATIONS.get(rel, ("associated_with", False))
        src, dst = (y, x) if flip else (x, y)
        pair = (min(src, dst), relation, max(src, dst))
        if pair in seen_pairs:  # PrimeKG lists every edge in both directions
            continue
        seen_pairs.add(pair)
        edges[(src, relation, dst)] = f"PrimeKG {rel}"
