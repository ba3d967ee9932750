"""Greedy generation with a checkpoint: one shared path for evaluation, serving and demos."""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin, StoppingCriteria, StoppingCriteriaList

from pathreasoner.errors import ModelError
from pathreasoner.model.factory import load_checkpoint, load_processor
from pathreasoner.model.prompts import build_messages
from pathreasoner.model.tokenizer import EOS_TOKEN

logger = logging.getLogger(__name__)

__all__ = ["Generator", "PreparedItem", "Preparer", "StopRows", "build_messages"]


@dataclass(frozen=True)
class PreparedItem:
    """The processor's output for one item: token-level tensors of shape (1, length), image patches, grids."""

    TOKEN_KEYS: ClassVar[frozenset[str]] = frozenset({"input_ids", "attention_mask", "mm_token_type_ids"})
    tensors: dict[str, torch.Tensor]

    @property
    def length(self) -> int:
        return int(self.tensors["input_ids"].shape[1])


def _rgb(img: Image.Image) -> Image.Image:
    """`img` in RGB mode (converting an RGB image would only copy it)."""
    return img if img.mode == "RGB" else img.convert("RGB")


class StopRows(StoppingCriteria):
    """Marks the rows that `done()` reports (e.g. cancelled requests) as finished; generation ends once
    every row is finished or at its end token."""

    def __init__(self, done: Callable[[], list[bool]]) -> None:
        self.done = done

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        return torch.tensor(self.done(), dtype=torch.bool, device=input_ids.device)


_PromptKey = tuple[str, tuple[tuple[int, ...], ...]]  # (chat prompt, each image's grid (t, h, w))


class Preparer:
    """The processor side of generation: chat prompt, token ids and image patches, without the weights.

    A server whose model generates in another process (pathreasoner/serve/model_process.py) prepares
    requests with this alone.
    """

    TOKEN_CACHE_SIZE: ClassVar[int] = 1024  # prompts (question, image grids) whose token ids are kept

    def __init__(self, processor: ProcessorMixin) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        # (prompt, image grids) -> token-level tensors: the processor's text work (image-token expansion,
        # tokenizing, mm token types) is the same for every request that asks the same question of images
        # of the same size, and costs more than the image patches
        self._tokens: OrderedDict[_PromptKey, dict[str, torch.Tensor]] = OrderedDict()
        self._tokens_lock = threading.Lock()
        self._prompts = functools.lru_cache(maxsize=self.TOKEN_CACHE_SIZE)(self._render_prompt)

    @classmethod
    def from_checkpoint(cls, path: Path | str) -> Preparer:
        """The processor of checkpoint `path` (no weights are loaded)."""
        return cls(load_processor(path))

    def prompt_text(self, n_images: int, question: str) -> str:
        """The chat-templated prompt (ending with the assistant cue) for n images + a question (rendering the
        Jinja template costs about as much as tokenizing: the last `TOKEN_CACHE_SIZE` prompts are kept)."""
        return self._prompts(n_images, question)

    def _render_prompt(self, n_images: int, question: str) -> str:
        return self.processor.apply_chat_template(
            build_messages(n_images, question), add_generation_prompt=True, tokenize=False
        )

    def prepare(self, images: Sequence[Image.Image], question: str) -> PreparedItem:
        """One item's model inputs (token ids, image patches), ready for `Generator.collate`.

        CPU work that a server does as each request arrives, off the batch's critical path.
        """
        text = self.prompt_text(len(images), question)
        rgb = [_rgb(img) for img in images]
        try:
            patches = dict(self.processor.image_processor(images=rgb, return_tensors="pt")) if rgb else {}
            grids = tuple(tuple(row) for row in patches["image_grid_thw"].tolist()) if rgb else ()
            with self._tokens_lock:
                tokens = self._tokens.get((text, grids))
                if tokens is not None:
                    self._tokens.move_to_end((text, grids))
            if tokens is None:
                encoded = dict(self.processor(text=[text], images=rgb or None, return_tensors="pt"))
                tokens = {k: v for k, v in encoded.items() if k in PreparedItem.TOKEN_KEYS}
                with self._tokens_lock:
                    self._tokens[(text, grids)] = tokens
                    if len(self._tokens) > self.TOKEN_CACHE_SIZE:
                        self._tokens.popitem(last=False)
                return PreparedItem(encoded)
        except Exception as exc:
            raise ModelError(f"could not prepare the prompt {question[:60]!r} for the model: {exc}") from exc
        return PreparedItem({**tokens, **patches})


class Generator(Preparer):
    """Wraps a model + processor; `generate` returns the assistant text with the answer tags kept."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        max_new_tokens: int = 160,
        device: str = "cpu",
    ) -> None:
        super().__init__(processor)
        self.model = model.to(device).eval()
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

    def generate(self, images: Sequence[Image.Image], question: str) -> str:
        """Greedy answer for one item (stops at <|im_end|>)."""
        return self.generate_batch([(list(images), question)])[0]

    def generate_batch(self, items: Sequence[tuple[Sequence[Image.Image], str]]) -> list[str]:
        """Greedy answers for several items in one left-padded batch."""
        return self.generate_with_counts(items)[0]

    def collate(self, prepared: Sequence[PreparedItem]) -> dict[str, torch.Tensor]:
        """Left-padded batch of prepared items: what the processor returns for the batch, on the device."""
        length = max(p.length for p in prepared)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.pad_token_id
        batch: dict[str, torch.Tensor] = {}
        for key in prepared[0].tensors:
            values = [p.tensors[key] for p in prepared if key in p.tensors]
            if key in PreparedItem.TOKEN_KEYS:
                fill = pad_id if key == "input_ids" else 0
                batch[key] = torch.cat(
                    [torch.nn.functional.pad(v, (length - v.shape[1], 0), value=fill) for v in values]
                )
            else:  # image patches and grids: one row per patch / image, concatenated in item order
                batch[key] = torch.cat(values)
        return {k: v.to(self.device) for k, v in batch.items()}

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
        prepared = [self.prepare(images, question) for images, question in items]
        return self.generate_prepared(prepared, max_new_tokens, temperature, stopping_criteria)

    @torch.inference_mode()
    def generate_prepared(
        self,
        prepared: Sequence[PreparedItem],
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        stopping_criteria: StoppingCriteriaList | None = None,
    ) -> tuple[list[str], list[int]]:
        """`generate_with_counts` for items already through `prepare`."""
        if not prepared:
            return [], []
        inputs = self.collate(prepared)
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
