"""A small byte-level BPE tokenizer trained offline on a shipped pathology corpus.

It carries the Qwen2.5-VL special tokens (so the standard Qwen2.5-VL processor and chat template work
unchanged) and the answer tags as single added tokens, so a tiny model can learn the answer format.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = (
    PAD_TOKEN,
    "<|im_start|>",
    EOS_TOKEN,
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TAG_TOKENS = ("<observe>", "</observe>", "<think>", "</think>", "<answer>", "</answer>")
CORPUS_RESOURCE = "corpus.txt"


def corpus_text() -> str:
    """The shipped training corpus (pathology vocabulary, report sentences, the answer format)."""
    return resources.files("pathreasoner.model").joinpath("data", CORPUS_RESOURCE).read_text(encoding="utf-8")


def corpus_hash() -> str:
    return hashlib.sha256(corpus_text().encode("utf-8")).hexdigest()[:16]


def build_tokenizer(vocab_size: int = 3000) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on the shipped corpus (deterministic) and wrap it for transformers.

    Special tokens are `special` (skipped when decoding with skip_special_tokens=True); the answer tags
    are ordinary added tokens, so they survive decoding as text.
    """
    lines = [line for line in corpus_text().splitlines() if line.strip()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    bpe.train_from_iterator(lines, trainer=trainer)
    bpe.add_tokens(list(TAG_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=32768,
        padding_side="right",
    )
    logger.debug("trained tokenizer: %d tokens", len(tokenizer))
    return tokenizer
