"""The CLI adapters: config errors are one clear line + exit 2; compile writes the IR YAML under the work dir;
URIs (s3://, models:/) reach the stages as given."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pathreasoner.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_unknown_config_key_is_a_clear_error() -> None:
    result = runner.invoke(app, ["config", "--config", str(REPO / "params.yaml"), "--set", "sft.max_step=3"])
    assert result.exit_code == 2
    assert "unknown config key 'sft.max_step'" in result.output
    assert "max_steps" in result.output


def test_config_prints_resolved_yaml() -> None:
    result = runner.invoke(
        app, ["config", "--config", str(REPO / "params.yaml"), "--set", "tiling.tile_px=224"]
    )
    assert result.exit_code == 0, result.output
    body = yaml.safe_load(result.output.split("# config_hash")[0])
    assert body["tiling"]["tile_px"] == 224
    assert body["project"]["work_dir"] == str(REPO / "work")


def test_pipeline_compile_command(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    result = runner.invoke(
        app, ["pipeline", "compile", "--config", str(REPO / "params.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["pipelineInfo"]["name"] == "pathreasoner"


def test_empty_input_folder_is_reported_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        app,
        [
            "tile-slides",
            str(tmp_path / "empty"),
            "--config",
            str(REPO / "params.yaml"),
            "--set",
            f"project.work_dir={tmp_path}",
        ],
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # rich wraps long lines
    assert f"no slide files found in {tmp_path / 'empty'}" in output and "[]" not in output
    assert ".svs" in output and ".tiff" in output  # what it looked for


def tile_slides(slides: Path, tmp_path: Path):
    """`pathreasoner tile-slides <slides> --out <tmp>/tiles` with the repo's params.yaml."""
    return runner.invoke(
        app,
        [
            "tile-slides",
            str(slides),
            "--out",
            str(tmp_path / "tiles"),
            "--config",
            str(REPO / "params.yaml"),
            "--set",
            f"project.work_dir={tmp_path}",
        ],
    )


def test_tile_slides_where_every_slide_fails_is_a_failure(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    (slides / "notes.tiff").write_text("not a slide")
    (slides / "other.svs").write_text("not a slide either")
    result = tile_slides(slides, tmp_path)
    assert result.exit_code == 2, result.output
    assert "✓" not in result.output and "no slide was tiled" in result.output
    assert "notes" in result.output and "other" in result.output


def test_tile_slides_exit_status_counts_quarantined(tmp_path: Path) -> None:
    from pathreasoner.wsi import write_synthetic_slide

    slides = tmp_path / "slides"
    slides.mkdir()
    write_synthetic_slide(slides / "good.tiff", width_px=2048, height_px=1536, seed=1)
    (slides / "notes.tiff").write_text("not a slide")
    result = tile_slides(slides, tmp_path)
    assert result.exit_code == 1, result.output
    assert "notes" in result.output and "1 slide(s) quarantined" in result.output
    assert "✓" not in result.output and "!" in result.output  # a warning summary, not a success
    assert (tmp_path / "tiles" / "good" / "index.parquet").exists()


def test_progress_bar_counts_items_and_their_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import pathreasoner.cli as cli

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, force_terminal=True, width=120))
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True, raising=False)
    with cli._progress(3, "slides") as advance:
        advance("slide-a", 100)
        advance("slide-b", 50)
        advance("slide-c", 0)
    with cli._progress(None, "reports") as advance:
        advance(4, 4)
    out = buffer.getvalue()
    assert "3/3" in out and "150 tiles (" in out and "4/4" in out


@pytest.fixture()
def params(tmp_path: Path) -> Path:
    """A params.yaml of the defaults with the work dir in tmp (independent of the repo's params.yaml)."""
    path = tmp_path / "params.yaml"
    path.write_text(f"project:\n  work_dir: {tmp_path / 'work'}\n")
    return path


def test_pipeline_compile_writes_under_the_work_dir_by_default(
    tmp_path: Path, params: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    result = runner.invoke(app, ["pipeline", "compile", "--config", str(params)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "work" / "pathreasoner_pipeline.yaml"
    assert next(yaml.safe_load_all(out.read_text()))["pipelineInfo"]["name"] == "pathreasoner"
    assert not list((tmp_path / "cwd").iterdir())  # nothing written into the current folder


def test_uris_reach_the_stages_unmangled(params: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--config", str(params)])
        assert result.exit_code == 2, result.output
        return " ".join(result.output.split())

    # commands that read local folders say so, naming the URI as given (typer's Path made it s3:/b/k)
    assert "--checkpoint s3://bucket/ckpt is a URI" in run("evaluate", "--checkpoint", "s3://bucket/ckpt")
    assert "--eval mlflow-artifacts:/1/x is a URI" in run("register", "--eval", "mlflow-artifacts:/1/x")
    # an S3 slide goes to the S3 client intact (no endpoint listens here: a clear SlideReadError)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    assert "slide s3://bucket/a/slide.svs cannot be" in run("inspect-slide", "s3://bucket/a/slide.svs")
    # training reads s3:// samples itself (a TrainJob's pods do): the URI reaches the S3 client intact
    assert "cannot list s3://bucket/samples" in run("train-sft", "--samples", "s3://bucket/samples")


def test_models_uri_checkpoint_is_resolved_in_the_registry(params: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train-grpo", "--init", "models:/pathreasoner@champion", "--config", str(params)]
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "model 'pathreasoner' has no alias 'champion'" in text and "pathreasoner promote" in text


def test_pipeline_run_passes_uris_and_containers_to_the_runner(params: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "pipeline",
            "run",
            "--local",
            "--containers",
            "--slides",
            str(tmp_path),
            "--reports",
            "s3://bucket/reports.jsonl",
            "--config",
            str(params),
        ],
    )
    assert result.exit_code == 2  # step containers cannot see a path of this machine
    assert str(tmp_path) in " ".join(result.output.split())
    moved = runner.invoke(app, ["pipeline", "run", "--cluster", "--config", str(params)])
    assert moved.exit_code == 2 and "pathreasoner pipeline submit" in moved.output


def test_serve_container_needs_an_s3_or_registry_uri(tmp_path: Path) -> None:
    """`serve --container` copies from S3 like KServe's storage initializer: a local folder is refused."""
    result = runner.invoke(
        app, ["serve", "--container", "--model-uri", str(tmp_path), "--config", str(REPO / "params.yaml")]
    )
    assert result.exit_code == 2
    assert "serves from S3 like KServe" in result.output and str(tmp_path) in result.output.replace("\n", "")
