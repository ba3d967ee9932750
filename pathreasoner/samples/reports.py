"""Pathology report loading: JSONL, TCGA OCR CSV, or a folder of .txt/.pdf (or of such files), local or on S3.

On S3, ``s3://bucket/reports.jsonl`` is one object and ``s3://bucket/prefix/`` every report object under
the prefix; they are downloaded into a temporary folder and read exactly like local files (endpoint and
credentials from boto3's usual configuration, ``AWS_ENDPOINT_URL`` included).

Empty or garbled reports are quarantined with a reason instead of failing the stage. From the TCGA OCR
CSVs only `ocr_text` is read as report text: the other columns were produced by an LLM and are not
ground truth.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from pathreasoner.errors import ReportError
from pathreasoner.samples.organs import ORGAN_ALIASES, ORGANS
from pathreasoner.samples.report_checks import barcode_in_text, language_problem

logger = logging.getLogger(__name__)

MIN_REPORT_CHARS = 80
MIN_REPORT_WORDS = 12
MIN_ALPHA_FRACTION = 0.45
REPORT_SUFFIXES = (".jsonl", ".csv", ".txt", ".pdf")

_TCGA_PATIENT = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Report:
    """One pathology report: who it belongs to, its text, where it came from, and the organ if known."""

    patient_id: str
    slide_id: str | None
    text: str
    source: str
    organ: str | None = None


def normalise_organ(value: Any) -> str | None:
    """Map an organ label ('HEADnNECK', 'colorectal', 'OVARIAN', ...) to the project's organ names."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    key = re.sub(r"[^a-z]", "", str(value).lower().replace("&", "and"))
    if not key:
        return None
    if key in ORGAN_ALIASES:
        return ORGAN_ALIASES[key]
    for organ in ORGANS:
        if key == organ.replace(" ", ""):
            return organ
    return None


def text_problem(text: str) -> str | None:
    """Why a report text is unusable (empty, too short, garbled), or None when it looks like prose."""
    stripped = text.strip()
    if not stripped:
        return "empty report text"
    if len(stripped) < MIN_REPORT_CHARS:
        return f"report text too short ({len(stripped)} chars < {MIN_REPORT_CHARS})"
    non_space = [c for c in stripped if not c.isspace()]
    alpha = sum(c.isalpha() for c in non_space) / max(len(non_space), 1)
    if alpha < MIN_ALPHA_FRACTION:
        return f"garbled text (only {alpha:.0%} letters)"
    words = re.findall(r"[A-Za-z]{3,}", stripped)
    if len(words) < MIN_REPORT_WORDS:
        return f"garbled text (only {len(words)} words)"
    vowelless = sum(1 for w in words if not re.search(r"[aeiouyAEIOUY]", w))
    if vowelless / len(words) > 0.4:
        return f"garbled text ({vowelless} of {len(words)} words have no vowels)"
    return None


def patient_from_name(name: str) -> str:
    """Patient id from a file name: the TCGA barcode's first 12 characters, else the stem."""
    stem = Path(name).stem if "." in Path(name).name else Path(name).name
    match = _TCGA_PATIENT.match(stem)
    return match.group(0).upper() if match else stem


def _patient_of_file(path: Path, text: str) -> str:
    """The TCGA barcode the report prints, else the patient id of its file name."""
    return barcode_in_text(text) or patient_from_name(path.name)


def _quarantine(item: str, reason: str) -> dict[str, str]:
    logger.info("quarantined report %s: %s", item, reason)
    return {"item": item, "reason": reason}


def _accept(report: Report, quarantine: list[dict[str, str]], reports: list[Report]) -> None:
    problem = language_problem(report.text) or text_problem(report.text)
    if problem:
        quarantine.append(_quarantine(report.source, problem))
    else:
        reports.append(report)


def _load_jsonl(path: Path, reports: list[Report], quarantine: list[dict[str, str]]) -> None:
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        item = f"{path.name}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            quarantine.append(_quarantine(item, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict) or not row.get("patient_id"):
            quarantine.append(_quarantine(item, "record lacks patient_id"))
            continue
        text = row.get("text")
        slide = row.get("slide_id")
        source = f"{path.name}:{lineno}"
        _accept(
            Report(
                str(row["patient_id"]),
                str(slide) if slide else None,
                text if isinstance(text, str) else "",
                source,
                normalise_organ(row.get("organ")),
            ),
            quarantine,
            reports,
        )


def _load_csv(path: Path, reports: list[Report], quarantine: list[dict[str, str]]) -> None:
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, usecols=lambda c: c in {"ocr_text", "pdf_file_name_path"}
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(
            f"report CSV {path} cannot be read ({exc}); pass a TCGA OCR CSV (columns ocr_text, pdf_file_name_path)"
        ) from None
    missing = {"ocr_text", "pdf_file_name_path"} - set(frame.columns)
    if missing:
        raise ReportError(
            f"report CSV {path} lacks columns {sorted(missing)}; a TCGA OCR CSV needs ocr_text and pdf_file_name_path"
        )
    organ = normalise_organ(path.stem)
    for i, (text, name) in enumerate(zip(frame["ocr_text"], frame["pdf_file_name_path"], strict=True)):
        item = f"{path.name}:row{i + 2}"
        if not name.strip():
            quarantine.append(_quarantine(item, "row lacks pdf_file_name_path (no patient id)"))
            continue
        _accept(Report(patient_from_name(Path(name).name), None, text, item, organ), quarantine, reports)


