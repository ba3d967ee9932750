"""Greedy generation with a checkpoint: one shared path for evaluation, serving and demos."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin, StoppingCriteriaList

from pathreasoner.errors import ModelError
from pathreasoner.model.factory import load_checkpoint
from pathreasoner.model.prompts import build_messages
from pathreasoner.model.tokenizer import EOS_TOKEN

logger = logging.getLogger(__name__)

__all__ = ["Generator", "build_messages"]


class Generator:
    """Wraps a model + processor; `generate` returns the assistant text with the answer tags kept."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        max_new_tokens: int = 160,
        device: str = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.eos_token_id = self.tokenizer.convert_tokens_to_ids(EOS_TOKEN)
        if self.eos_token_id is None or self.eos_token_id == self.tokenizer.unk_token_id:
            self.eos_token_id = self.tokenizer.eos_token_id
        self.pad_token_id = self.tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = self.eos_token_id

    @classmethod
    def from_checkpoint(
        cls, path: Path | str, max_new_tokens: int = 160, device: str = "auto", dtype: str = "auto"
    ) -> Generator:
        """Load `path`; device `auto` is cuda when a GPU is visible, dtype `auto` bfloat16 there (else float32)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, processor = load_checkpoint(path, dtype, device=device)
        return cls(model, processor, max_new_tokens=max_new_tokens, device=device)

    def prompt_text(self, n_images: int, question: str) -> str:
        """The chat-templated prompt (ending with the assistant cue) for n images + a question."""
        return self.processor.apply_chat_template(
            build_messages(n_images, question), add_generation_prompt=True, tokenize=False
        )

    def generate(self, images: Sequence[Image.Image], question: str) -> str:
        """Greedy answer for one item (stops at <|im_end|>)."""
        return self.generate_batch([(list(images), question)])[0]

    def generate_batch(self, items: Sequence[tuple[Sequence[Image.Image], str]]) -> list[str]:
        """Greedy answers for several items in one left-padded batch."""
        return self.generate_with_counts(items)[0]

    @torch.inference_mode()
    def generate_with_counts(
        self,
        items: Sequence[tuple[Sequence[Image.Image], str]],
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        stopping_criteria: StoppingCriteriaList | None = None,
    ) -> tuple[list[str], list[int]]:
        """Answers and new-token counts for several items in one left-padded batch.

        temperature 0 is greedy, above 0 samples; `stopping_criteria` may end rows early (cancelled requests).
        """
        if not items:
            return [], []
        texts = [self.prompt_text(len(images), question) for images, question in items]
        flat_images = [img.convert("RGB") for images, _ in items for img in images]
        try:
            inputs = self.processor(
                text=texts,
                images=flat_images or None,
                return_tensors="pt",
                padding=True,
                padding_side="left",
            )
        except Exception as exc:
            raise ModelError(f"could not prepare {len(items)} prompt(s) for the model: {exc}") from exc
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        sampling = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        output = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            stopping_criteria=stopping_criteria,
            **sampling,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        counts = (new_tokens != self.pad_token_id).sum(dim=1).tolist()
        decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [text.strip() for text in decoded], [int(c) for c in counts]

    def _config_summary(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "device": self.device}
