"""Report loading: JSONL, TCGA OCR CSV (ocr_text only), folders of .txt/.pdf, the same on S3 (moto server);
quarantine of bad items."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pathreasoner.errors import ReportError
from pathreasoner.samples.demo_reports import make_demo_cases
from pathreasoner.samples.reports import load_reports, normalise_organ, patient_from_name, text_problem
from tests.servers import moto_s3, s3_bucket_for_test

GOOD = (
    "FINAL DIAGNOSIS: Left tongue, partial glossectomy: invasive squamous cell carcinoma, moderately "
    "differentiated, with perineural invasion. Margins are free of tumor. Lymph nodes negative (0/12)."
)


def test_jsonl_with_bad_lines(tmp_path: Path, write_reports: Callable[..., Path]) -> None:
    path = write_reports(
        tmp_path / "reports.jsonl",
        make_demo_cases(3, 0),
        extra=[{"patient_id": "X-1", "text": ""}, {"text": GOOD}],
    )
    with path.open("a") as handle:
        handle.write("{not json\n")
    reports, quarantine = load_reports(path)
    assert [r.patient_id for r in reports] == ["DEMO-0001", "DEMO-0002", "DEMO-0003"]
    assert (
        reports[0].slide_id == "DEMO-0001-01"
        and reports[0].organ == "head and neck"
        and reports[1].organ == "colorectum"
    )
    reasons = {q["item"]: q["reason"] for q in quarantine}
    assert reasons == {
        "reports.jsonl:4": "empty report text",
        "reports.jsonl:5": "record lacks patient_id",
        "reports.jsonl:6": "not valid JSON (Expecting property name enclosed in double quotes)",
    }


def test_tcga_csv_reads_only_ocr_text(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "site": ["LLM SITE", "LLM SITE", "LLM SITE"],
            "histology": ["hallucinated adenocarcinoma"] * 3,
            "pdf_file_name_path": ["TCGA-CR-7395.pdf", "TCGA-AB-1234.5E2A.PDF", "TCGA-ZZ-0000.pdf"],
            "ocr_text": [
                GOOD,
                "|||| 1111 IIII ;;;; ^^^ 0101 ~~~~ |||| 1111 IIII ;;;; ^^^ 0101 ~~~~ |||| 1111 IIII ;;;; ^^^ 0101",
                None,
            ],
        }
    )
    path = tmp_path / "HEADnNECK.csv"
    frame.to_csv(path, index=False)
    reports, quarantine = load_reports(path)
    assert len(reports) == 1
    report = reports[0]
    assert (report.patient_id, report.slide_id, report.organ, report.source) == (
        "TCGA-CR-7395",
        None,
        "head and neck",
        "HEADnNECK.csv:row2",
    )
    assert report.text == GOOD and "LLM" not in report.text
    assert [q["item"] for q in quarantine] == ["HEADnNECK.csv:row3", "HEADnNECK.csv:row4"]
    assert "garbled" in quarantine[0]["reason"] and quarantine[1]["reason"] == "empty report text"


def test_folder_of_text_files_and_nested_files(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "TCGA-AA-0001.txt").write_text(GOOD)
    (tmp_path / "nested" / "case7.txt").write_text(GOOD)
    (tmp_path / "notes.md").write_text("ignored")
    reports, quarantine = load_reports(tmp_path)
    assert sorted(r.patient_id for r in reports) == ["TCGA-AA-0001", "case7"] and not quarantine


def test_errors_name_the_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist; run `pathreasoner demo-data`"):
        load_reports(tmp_path / "missing.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="holds no"):
        load_reports(tmp_path / "empty")
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match="lacks columns"):
        load_reports(bad)
    odd = tmp_path / "report.docx"
    odd.write_text("x")
    with pytest.raises(ReportError, match=r"has suffix '\.docx'"):
        load_reports(odd)


def test_helpers() -> None:
    assert normalise_organ("HEADnNECK") == "head and neck" and normalise_organ("OVARIAN") == "ovary"
    assert (
        normalise_organ("CRC") == "colorectum"
        and normalise_organ("unknown organ") is None
        and normalise_organ(None) is None
    )
    assert (
        patient_from_name("TCGA-CW-5567-01A.pdf") == "TCGA-CW-5567"
        and patient_from_name("case1.txt") == "case1"
    )
    assert (
        text_problem("   ") == "empty report text"
        and text_problem("short") is not None
        and text_problem(GOOD) is None
    )


@pytest.mark.shared_data
def test_real_tcga_pdfs(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name in ("colon-1.pdf", "brain-2.pdf", "Kidney-2.pdf"):
        (folder / name).write_bytes((shared_data / "reports" / "tcga-pdf" / name).read_bytes())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "scanned.pdf").write_bytes(_pdf_without_text())
    reports, quarantine = load_reports(folder)
    texts = {r.patient_id: r.text for r in reports}
    # the barcode printed in the text wins over the file name ("CGA-A6-3810": OCR lost the T)
    assert "TCGA-A6-3810" in texts and "adenocarcinoma" in texts["TCGA-A6-3810"].lower()
    assert "TCGA-CW-5567" in texts and "brain-2" in texts  # brain-2.pdf prints no barcode
    reasons = {q["item"]: q["reason"] for q in quarantine}
    assert set(reasons) == {"broken.pdf", "scanned.pdf"} and "unreadable PDF" in reasons["broken.pdf"]
    assert "without a text layer" in reasons["scanned.pdf"] and "OCR" in reasons["scanned.pdf"]
    assert json.dumps(quarantine)


def _pdf_without_text() -> bytes:
    """A valid one-page PDF with no text layer (what a scanner without OCR writes, minus the image)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_unknown_language_or_script_is_quarantined_and_the_rest_goes_on(tmp_path: Path) -> None:
    english = (
        "FINAL DIAGNOSIS: Liver, segment 6, resection: hepatocellular carcinoma, moderately differentiated, "
        "4.2 cm, with no vascular invasion. The margins are free of tumour."
    )
    german = (
        "Diagnose: Invasives duktales Karzinom der Brust, nicht weiter spezifiziert. Die Resektionsränder "
        "sind frei von Tumor, keine Lymphgefäßinvasion. Der Tumor ist mit einer Größe von 2 cm im oberen "
        "äußeren Quadranten und die Lymphknoten sind ohne Befund."
    )
    chinese = (
        "病理诊断：右肺上叶浸润性腺癌，腺泡型为主，肿瘤大小3.0cm，未见脉管侵犯，支气管切缘未见癌。淋巴结未见转移。"
        * 2
    )
    for name, text in (("en.txt", english), ("de.txt", german), ("zh.txt", chinese)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    reports, quarantine = load_reports(tmp_path)
    assert [r.source for r in reports] == ["en.txt"]
    reasons = {q["item"]: q["reason"] for q in quarantine}
    assert "unknown language" in reasons["de.txt"] and "German" in reasons["de.txt"]
    assert "unknown language or script" in reasons["zh.txt"] and "not Latin" in reasons["zh.txt"]


# --- reports on S3 (a real moto server on 127.0.0.1) ---


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto_server subprocess on 127.0.0.1 (the S3 API boto3 talks to through AWS_ENDPOINT_URL)."""
    with moto_s3() as endpoint:
        yield endpoint.url


@pytest.fixture()
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> tuple[Any, str]:
    """(client, bucket): a fresh bucket per test, dummy credentials, endpoint via AWS_ENDPOINT_URL."""
    return s3_bucket_for_test(s3_endpoint, monkeypatch, request, "r")


def test_reports_jsonl_on_s3_load_like_the_local_file(
    tmp_path: Path, write_reports: Callable[..., Path], s3: tuple[Any, str]
) -> None:
    client, bucket = s3
    local = write_reports(tmp_path / "reports.jsonl", make_demo_cases(4, 0), extra=[{"patient_id": "X-1"}])
    client.upload_file(str(local), bucket, "cohort/reports.jsonl")
    expected = load_reports(local)
    uri = f"s3://{bucket}/cohort/reports.jsonl"
    assert load_reports(uri) == expected
    assert load_reports(Path(uri)) == expected  # the s3:/ form a pathlib.Path collapses it to
    assert len(expected[0]) == 4 and expected[1] == [
        {"item": "reports.jsonl:5", "reason": "empty report text"}
    ]


def test_reports_prefix_on_s3_reads_every_report_object(tmp_path: Path, s3: tuple[Any, str]) -> None:
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="tcga/TCGA-AA-0001.txt", Body=GOOD.encode())
    client.put_object(Bucket=bucket, Key="tcga/nested/case7.txt", Body=GOOD.encode())
    client.put_object(Bucket=bucket, Key="tcga/notes.md", Body=b"ignored")
    client.put_object(Bucket=bucket, Key="tcga/broken.pdf", Body=b"%PDF-1.4 not really")
    client.put_object(Bucket=bucket, Key="tcgaX/other.txt", Body=GOOD.encode())  # not under tcga/
    reports, quarantine = load_reports(f"s3://{bucket}/tcga")
    assert sorted(r.patient_id for r in reports) == ["TCGA-AA-0001", "case7"]
    assert all(r.text == GOOD for r in reports)
    assert [q["item"] for q in quarantine] == ["broken.pdf"] and "unreadable PDF" in quarantine[0]["reason"]
    assert not list(Path(tempfile.gettempdir()).glob("reports-s3-*"))  # the download folder is removed


def test_missing_s3_reports_name_the_uri_and_the_fix(s3: tuple[Any, str]) -> None:
    _, bucket = s3
    missing = f"s3://{bucket}/cohort/reports.jsonl"
    with pytest.raises(ReportError, match=re.escape(f"reports object {missing} does not exist")) as err:
        load_reports(missing)
    assert "pass --reports" in str(err.value)
    with pytest.raises(
        ReportError, match=re.escape(f"no .jsonl, .csv, .txt, .pdf objects under s3://{bucket}/empty/")
    ):
        load_reports(f"s3://{bucket}/empty/")
    with pytest.raises(ReportError, match="check the bucket name"):
        load_reports("s3://no-such-bucket-pr/reports.jsonl")


def test_build_samples_cli_takes_reports_from_s3(
    tmp_path: Path, kg_dir: Path, write_reports: Callable[..., Path], s3: tuple[Any, str]
) -> None:
    from typer.testing import CliRunner

    from pathreasoner.cli import app

    client, bucket = s3
    local = write_reports(tmp_path / "reports.jsonl", make_demo_cases(3, 0))
    client.upload_file(str(local), bucket, "in/reports.jsonl")
    params = tmp_path / "params.yaml"
    params.write_text(f"project:\n  work_dir: {tmp_path / 'work'}\n")
    base = ["build-samples", "--kg", str(kg_dir), "--config", str(params)]
    result = CliRunner().invoke(app, [*base, "--reports", f"s3://{bucket}/in/reports.jsonl"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "work" / "samples" / "summary.json").read_text())
    assert summary["n_reports"] == 3
    result = CliRunner().invoke(app, [*base, "--reports", f"s3://{bucket}/in/missing.jsonl"])
    assert result.exit_code == 2
    assert f"s3://{bucket}/in/missing.jsonl does not exist" in " ".join(result.output.split())
