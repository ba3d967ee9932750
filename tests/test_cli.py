"""The CLI adapters: config errors are one clear line + exit 2; compile writes the IR YAML."""

from __future__ import annotations

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
    assert "no slide files found" in result.output


def test_tile_slides_exit_status_counts_quarantined(tmp_path: Path) -> None:
    from pathreasoner.wsi import write_synthetic_slide

    slides = tmp_path / "slides"
    slides.mkdir()
    write_synthetic_slide(slides / "good.tiff", width_px=2048, height_px=1536, seed=1)
    (slides / "notes.tiff").write_text("not a slide")
    result = runner.invoke(
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
    assert result.exit_code == 1, result.output
    assert "notes" in result.output and "1 slide(s) quarantined" in result.output
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
