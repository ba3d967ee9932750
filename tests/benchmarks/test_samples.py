"""The benchmark samples dir: slides tiled like training slides, unusable slides counted with the reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pathreasoner.benchmarks import SlideManifest, load_benchmark, write_benchmark_samples
from pathreasoner.io_utils import read_jsonl


@pytest.mark.shared_data
def test_real_slide_tiled_and_broken_slides_reported(
    tmp_path: Path, slidebench_csv: Path, real_slide_as, make_config: Callable
) -> None:
    slides = real_slide_as("TCGA-05-4244-01Z-00-DX1")
    (slides / "broken.svs").write_bytes(b"not a slide")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "slide_id,path\nTCGA-05-4244-01Z-00-DX1,slides/TCGA-05-4244-01Z-00-DX1.svs\n"
        "TCGA-06-0169-01Z-00-DX1,slides/broken.svs\n"
    )
    lexicon_dir = tmp_path / "train-samples"
    lexicon_dir.mkdir()
    (lexicon_dir / "entity_lexicon.json").write_text(json.dumps({"glioblastoma": ["GBM"]}))
    cfg = make_config(tmp_path / "work")

    samples, counts = write_benchmark_samples(
        load_benchmark("slidebench", slidebench_csv),
        SlideManifest.from_source(manifest),
        tmp_path / "bench",
        cfg,
        lexicon_from=lexicon_dir,
    )
    assert (counts.with_slide, counts.missing_slide) == (2, 1)
    [missing] = counts.missing
    assert missing["id"] == "slidebench:3" and missing["reason"].startswith("tiling failed: SlideReadError")
    records = read_jsonl(samples / "test.jsonl")
    assert [r["id"] for r in records] == ["slidebench:1", "slidebench:2"]
    assert len(records[0]["images"]) == cfg.samples.views_per_sample
    views = json.loads((tmp_path / "bench" / "tiles" / "TCGA-05-4244-01Z-00-DX1" / "views.json").read_text())
    assert views, "tiled through the training tiler (views.json)"
    assert json.loads((samples / "entity_lexicon.json").read_text()) == {"glioblastoma": ["GBM"]}
    assert json.loads((samples / "entity_types.json").read_text()) == {}
    assert json.loads((samples / "benchmark.json").read_text())["missing"] == counts.missing
