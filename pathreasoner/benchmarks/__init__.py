"""Public slide-level VQA benchmarks (MultiPathQA, WSI-VQA, SlideBench-VQA) as evaluation sets."""

from pathreasoner.benchmarks.items import BenchmarkItem, LoadedBenchmark
from pathreasoner.benchmarks.loaders import LOADERS, load_benchmark
from pathreasoner.benchmarks.manifest import SlideManifest
from pathreasoner.benchmarks.samples import BenchmarkCounts, count_slides, write_benchmark_samples

__all__ = [
    "LOADERS",
    "BenchmarkCounts",
    "BenchmarkItem",
    "LoadedBenchmark",
    "SlideManifest",
    "count_slides",
    "load_benchmark",
    "write_benchmark_samples",
]
