"""Where each benchmark slide is: a map from slide ids to local files or ``s3://`` URIs.

The source is a folder (scanned; key = file stem, or folder name of a DICOM slide), an ``s3://bucket/prefix/``
(listed the same way), or a manifest file: CSV with columns ``slide_id`` and ``path`` (local paths are
relative to the manifest's folder; ``s3://`` URIs stay as given) or JSON ``{slide_id: path}``. A manifest
file may itself be an ``s3://`` object.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pathreasoner.errors import DatasetError
from pathreasoner.wsi.reader import resolve_slide_path
from pathreasoner.wsi.s3_cache import is_s3_uri, list_slides, normalize_uri, s3_client, slide_id_of, split_uri

MANIFEST_SUFFIXES = (".csv", ".json")
MANIFEST_COLUMNS = ("slide_id", "path")


@dataclass(frozen=True)
class SlideManifest:
    """``entries``: slide id -> local path or s3:// URI; ``source``: where they came from."""

    source: str | None = None
    entries: dict[str, str] = field(default_factory=dict)
    _upper_keys: list[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # (upper-case id, id), sorted: prefix look-ups bisect it
        object.__setattr__(self, "_upper_keys", sorted((k.upper(), k) for k in self.entries))

    @classmethod
    def from_source(cls, source: str | Path | None) -> SlideManifest:
        """Read a folder, an s3:// prefix, or a CSV/JSON manifest (local or on S3); None: no slides."""
        if source is None or str(source) == "":
            return cls()
        text = str(source)
        if is_s3_uri(text):
            uri = normalize_uri(text)
            if uri.lower().endswith(MANIFEST_SUFFIXES):
                return cls(uri, _parse_manifest(_read_s3_text(uri), uri, base=None))
            return cls(uri, _by_id(((slide_id_of(u), u) for u in list_slides(uri)), uri))
        path = Path(text)
        if path.is_dir():
            from pathreasoner.stages import find_slides

            return cls(
                str(path), _by_id(((resolve_slide_path(p)[1], str(p)) for p in find_slides(path)), text)
            )
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            return cls(str(path), _parse_manifest(path.read_text(encoding="utf-8"), str(path), path.parent))
        raise DatasetError(
            f"--slides {text} is neither a folder, an s3:// URI, nor a .csv/.json slide manifest; "
            "pass the folder that holds the benchmark's slides or a manifest mapping slide_id to path"
        )

    def locate(self, slide_id: str) -> str | None:
        """The slide of `slide_id`: an entry of that id, else the first (sorted, case-blind) whose id starts
        with it and a dash (a patient barcode such as TCGA-A2-A0YC finds TCGA-A2-A0YC-01Z-00-DX1); else None."""
        if slide_id in self.entries:
            return self.entries[slide_id]
        prefix = f"{slide_id}-".upper()
        keys = self._upper_keys
        at = bisect.bisect_left(keys, (prefix, ""))
        if at < len(keys) and keys[at][0].startswith(prefix):
            return self.entries[keys[at][1]]
        return None


def _read_s3_text(uri: str) -> str:
    bucket, key = split_uri(uri)
    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore raises many classes; all mean "cannot read"
        raise DatasetError(
            f"slide manifest {uri} cannot be read ({type(exc).__name__}: {exc}); check the URI and the "
            "S3 credentials/endpoint (AWS_ENDPOINT_URL)"
        ) from None
    return body.decode("utf-8")


def _parse_manifest(text: str, where: str, base: Path | None) -> dict[str, str]:
    """{slide_id: location} of a CSV (slide_id, path) or JSON ({id: path}) manifest."""
    if where.lower().endswith(".json"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"slide manifest {where} is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise DatasetError(f"slide manifest {where} must be a JSON object {{slide_id: path}}")
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        reader = csv.DictReader(io.StringIO(text))
        columns = list(reader.fieldnames or [])
        if sorted(columns) != sorted(MANIFEST_COLUMNS):
            raise DatasetError(
                f"slide manifest {where} has the columns {columns}; expected exactly {list(MANIFEST_COLUMNS)}"
            )
        pairs = [(row["slide_id"].strip(), row["path"].strip()) for row in reader]
    located = []
    for slide_id, location in pairs:
        if not slide_id or not location:
            raise DatasetError(f"slide manifest {where}: an entry has an empty slide_id or path")
        if is_s3_uri(location):
            located.append((slide_id, normalize_uri(location)))
        else:
            local = Path(location)
            located.append((slide_id, str(local if local.is_absolute() or base is None else base / local)))
    return _by_id(located, where)


def _by_id(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    """{slide id: location}; an id given twice is an error naming both locations."""
    entries: dict[str, str] = {}
    for slide_id, location in pairs:
        if slide_id in entries and entries[slide_id] != location:
            raise DatasetError(
                f"slide id {slide_id} appears twice in {where} ({entries[slide_id]} and {location}); "
                "keep one slide per id (rename or remove the other)"
            )
        entries[slide_id] = location
    return entries
