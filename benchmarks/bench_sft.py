"""SFT tokens processed per epoch and step time: length-grouped batches against pad-to-longest random batches.

Why not packing. TRL 1.16's SFTTrainer rejects both ``packing=True`` and ``padding_free=True`` for a vision
dataset ("Packing is not supported for vision datasets", "Padding-free training is yet not supported for
vision datasets"): VLM rows are collated on the fly by ``DataCollatorForVisionLanguageModeling``, which pads
to the longest row. Packing a Qwen2.5-VL batch would also need the 3-D mrope positions (temporal / height /
width, from ``image_grid_thw``, ``get_rope_index``) rebuilt per packed segment and handed to the model as
4-row position ids with variable-length attention: a rewrite of the collator and of the model's input
preparation. The best supported alternative is length-grouped sampling (transformers'
``train_sampling_strategy="group_by_length"``, our ``sft.group_by_length``), fed with lengths computed from
image headers and the chat text (``pathreasoner.train.lengths``) rather than by tokenizing at start-up.

The samples are the ones build-samples writes: ``demo-data`` -> ``tile-slides`` -> ``build-kg`` ->
``build-samples`` into a temp work dir (``--patients``), or an existing samples dir (``--samples``). The SFT
rows are those train-sft uses with the params.yaml settings (trajectory variants mixed with full
trajectories). For each sampler, one epoch of the real train dataloader (real sampler, real collator) counts
the tokens in the padded batches; then one epoch of real SFT steps on the tiny model is timed (step
callbacks, trainer set-up excluded; ``--repeats`` interleaved epochs, per-step best of: the seeded
epochs repeat the same batches, so the minimum drops the moments other processes held the cores). Also
reported (stderr): the real (unpadded) tokens, i.e. what padding-free packing would process at best.

Prints ``sft_tokens ours=<padded tokens/epoch, grouped> anchor=<padded tokens/epoch, random> ratio=<anchor/ours>``
and ``sft_step ours=<s/step, grouped> anchor=<s/step, random> ratio=<anchor/ours>``.
Target: ratio >= 1.5 fewer tokens (the issue's target for packing).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pathreasoner import stages
from pathreasoner.config import Config, load_config
from pathreasoner.train.sft import build_sft_trainer

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench_sft")


def build_demo_samples(work: Path, patients: int) -> Path:
    """The demo cohort through the data stages, as `make demo` runs them; returns the samples dir."""
    cfg = load_config(REPO / "params.yaml", [f"project.work_dir={work}", f"demo_data.n_patients={patients}"])
    start = time.perf_counter()
    stages.demo_data(cfg, work / "demo")
    stages.tile_slides(cfg, work / "demo" / "slides", work / "tiles")
    stages.build_kg(cfg, work / "kg")
    stages.build_samples(cfg, work / "demo" / "reports.jsonl", work / "tiles", work / "kg", work / "samples")
    log.info("built %d-patient demo samples in %.0f s", patients, time.perf_counter() - start)
    return work / "samples"


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step (data, forward, backward, optimizer), trainer set-up excluded."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def sft_config(work: Path, grouped: bool, batch_size: int, steps: int) -> Config:
    return load_config(
        REPO / "params.yaml",
        [
            f"project.work_dir={work}",
            f"sft.group_by_length={str(grouped).lower()}",
            f"sft.per_device_batch_size={batch_size}",
            f"sft.max_steps={steps}",
            f"sft.logging_steps={steps}",
            f"training.save_steps={steps + 1}",
            "training.mlflow=false",
        ],
    )


def epoch_tokens(samples: Path, work: Path, cfg: Config) -> tuple[int, int, int, int]:
    """(padded tokens, real tokens, rows, batches) over one epoch of the train dataloader."""
    trainer, _, _ = build_sft_trainer(samples, work / "tokens", cfg)
    padded = real = batches = 0
    for batch in trainer.get_train_dataloader():
        padded += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
        batches += 1
    return padded, real, len(trainer.train_dataset), batches


def epoch_step_seconds(samples: Path, work: Path, cfg: Config) -> list[float]:
    """Seconds of each SFT step over cfg.sft.max_steps steps (one epoch when max_steps = batches per epoch)."""
    trainer, _, _ = build_sft_trainer(samples, work / "steps", cfg)
    timer = StepTimer()
    trainer.add_callback(timer)
    trainer.train()
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=Path, help="an existing build-samples output (default: build one)")
    parser.add_argument("--patients", type=int, default=42, help="demo cohort size when building samples")
    parser.add_argument("--batch-size", type=int, default=4, help="sft.per_device_batch_size")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per sampler (best of)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    for noisy in ("pathreasoner", "transformers", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        work = Path(tmp)
        samples = args.samples or build_demo_samples(work, args.patients)
        tokens, batches = {}, {}
        for name, grouped in (("anchor", False), ("ours", True)):
            padded, real, rows, batches[name] = epoch_tokens(
                samples, work / name, sft_config(work, grouped, args.batch_size, 1)
            )
            tokens[name] = padded
            log.info(
                "%s: %d rows, %d batches, %d padded tokens/epoch, %d real (padding %.1f%%)",
                name,
                rows,
                batches[name],
                padded,
                real,
                100 * (padded - real) / padded,
            )
        log.info(
            "padding-free bound: %d real tokens, %.2fx fewer than pad-to-longest (batch %d)",
            real,
            tokens["anchor"] / real,
            args.batch_size,
        )
        steps = batches["anchor"]  # one epoch each, both samplers give the same number of batches
        per_step: dict[str, list[list[float]]] = {"anchor": [], "ours": []}
        for _ in range(args.repeats):  # interleaved: the machine is shared
            for name, grouped in (("anchor", False), ("ours", True)):
                cfg = sft_config(work, grouped, args.batch_size, steps)
                per_step[name].append(epoch_step_seconds(samples, work / name, cfg))
        # seeded: repeat r sees the same batches in the same order, so the per-step minimum drops the
        # moments another process held the cores
        seconds = {name: sum(map(min, zip(*runs, strict=True))) / steps for name, runs in per_step.items()}
        log.info("step time: mean over one epoch of %d steps, per-step best of %d", steps, args.repeats)
    print(
        f"sft_tokens ours={tokens['ours']} anchor={tokens['anchor']} ratio={tokens['anchor'] / tokens['ours']:.2f}"
    )
    print(
        f"sft_step ours={seconds['ours']:.3f} anchor={seconds['anchor']:.3f} "
        f"ratio={seconds['anchor'] / seconds['ours']:.2f}"
    )


if __name__ == "__main__":
    main()
