"""dvc.yaml: every stage calls the CLI, lists its params, and `dvc repro` runs the data stages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pathreasoner.config import Config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIPELINE_STAGES = [
    "tile-slides",
    "build-kg",
    "build-samples",
    "train-sft",
    "train-grpo",
    "evaluate",
    "register",
    "promote",
]


def _dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_dvc_stages_mirror_the_pipeline_and_name_real_params() -> None:
    stages = _dvc_yaml()["stages"]
    assert set(PIPELINE_STAGES) <= set(stages)
    sections = Config.model_fields
    for name, stage in stages.items():
        assert stage["cmd"].startswith("pathreasoner "), name
        assert stage.get("params"), f"stage {name} lists no params"
        for key in stage["params"]:
            section, _, field = key.partition(".")
            assert section in sections, f"{name}: unknown params section {key}"
            if field:
                top = field.split(".")[0]
                assert top in sections[section].annotation.model_fields, f"{name}: unknown param {key}"


@pytest.mark.slow
def test_dvc_repro_runs_the_data_stages(tmp_path: Path) -> None:
    dvc = BIN / "dvc"
    if not dvc.exists():
        pytest.skip("dvc is not installed in this environment")
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    (ws / "pathreasoner").symlink_to(REPO / "pathreasoner")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["demo_data"].update(n_patients=4, slide_width_px=2048, slide_height_px=1536)
    params["tiling"].update(thumbnail_px=512, top_k_tiles=4)
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=ws, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("git", "init", "-q")
    run(str(dvc), "init", "-q")
    run(str(dvc), "config", "core.analytics", "false")
    run(str(dvc), "repro", "build-samples")
    assert (ws / "work" / "samples" / "samples.jsonl").stat().st_size > 0
    assert len(list((ws / "work" / "tiles").glob("*/index.parquet"))) == 4
    status = run(str(dvc), "status", "build-samples")
    assert "changed" not in status
    assert "Stage 'build-kg' didn't change" in run(str(dvc), "repro", "build-kg")
