"""OWL ontology loader (rdflib), e.g. the PathoML / Tumor Pathology Ontology files.

Labelled `owl:Class`es become nodes: the name is `rdfs:label` (else `skos:prefLabel`; classes with neither,
such as PathoML's document-model classes, are skipped and counted), synonyms are `oboInOwl:hasExactSynonym`, xrefs are the class CURIE (`NCIT:C35851`,
`TPO:0000008`), `oboInOwl:id` and `oboInOwl:hasDbXref`. `rdfs:subClassOf` a named class becomes an `is_a`
edge; `subClassOf` an existential restriction (`p some C`) becomes `associated_with` with the property in
the provenance note. The node type comes from the label (grade, diagnosis, site, else histologic finding).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from pathreasoner.errors import KGSourceError
from pathreasoner.kg.schema import Edge, Node, SourceTables

logger = logging.getLogger(__name__)

OBO_IN_OWL = rdflib.Namespace("http://www.geneontology.org/formats/oboInOwl#")
_GRADE = re.compile(r"\bgrad(?:e|ing)\b", re.I)
_DIAGNOSIS = re.compile(
    r"carcinoma|sarcoma|lymphoma|melanoma|blastoma|glioma|adenoma|neoplasm|cancer|leuka?emia|mesothelioma",
    re.I,
)
_SITE = re.compile(r"\banatomical\b|\borgan\b|\btissue\b", re.I)
_SITE_PREFIXES = ("FMA", "UBERON")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CURIE_IRI = re.compile(r"([A-Za-z][A-Za-z0-9]*)_(\w+)$")


def curie(iri: str) -> str:
    """`http://purl.obolibrary.org/obo/NCIT_C35851` → `NCIT:C35851`; `...PathoML.owl#Diagnosis` → `PathoML:Diagnosis`."""
    tail = re.split(r"[/#]", iri.rstrip("/#"))[-1]
    match = _CURIE_IRI.match(tail)
    if match:
        return f"{match.group(1).upper()}:{match.group(2)}"
    base = re.split(r"[/#]", iri.split("#")[0].rstrip("/"))[-1] if "#" in iri else ""
    prefix = Path(base).stem if base else "OWL"
    return f"{prefix}:{tail}"


def node_type(name: str, node_id: str) -> str:
    """The project node type of an OWL class, from its label and CURIE prefix."""
    if _GRADE.search(name):
        return "grade"
    if _DIAGNOSIS.search(name):
        return "diagnosis"
    if _SITE.search(name) or node_id.split(":", 1)[0] in _SITE_PREFIXES:
        return "anatomic_site"
    return "histologic_finding"


def _label(graph: rdflib.Graph, cls: rdflib.URIRef, fallback: bool = True) -> str:
    for prop in (RDFS.label, SKOS.prefLabel):
        value = graph.value(cls, prop)
        if value is not None and str(value).strip():
            return " ".join(str(value).split())
    if not fallback:
        return ""
    fragment = re.split(r"[/#]", str(cls).rstrip("/#"))[-1]
    return _CAMEL.sub(" ", fragment).replace("_", " ").strip()


def load_owl(path: Path) -> SourceTables:
    """Nodes and edges of one OWL (RDF/XML, Turtle, ...) ontology; KGSourceError when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise KGSourceError(
            f"OWL file {path} does not exist; check kg.owl_paths (OWL ontology files such as PathoML.owl)"
        )
    graph = rdflib.Graph()
    try:
        graph.parse(str(path), format=rdflib.util.guess_format(str(path)) or "xml")
    except Exception as exc:  # rdflib raises parser-specific errors (SAX, BadSyntax, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KGSourceError(
            f"OWL file {path} cannot be parsed ({first[:200]}); pass a valid OWL/RDF file in kg.owl_paths"
        ) from None
    source = f"owl:{path.stem}"
    tables = SourceTables(source, str(path))
    classes = sorted(
        {c for c in graph.subjects(RDF.type, OWL.Class) if isinstance(c, rdflib.URIRef)}, key=str
    )
    ids = {cls: curie(str(cls)) for cls in classes}
    unlabelled = 0
    for cls in classes:
        if str(graph.value(cls, OWL.deprecated, default="false")).lower() == "true":
            continue
        node_id = ids[cls]
        name = _label(graph, cls, fallback=False)
        if not name:
            unlabelled += 1
            continue
        synonyms = tuple(
            sorted(
                {" ".join(str(s).split()) for s in graph.objects(cls, OBO_IN_OWL.hasExactSynonym)} - {name}
            )
        )
        xrefs = {node_id, *(str(x) for x in graph.objects(cls, OBO_IN_OWL.id))}
        xrefs.update(str(x).split(" ")[0] for x in graph.objects(cls, OBO_IN_OWL.hasDbXref))
        tables.nodes.append(
            Node(node_id, name, node_type(name, node_id), synonyms, tuple(sorted(xrefs)), source)
        )
    known = {n.id for n in tables.nodes}
    edges: set[tuple[str, str, str, str]] = set()
    for cls in classes:
        child = ids[cls]
        if child not in known:
            continue
        for parent in graph.objects(cls, RDFS.subClassOf):
            if isinstance(parent, rdflib.URIRef):
                target = ids.get(parent)
                if target in known and target != child:
                    edges.add((child, "is_a", target, f"{source} subClassOf"))
                continue
            prop, filler = graph.value(parent, OWL.onProperty), graph.value(parent, OWL.someValuesFrom)
            if isinstance(filler, rdflib.URIRef) and ids.get(filler) in known and prop is not None:
                edges.add((child, "associated_with", ids[filler], f"{source} {_label(graph, prop)} some"))
    tables.edges = [Edge(*e) for e in sorted(edges)]
    if not classes:
        raise KGSourceError(
            f"OWL file {path} declares no named owl:Class; pass an OWL ontology in kg.owl_paths"
        )
    if unlabelled:
        # schema classes without a label (PathoML's document model: Diagnosis, Utility, ...) are not
        # pathology entities; naming nodes after their IRI would put words like 'diagnosis' in the lexicon
        logger.warning(
            "OWL %s: skipped %d of %d classes without rdfs:label/skos:prefLabel",
            path,
            unlabelled,
            len(classes),
        )
    logger.debug("OWL %s: %d nodes, %d edges", path, len(tables.nodes), len(tables.edges))
    return tables
