"""The one prompt layout shared by SFT, GRPO, evaluation and serving."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pathreasoner.response import SYSTEM_PROMPT


def build_messages(
    images: Sequence[Any] | int,
    question: str,
    response: str | None = None,
    response_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """system(SYSTEM_PROMPT) + user(image placeholders…, question) [+ assistant(response)].

    `images` is the list of images (only its length is used: the placeholders `{"type": "image"}` are
    filled by the processor / TRL from a separate `images` list) or a count. A `response_prefix` is a
    teacher-forced start of the response that is shown but never trained (trajectory masking); the
    assistant `content` is then the rest of the response.
    """
    n_images = images if isinstance(images, int) else len(images)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {
            "role": "user",
            "content": [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": question}],
        },
    ]
    if response is not None:
        assistant: dict[str, Any] = {"role": "assistant", "content": [{"type": "text", "text": response}]}
        if response_prefix:
            assistant["prefix"] = response_prefix
        messages.append(assistant)
    return messages
