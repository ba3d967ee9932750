"""Reading the samples dataset's shared files (what build-samples writes beside the split files)."""

from __future__ import annotations

import json
from pathlib import Path

from pathreasoner.errors import DatasetError

LEXICON_FILE = "entity_lexicon.json"
TYPES_FILE = "entity_types.json"


def load_lexicon(samples_dir: Path | str) -> dict[str, list[str]]:
    """`entity_lexicon.json` of a samples dir: {canonical KG name: [synonyms...]}."""
    path = Path(samples_dir) / LEXICON_FILE
    if not path.exists():
        raise DatasetError(
            f"{path} does not exist; build-samples writes it next to the split files: rerun it"
        )
    try:
        lexicon = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); rerun build-samples") from None
    if not isinstance(lexicon, dict):
        raise DatasetError(
            f"{path} must map canonical entity names to synonym lists, got {type(lexicon).__name__}"
        )
    return {str(name): [str(s) for s in (synonyms or [])] for name, synonyms in lexicon.items()}


def load_entity_types(samples_dir: Path | str) -> dict[str, str]:
    """`entity_types.json` of a samples dir: {canonical KG name: node type}; empty for older datasets."""
    path = Path(samples_dir) / TYPES_FILE
    if not path.exists():
        return {}
    try:
        types = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); rerun build-samples") from None
    return {str(k): str(v) for k, v in types.items()}
