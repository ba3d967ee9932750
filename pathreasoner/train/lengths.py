"""Token lengths of rendered samples (chat text + image tokens), computed without running the image processor.

A `<|image_pad|>` placeholder becomes as many tokens as the image has merged patches; that count follows
from the image size alone (`get_number_of_image_patches`), so only image headers are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image
from transformers import ProcessorMixin

from pathreasoner.errors import DatasetError
from pathreasoner.train.data import grpo_row, sft_row


class TokenCounter:
    """Counts the tokens a processor will produce for a conversation with images (sizes cached per file)."""

    def __init__(self, processor: ProcessorMixin) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        image_processor = processor.image_processor
        self._merge = int(image_processor.merge_size) ** 2
        self._image_processor = image_processor
        self._per_size: dict[tuple[int, int], int] = {}

    def image_tokens(self, path: str) -> int:
        """Tokens one image file expands to."""
        try:
            with Image.open(path) as image:
                width, height = image.size
        except OSError as exc:
            raise DatasetError(f"cannot read image {path} ({exc}); rebuild the samples") from exc
        key = (height, width)
        if key not in self._per_size:
            self._per_size[key] = (
                self._image_processor.get_number_of_image_patches(height, width) // self._merge
            )
        return self._per_size[key]

    def conversation(
        self, messages: list[dict[str, Any]], images: Sequence[str], add_generation_prompt: bool = False
    ) -> int:
        """Tokens of the chat-templated `messages` with `images` (file paths) expanded."""
        text = self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return len(ids) + sum(self.image_tokens(p) - 1 for p in images)


def sft_lengths(records: Iterable[dict[str, Any]], processor: ProcessorMixin) -> list[int]:
    """Full SFT sequence length per record (prompt + response), as the SFT collator builds it."""
    counter = TokenCounter(processor)
    rows = (sft_row(r) for r in records)
    return [counter.conversation(row["messages"], row["images"]) for row in rows]


def prompt_lengths(records: Iterable[dict[str, Any]], processor: ProcessorMixin) -> list[int]:
    """GRPO prompt length per record (system + images + question + the assistant cue)."""
    counter = TokenCounter(processor)
    rows = (grpo_row(r) for r in records)
    return [counter.conversation(row["prompt"], row["images"], add_generation_prompt=True) for row in rows]