def _pdf_text(path: Path) -> str:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def _load_file(path: Path, reports: list[Report], quarantine: list[dict[str, str]]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        _load_jsonl(path, reports, quarantine)
    elif suffix == ".csv":
        _load_csv(path, reports, quarantine)
    elif suffix == ".txt":
        text = path.read_text(encoding="utf-8", errors="replace")
        _accept(Report(_patient_of_file(path, text), None, text, path.name), quarantine, reports)
    elif suffix == ".pdf":
        try:
            text = _pdf_text(path)
        except Exception as exc:  # pdfplumber raises many exception types for broken PDFs
            quarantine.append(_quarantine(path.name, f"unreadable PDF ({type(exc).__name__}: {exc})"))
            return
        if not text.strip():
            quarantine.append(
                _quarantine(
                    path.name,
                    "PDF without a text layer (a scanned image?); run OCR on it first (e.g. `ocrmypdf "
                    f"--sidecar {path.stem}.txt {path.name} out.pdf`) and pass the text or the OCR'd PDF",
                )
            )
            return
        _accept(Report(_patient_of_file(path, text), None, text, path.name), quarantine, reports)
    else:
        raise ReportError(
            f"report file {path} has suffix {suffix!r}; pass one of {', '.join(REPORT_SUFFIXES)} or a folder of them"
        )


def load_reports(path: Path | str) -> tuple[list[Report], list[dict[str, str]]]:
    """Read reports from a JSONL file, a TCGA OCR CSV, or a folder (searched recursively) of such files/.txt/.pdf;
    each may also be an ``s3://`` object or prefix (a ``Path`` that collapsed it to ``s3:/`` is accepted too).

    Returns (reports, quarantine) where quarantine lists `{"item", "reason"}` for unusable ones.
    """
    from pathreasoner.wsi.s3_cache import is_s3_uri, normalize_uri

    if is_s3_uri(path):
        uri = normalize_uri(path)
        with tempfile.TemporaryDirectory(prefix="reports-s3-") as tmp:
            return _load_local(_download_reports(uri, Path(tmp)), shown=uri)
    return _load_local(Path(path), shown=str(path))


def _load_local(path: Path, shown: str) -> tuple[list[Report], list[dict[str, str]]]:
    reports: list[Report] = []
    quarantine: list[dict[str, str]] = []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
        if not files:
            raise ReportError(
                f"report folder {shown} holds no {', '.join(REPORT_SUFFIXES)} files; pass reports.jsonl, a TCGA OCR CSV, or a folder of reports"
            )
        for file in files:
            _load_file(file, reports, quarantine)
    elif path.is_file():
        _load_file(path, reports, quarantine)
    else:
        raise ReportError(
            f"reports path {shown} does not exist; run `pathreasoner demo-data` or pass --reports"
        )
    if quarantine:
        logger.warning(
            "loaded %d reports from %s; quarantined %d unusable ones (see summary.json)",
            len(reports),
            shown,
            len(quarantine),
        )
    else:
        logger.info("loaded %d reports from %s", len(reports), shown)
    return reports, quarantine


def _download_reports(uri: str, into: Path) -> Path:
    """Copy the report object, or every report object under the prefix, into ``into``; returns the local
    file or folder to read. A missing object or an empty prefix is a ``ReportError`` naming the URI."""
    from pathreasoner.wsi.s3_cache import SCHEME, _list, s3_client

    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise ReportError(f"reports URI {uri} names no bucket; write it as s3://bucket/reports.jsonl")
    client = s3_client()
    single = PurePosixPath(key).suffix.lower() in REPORT_SUFFIXES and not key.endswith("/")
    prefix = key.rstrip("/") + "/" if key.strip("/") else ""
    try:
        if single:
            target = into / PurePosixPath(key).name
            client.download_file(bucket, key, str(target))
            logger.info("fetched %s (%s bytes)", uri, f"{target.stat().st_size:,}")
            return target
        keys = [o.key for o in _list(client, bucket, prefix)]
        keys = [k for k in keys if PurePosixPath(k).suffix.lower() in REPORT_SUFFIXES]
        if not keys:
            raise ReportError(
                f"no {', '.join(REPORT_SUFFIXES)} objects under {uri}; upload the reports there "
                f"(aws s3 cp --recursive <folder> {SCHEME}{bucket}/{prefix}) or pass the report file's URI"
            )
        folder = into / "reports"
        for k in keys:
            target = folder / k[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, k, str(target))
        logger.info("fetched %d report objects under %s", len(keys), uri)
        return folder
    except ReportError:
        raise
    except Exception as exc:  # botocore raises many classes; each means the reports cannot be fetched
        raise _s3_report_error(uri, exc, _bucket_exists(client, bucket)) from None


def _bucket_exists(client: Any, bucket: str) -> bool:
    """False only when S3 says the bucket is not there (a HEAD of a missing key cannot tell)."""
    try:
        client.head_bucket(Bucket=bucket)
    except Exception as exc:
        return getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("404", "NoSuchBucket")
    return True


def _s3_report_error(uri: str, exc: Exception, bucket_exists: bool = True) -> ReportError:
    """A ReportError that names the URI, what S3 answered, and the fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    if isinstance(exc, NoCredentialsError):
        fix = "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or an AWS profile)"
    elif code == "NoSuchBucket" or (code == "404" and not bucket_exists):
        return ReportError(f"the bucket of {uri} does not exist; check the bucket name (aws s3 ls)")
    elif code in ("404", "NoSuchKey"):
        return ReportError(
            f"reports object {uri} does not exist; check the key (aws s3 ls {uri.rsplit('/', 1)[0]}/), "
            "upload the reports there, or pass --reports with the right URI"
        )
    elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        fix = "the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy"
    elif isinstance(exc, EndpointConnectionError):
        fix = "the S3 endpoint cannot be reached: check AWS_ENDPOINT_URL and the network"
    else:
        fix = "check the endpoint (AWS_ENDPOINT_URL), credentials and network"
    return ReportError(f"reports {uri} cannot be read from S3: {exc}; {fix}")
