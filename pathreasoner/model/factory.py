"""Base-model factory: the tiny offline Qwen2.5-VL, a local dir, a Hugging Face id, or an s3:// prefix.

The tiny model uses the same transformers classes as Qwen/Qwen2.5-VL-7B-Instruct
(`Qwen2_5_VLForConditionalGeneration` + `Qwen2_5_VLProcessor`), is built from a config with a tokenizer
trained locally, seeded, and cached in a folder keyed by a hash of everything that defines it.

Whatever the source, the loaded processor gets the package's chat template (`{% generation %}` markers
for assistant-only loss, the trajectory `prefix` continuation): a downloaded checkpoint ships the stock
Qwen2.5-VL template, which has neither.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from pathreasoner.config import ModelConfig
from pathreasoner.errors import ModelError
from pathreasoner.model.tokenizer import EOS_TOKEN, PAD_TOKEN, build_tokenizer, corpus_hash

logger = logging.getLogger(__name__)

TINY_FORMAT_VERSION = 1  # bump when the build recipe changes in a way the hash would not see
_BUILD_LOCK = threading.Lock()  # the torch RNG is process-global: one seeded build at a time
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# the tokens the package chat template writes: any Qwen2.5-VL-family tokenizer has them
TEMPLATE_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>")


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny offline model: small enough for fast CPU steps, big enough to learn the format."""

    vocab_size: int = 3000  # BPE target; the real size is what the shipped corpus supports
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    intermediate_size: int = 256
    vision_depth: int = 2
    vision_hidden_size: int = 64
    vision_num_heads: int = 2
    vision_intermediate_size: int = 128
    seed: int = 0


def chat_template() -> str:
    """The Qwen2.5-VL chat template shipped with the package (with `{% generation %}` markers)."""
    return resources.files("pathreasoner.model").joinpath("data", "chat_template.jinja").read_text("utf-8")


def install_chat_template(processor: ProcessorMixin, source: str | Path) -> ProcessorMixin:
    """Put the package chat template on `processor` and its tokenizer (in place; returned for chaining).

    Raises ModelError when the tokenizer lacks the Qwen chat/vision tokens the template writes.
    """
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise ModelError(
            f"{source}: the loaded processor ({type(processor).__name__}) has no tokenizer; model.base must be a "
            "Qwen2.5-VL checkpoint with its processor (e.g. Qwen/Qwen2.5-VL-7B-Instruct)"
        )
    vocab = tokenizer.get_vocab()
    missing = [token for token in TEMPLATE_TOKENS if token not in vocab]
    if missing:
        raise ModelError(
            f"{source}: its tokenizer has no {', '.join(missing)}, which the PathReasoner chat template writes; "
            "use a Qwen2.5-VL-family checkpoint (e.g. Qwen/Qwen2.5-VL-7B-Instruct) as model.base"
        )
    template = chat_template()
    processor.chat_template = template
    tokenizer.chat_template = template
    return processor


def resolve_dtype(name: str, device: str | None = None) -> torch.dtype:
    """A config dtype name as torch dtype; `auto` is bfloat16 on a CUDA GPU that supports it, else float32.

    `device` is where the model will run (None: a CUDA GPU when one is visible).
    """
    if name != "auto":
        if name not in _DTYPES:
            raise ModelError(f"unknown dtype {name!r}; use one of auto, {', '.join(_DTYPES)}")
        return _DTYPES[name]
    on_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32


def cache_root(cfg: ModelConfig) -> Path:
    """cfg.cache_dir, else $PATHREASONER_CACHE, else ~/.cache/pathreasoner."""
    root = cfg.cache_dir or os.environ.get("PATHREASONER_CACHE") or "~/.cache/pathreasoner"
    return Path(root).expanduser()


def tiny_key(cfg: ModelConfig, spec: TinySpec = TinySpec()) -> str:
    """Content hash of everything that defines the tiny checkpoint."""
    payload = {
        "spec": dataclasses.asdict(spec),
        "image_min_pixels": cfg.image_min_pixels,
        "image_max_pixels": cfg.image_max_pixels,
        "corpus": corpus_hash(),
        "template": hashlib.sha256(chat_template().encode()).hexdigest()[:16],
        "transformers": transformers.__version__,
        "format": TINY_FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_processor(tokenizer: Any, cfg: ModelConfig) -> Qwen2_5_VLProcessor:
    """The standard Qwen2.5-VL processor around a tokenizer, with the configured image pixel budget."""
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            min_pixels=cfg.image_min_pixels, max_pixels=cfg.image_max_pixels
        ),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=chat_template(),
    )


