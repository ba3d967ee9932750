from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pathreasoner.config import Config, config_from_json, load_config
from pathreasoner.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_params_yaml_loads_and_resolves_paths() -> None:
    cfg = load_config(REPO / "params.yaml")
    assert cfg.tiling.tile_px == 256
    assert Path(cfg.project.work_dir) == REPO / "work"
    assert cfg.tracking_uri == f"sqlite:///{REPO / 'work' / 'mlflow' / 'mlflow.db'}"
    assert cfg.artifact_root == str(REPO / "work" / "mlflow" / "artifacts")


def test_params_yaml_sets_every_key_of_every_section() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, model in Config.model_fields.items():
        assert section in raw, f"params.yaml lacks section {section}"
        assert set(raw[section]) == set(model.annotation.model_fields), f"params.yaml section {section} keys"


def test_override_with_set() -> None:
    cfg = load_config(
        REPO / "params.yaml",
        ["sft.max_steps=7", "registry.gate.minimums.entity_f1=0.3", "kg.obo_paths=[a.obo]"],
    )
    assert cfg.sft.max_steps == 7
    assert cfg.registry.gate.minimums == {"answer_accuracy": 0.4, "format_compliance": 0.8, "entity_f1": 0.3}
    assert cfg.kg.obo_paths == [str(REPO / "a.obo")]


def test_unknown_key_names_key_and_valid_keys() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "params.yaml", ["tiling.tile_size=3"])
    message = str(err.value)
    assert "tiling.tile_size" in message
    assert "tile_px" in message and "target_mpp" in message


def test_unknown_section_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown config section 'tilling'"):
        load_config(REPO / "params.yaml", ["tilling.tile_px=3"])
    with pytest.raises(ConfigError, match=r"tiling\.tile_px"):
        load_config(REPO / "params.yaml", ["tiling.tile_px=abc"])
    with pytest.raises(ConfigError, match="overlap_px"):
        load_config(REPO / "params.yaml", ["tiling.overlap_px=256"])
    with pytest.raises(ConfigError, match=r"grpo\.num_generations.*at least 2 completions per prompt"):
        load_config(REPO / "params.yaml", ["grpo.num_generations=1"])
    assert load_config(
        REPO / "params.yaml", ["grpo.per_device_batch_size=3"]
    )  # global batch: checked at build
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_config(REPO / "params.yaml", ["tiling"])


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_json_round_trip_and_hash(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["project.seed=3"])
    again = config_from_json(cfg.to_json())
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()
    assert load_config(REPO / "params.yaml").config_hash() != cfg.config_hash()
