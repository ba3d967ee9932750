"""KG source loaders: the curated YAML, OBO ontologies (obonet) and the OncoTree TSV.

Each loader returns a `SourceTables` (nodes + edges with a provenance note) or raises
`KGSourceError` naming the file, what is wrong with it and how to fix it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import obonet
import pandas as pd
import yaml

from pathreasoner.errors import KGSourceError
from pathreasoner.kg.schema import NODE_TYPES, RELATIONS, Edge, Node, SourceTables, normalise_name

logger = logging.getLogger(__name__)

CURATED_SOURCE = "curated"
CURATED_PREFIX = "curated:"
ONCOTREE_SOURCE = "oncotree"


def curated_path() -> Path:
    """Where the curated pathology KG ships inside the package."""
    return Path(str(resources.files("pathreasoner.kg") / "data" / "curated.yaml"))


def _require_file(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        raise KGSourceError(f"{what} file {path} does not exist; {fix}")


def _str_list(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise KGSourceError(f"{path}: {where} must be a list of strings, got {value!r}; write it as [a, b]")
    return tuple(str(v).strip() for v in value if str(v).strip())


def load_curated(path: Path | None = None) -> SourceTables:
    """The curated YAML (`nodes:` with id/name/type/synonyms/xrefs, `edges:` with src/relation/dst/source)."""
    path = Path(path) if path is not None else curated_path()
    _require_file(path, "curated KG", "reinstall the package or pass the path of a curated YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KGSourceError(
            f"curated KG file {path} is not valid YAML ({exc}); fix the syntax at that line"
        ) from None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("nodes"), list)
        or not isinstance(raw.get("edges"), list)
    ):
        raise KGSourceError(f"curated KG file {path} must be a mapping with lists 'nodes' and 'edges'")
    tables = SourceTables(CURATED_SOURCE, str(path))
    seen_ids: set[str] = set()
    seen_names: dict[str, str] = {}
    for i, item in enumerate(raw["nodes"]):
        if not isinstance(item, dict):
            raise KGSourceError(f"{path}: nodes[{i}] must be a mapping, got {item!r}")
        missing = [k for k in ("id", "name", "type") if not item.get(k)]
        if missing:
            raise KGSourceError(
                f"{path}: nodes[{i}] ({item.get('id')!r}) lacks {missing}; every node needs id, name, type"
            )
        unknown = set(item) - {"id", "name", "type", "synonyms", "xrefs"}
        if unknown:
            raise KGSourceError(
                f"{path}: node {item['id']!r} has unknown keys {sorted(unknown)}; valid: id, name, type, synonyms, xrefs"
            )
        node_id, name, ntype = str(item["id"]), str(item["name"]).strip(), str(item["type"])
        if ntype not in NODE_TYPES:
            raise KGSourceError(
                f"{path}: node {node_id!r} has type {ntype!r}; valid types: {', '.join(NODE_TYPES)}"
            )
        if node_id in seen_ids:
            raise KGSourceError(f"{path}: node id {node_id!r} is used twice; give each node a unique id")
        key = normalise_name(name)
        if key in seen_names:
            raise KGSourceError(
                f"{path}: node {node_id!r} name {name!r} normalises like node {seen_names[key]!r}; rename one of them"
            )
        seen_ids.add(node_id)
        seen_names[key] = node_id
        synonyms = _str_list(item.get("synonyms"), f"node {node_id!r} synonyms", path)
        xrefs = _str_list(item.get("xrefs"), f"node {node_id!r} xrefs", path)
        tables.nodes.append(Node(CURATED_PREFIX + node_id, name, ntype, synonyms, xrefs, CURATED_SOURCE))
    for i, item in enumerate(raw["edges"]):
        if not isinstance(item, dict) or any(not item.get(k) for k in ("src", "relation", "dst", "source")):
            raise KGSourceError(
                f"{path}: edges[{i}] = {item!r} must have src, relation, dst and a source note"
            )
        src, rel, dst = str(item["src"]), str(item["relation"]), str(item["dst"])
        for end in (src, dst):
            if end not in seen_ids:
                raise KGSourceError(
                    f"{path}: edges[{i}] ({src} -{rel}-> {dst}) names unknown node {end!r}; add the node or fix the id"
                )
        if rel not in RELATIONS:
            raise KGSourceError(
                f"{path}: edges[{i}] ({src} -{rel}-> {dst}) has unknown relation {rel!r}; valid: {', '.join(RELATIONS)}"
            )
        tables.edges.append(
            Edge(CURATED_PREFIX + src, rel, CURATED_PREFIX + dst, str(item["source"]).strip())
        )
    logger.debug("curated KG %s: %d nodes, %d edges", path, len(tables.nodes), len(tables.edges))
    return tables


_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(\w+)')


def load_obo(path: Path) -> SourceTables:
    """An OBO ontology (e.g. the Disease Ontology cancer slim): terms → diagnosis nodes, `is_a` → edges."""
    path = Path(path)
    _require_file(path, "OBO", "check kg.obo_paths (a Disease Ontology OBO file such as DO_cancer_slim.obo)")
    try:
        graph = obonet.read_obo(str(path))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KGSourceError(
            f"OBO file {path} is malformed ({first}); pass a valid OBO 1.2/1.4 file in kg.obo_paths"
        ) from None
    ontology = str(graph.graph.get("ontology", "")).split("/")[0].strip()
    source = ontology or path.stem
    tables = SourceTables(source, str(path))
    for term_id, data in sorted(graph.nodes(data=True)):
        name = data.get("name")
        if not name or str(data.get("is_obsolete", "false")).lower() == "true":
            continue
        synonyms = []
        for raw in data.get("synonym", []):
            match = _SYNONYM.match(raw)
            if match and match.group(2) == "EXACT":
                synonyms.append(match.group(1).replace('\\"', '"'))
        xrefs = sorted({term_id, *(str(x).split(" ")[0] for x in data.get("xref", []))})
        tables.nodes.append(Node(term_id, str(name), "diagnosis", tuple(synonyms), tuple(xrefs), source))
    known = {n.id for n in tables.nodes}
    for child, parent, key in sorted(graph.edges(keys=True)):
        if key == "is_a" and child in known and parent in known:
            tables.edges.append(Edge(child, "is_a", parent, f"{source} is_a"))
    if not tables.nodes:
        raise KGSourceError(
            f"OBO file {path} holds no named [Term] stanzas; pass an OBO ontology in kg.obo_paths"
        )
    logger.debug("OBO %s (%s): %d nodes, %d edges", path, source, len(tables.nodes), len(tables.edges))
    return tables


_CELL = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[A-Za-z0-9_]+)\)\s*$")


def load_oncotree(path: Path) -> SourceTables:
    """OncoTree tumour types: the flat TSV (code/name/tissue/parent) or the level_1..level_7 "Name (CODE)" TSV.

    Tissues become `anatomic_site` nodes; tumour types become `diagnosis` nodes with `is_a` edges to their
    parent type and `occurs_in` edges to their tissue.
    """
    path = Path(path)
    _require_file(path, "OncoTree", "check kg.oncotree_path (the OncoTree tumour-types TSV)")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KGSourceError(
            f"OncoTree file {path} is not a readable TSV ({exc}); pass the OncoTree tumour-types TSV"
        ) from None
    columns = {c.strip().lower(): c for c in frame.columns}
    if {"code", "name", "parent"} <= set(columns):
        tables = _oncotree_flat(frame, columns, path)
    elif any(c.startswith("level_") for c in columns):
        tables = _oncotree_levels(frame, columns, path)
    else:
        raise KGSourceError(
            f"OncoTree file {path} has columns {list(frame.columns)[:8]}; expected Code/Name/Parent (flat TSV) "
            "or level_1..level_7 ('Name (CODE)' cells); download the OncoTree tumor types TSV"
        )
    if not tables.nodes:
        raise KGSourceError(f"OncoTree file {path} holds no tumour types; pass the OncoTree tumour-types TSV")
    logger.debug("OncoTree %s: %d nodes, %d edges", path, len(tables.nodes), len(tables.edges))
    return tables


def _code_xrefs(code: str, umls: str = "", nci: str = "") -> tuple[str, ...]:
    refs = {f"ONCOTREE:{code}"}
    refs.update(f"UMLS_CUI:{u.strip()}" for u in umls.split(",") if u.strip())
    refs.update(f"NCI:{n.strip()}" for n in nci.split(",") if n.strip())
    return tuple(sorted(refs))


def _oncotree_flat(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> SourceTables:
    tables = SourceTables(ONCOTREE_SOURCE, str(path))

    def col(row: pd.Series, key: str) -> str:
        return str(row[columns[key]]).strip() if key in columns else ""

    rows = [r for _, r in frame.iterrows() if col(r, "code")]
    codes = Counter(col(r, "code") for r in rows)
    dupes = [c for c, n in codes.items() if n > 1]
    if dupes:
        raise KGSourceError(
            f"OncoTree file {path} repeats codes {dupes[:5]}; each tumour type needs a unique code"
        )
    roots = {col(r, "code") for r in rows if not col(r, "parent")}
    tissue_codes = {col(r, "code") for r in rows if col(r, "parent") in roots}
    tissue_by_name: dict[str, str] = {}
    for row in rows:
        code = col(row, "code")
        if code in roots:
            continue
        kind = "anatomic_site" if code in tissue_codes else "diagnosis"
        node_id = f"ONCOTREE:{code}"
        tables.nodes.append(
            Node(
                node_id,
                col(row, "name"),
                kind,
                (),
                _code_xrefs(code, col(row, "umls"), col(row, "nci")),
                ONCOTREE_SOURCE,
            )
        )
        if kind == "anatomic_site":
            tissue_by_name[col(row, "name")] = node_id
    known = {n.id for n in tables.nodes}
    for row in rows:
        code, parent = col(row, "code"), col(row, "parent")
        if code in roots or code in tissue_codes:
            continue
        node_id = f"ONCOTREE:{code}"
        if parent and parent not in tissue_codes and parent not in roots:
            if f"ONCOTREE:{parent}" not in known:
                raise KGSourceError(
                    f"OncoTree file {path}: type {code} has unknown parent {parent!r}; fix the Parent column"
                )
            tables.edges.append(Edge(node_id, "is_a", f"ONCOTREE:{parent}", "OncoTree parent"))
        tissue = tissue_by_name.get(col(row, "tissue")) or (
            f"ONCOTREE:{parent}" if parent in tissue_codes else None
        )
        if tissue:
            tables.edges.append(Edge(node_id, "occurs_in", tissue, "OncoTree tissue"))
    return tables


def _oncotree_levels(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> SourceTables:
    tables = SourceTables(ONCOTREE_SOURCE, str(path))
    levels = sorted((c for c in columns if c.startswith("level_")), key=lambda c: int(c.split("_")[1]))
    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str, str, str]] = set()
    for i, row in frame.iterrows():
        chain: list[tuple[str, str]] = []
        for level in levels:
            cell = str(row[columns[level]]).strip()
            if not cell:
                break
            match = _CELL.match(cell)
            if not match:
                raise KGSourceError(
                    f"OncoTree file {path} row {int(i) + 2} {level}={cell!r} is not 'Name (CODE)'; fix that cell"
                )
            chain.append((match.group("name"), match.group("code")))
        if not chain:
            continue
        umls = str(row[columns["metaumls"]]) if "metaumls" in columns else ""
        nci = str(row[columns["metanci"]]) if "metanci" in columns else ""
        for depth, (name, code) in enumerate(chain):
            node_id = f"ONCOTREE:{code}"
            if node_id not in nodes:
                kind = "anatomic_site" if depth == 0 else "diagnosis"
                is_leaf = depth == len(chain) - 1
                refs = _code_xrefs(code, umls if is_leaf else "", nci if is_leaf else "")
                nodes[node_id] = Node(node_id, name, kind, (), refs, ONCOTREE_SOURCE)
            if depth >= 1:
                tissue = f"ONCOTREE:{chain[0][1]}"
                edges.add((node_id, "occurs_in", tissue, "OncoTree tissue"))
            if depth >= 2:
                edges.add((node_id, "is_a", f"ONCOTREE:{chain[depth - 1][1]}", "OncoTree parent"))
    tables.nodes = [nodes[k] for k in sorted(nodes)]
    tables.edges = [Edge(*e) for e in sorted(edges)]
    return tables