def build_tiny(cfg: ModelConfig, spec: TinySpec = TinySpec()) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Build (not cache) the seeded tiny model and its processor in memory."""
    tokenizer = build_tokenizer(spec.vocab_size)
    processor = build_processor(tokenizer, cfg)
    ids = {
        name: tokenizer.convert_tokens_to_ids(tok)
        for name, tok in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    head_dim = spec.hidden_size // spec.num_attention_heads
    half = head_dim // 2  # mrope splits the rotary half-dim into temporal/height/width sections
    mrope = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "max_position_embeddings": 8192,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
            "bos_token_id": None,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
        },
        vision_config={
            "depth": spec.vision_depth,
            "hidden_size": spec.vision_hidden_size,
            "num_heads": spec.vision_num_heads,
            "intermediate_size": spec.vision_intermediate_size,
            "out_hidden_size": spec.hidden_size,
            "fullatt_block_indexes": [spec.vision_depth - 1],
        },
        **ids,
    )
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG
        torch.manual_seed(spec.seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = None
    model.generation_config.do_sample = False
    return model, processor


def tiny_checkpoint(cfg: ModelConfig, spec: TinySpec = TinySpec()) -> Path:
    """Path of the cached tiny checkpoint, building it once (atomically; safe when processes race)."""
    target = cache_root(cfg) / f"tiny-qwen2_5_vl-{tiny_key(cfg, spec)}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model, processor = build_tiny(cfg, spec)
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "tiny_spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=2))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
            logger.debug("another process built %s first; using it", target)
    except Exception as exc:
        raise ModelError(
            f"could not build the tiny model into {target}: {exc}; check that the cache dir "
            f"({target.parent}) is writable or set model.cache_dir / $PATHREASONER_CACHE"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built tiny model %s in %.1f s", target, time.perf_counter() - start)
    return target


def require_checkpoint(path: Path | str) -> Path:
    """`path` as a Path when it holds a save_pretrained model (config.json), else a ModelError with the fix."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(
            f"checkpoint {path} does not exist; pass the output folder of train-sft / train-grpo (it holds "
            "checkpoint/), a save_pretrained directory, or models:/<name>@<alias>"
        )
    if not (path / "config.json").exists():
        raise ModelError(
            f"checkpoint {path} has no config.json; pass a directory written by save_pretrained "
            "(e.g. <train out>/checkpoint)"
        )
    return path


def load_checkpoint(
    path: Path | str,
    dtype: str = "auto",
    device: str | None = None,
    pixels: tuple[int, int] | None = None,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load a save_pretrained directory (model + processor, with the package chat template).

    `dtype` is resolved for `device` (see resolve_dtype); `pixels` = (min, max) overrides the image
    processor's pixel budget.
    """
    path = require_checkpoint(path)
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=resolve_dtype(dtype, device))
    except Exception as exc:
        raise ModelError(
            f"could not load checkpoint {path}: {exc}; is it a complete model + processor dir?"
        ) from exc
    model.eval()
    return model, load_processor(path, pixels)


def load_processor(path: Path | str, pixels: tuple[int, int] | None = None) -> ProcessorMixin:
    """The checkpoint's processor (tokenizer + image processor) with the package chat template, no weights."""
    path = require_checkpoint(path)
    processor_kwargs = {"size": {"shortest_edge": pixels[0], "longest_edge": pixels[1]}} if pixels else {}
    try:
        processor = AutoProcessor.from_pretrained(path, **processor_kwargs)
    except Exception as exc:
        raise ModelError(
            f"could not load the processor of checkpoint {path}: {exc}; is it a complete model + processor dir?"
        ) from exc
    install_chat_template(processor, path)
    return processor


def download_s3_prefix(uri: str, cache: Path) -> Path:
    """Mirror s3://bucket/prefix into the cache (boto3; endpoint from $AWS_ENDPOINT_URL when set)."""
    import boto3

    bucket, _, prefix = uri[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    target = cache / "s3" / bucket / (prefix or "_root")
    if (target / "config.json").exists():
        return target
    client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :].lstrip("/")
                if not rel or rel.endswith("/"):
                    continue
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, obj["Key"], str(dest))
                count += 1
        if count == 0:
            raise ModelError(f"model.base={uri} holds no objects; upload a save_pretrained directory there")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
    logger.info("downloaded %d objects from %s to %s", count, uri, target)
    return target


def load_base_model(cfg: ModelConfig) -> tuple[PreTrainedModel, ProcessorMixin]:
    """model.base: "tiny" | local dir | s3://bucket/prefix | Hugging Face id, with model.image_*_pixels."""
    base = cfg.base
    pixels = (cfg.image_min_pixels, cfg.image_max_pixels)
    if base == "tiny":
        return load_checkpoint(tiny_checkpoint(cfg), cfg.torch_dtype, pixels=pixels)
    if base.startswith("s3://"):
        return load_checkpoint(download_s3_prefix(base, cache_root(cfg)), cfg.torch_dtype, pixels=pixels)
    if Path(base).expanduser().is_dir():
        return load_checkpoint(Path(base).expanduser(), cfg.torch_dtype, pixels=pixels)
    if base.startswith(("/", ".", "~")) or base.count("/") > 1:
        raise ModelError(
            f"model.base={base!r} looks like a local path but is not a directory; fix model.base "
            "(a save_pretrained dir, 'tiny', s3://bucket/prefix or a Hugging Face id like Qwen/Qwen2.5-VL-7B-Instruct)"
        )
    try:
        model = AutoModelForImageTextToText.from_pretrained(base, dtype=resolve_dtype(cfg.torch_dtype))
        processor = AutoProcessor.from_pretrained(
            base, size={"shortest_edge": cfg.image_min_pixels, "longest_edge": cfg.image_max_pixels}
        )
    except Exception as exc:
        raise ModelError(
            f"model.base={base!r} is neither 'tiny', an existing directory, s3://, nor a loadable Hugging Face "
            f"id ({exc}); fix model.base"
        ) from exc
    return model, install_chat_template(processor, base)


def freeze_vision_tower(model: PreTrainedModel) -> int:
    """Stop gradients to the vision transformer (patch embedding and blocks); its merger (the projector
    into the LM) stays trainable. Returns the number of frozen parameters."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".visual." in f".{name}" and ".merger." not in name:
            param.requires_grad_(False)
            frozen += param.numel()
    if not frozen:
        logger.warning("freeze_vision_tower: no vision-tower parameters found in %s", type(model).__name__)
    return frozen
