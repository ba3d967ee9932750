"""`pathreasoner benchmark ...`: public slide-level VQA benchmarks (MultiPathQA, WSI-VQA, SlideBench-VQA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

benchmark_app = typer.Typer(no_args_is_help=True, help=__doc__)

BenchmarkSlidesOpt = Annotated[
    str | None,
    typer.Option(
        help="the benchmark's slides: a folder (by file stem), an s3://bucket/prefix/, or a CSV (slide_id,path) "
        "or JSON {slide_id: path} manifest"
    ),
]


@benchmark_app.command("load")
def load_cmd(
    name: Annotated[str, typer.Argument(help="multipathqa | wsi-vqa | slidebench")],
    file: Annotated[Path, typer.Argument(help="the benchmark file (CSV or JSON)")],
    slides: BenchmarkSlidesOpt = None,
) -> None:
    """Read a benchmark file and print one JSON line: items, with_slide, missing_slide, by_type."""
    from pathreasoner.benchmarks import SlideManifest, count_slides, load_benchmark
    from pathreasoner.cli import _run

    counts = _run(lambda: count_slides(load_benchmark(name, file), SlideManifest.from_source(slides)))
    typer.echo(json.dumps(counts.line()))
