"""Parse and validate serving requests; every problem is a RequestError naming the field and the fix.

Accepted bodies (KServe v1 protocol or a bare instance)::

    {"instances": [{"image": "<base64 JPEG/PNG>", "question": "..."}, ...]}
    {"image": "<base64 JPEG/PNG>", "question": "..."}

An instance may carry ``"images": [<base64>, ...]`` (several views, thumbnail first) instead of ``image``.
Base64 may be standard or URL-safe, with or without a ``data:image/...;base64,`` prefix.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from pathreasoner.config import ServingConfig
from pathreasoner.errors import RequestError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_ASPECT_RATIO = 200  # the Qwen2-VL image processor rejects longer/shorter ratios
INSTANCE_KEYS = ("image", "images", "question")
EXAMPLE = '{"instances": [{"image": "<base64 JPEG/PNG>", "question": "What is the diagnosis?"}]}'


@dataclass(frozen=True)
class Limits:
    """Request size limits (from ServingConfig)."""

    max_image_bytes: int = 20_000_000
    max_instances: int = 8
    max_images_per_instance: int = 4
    max_question_chars: int = 2000

    @classmethod
    def from_config(cls, cfg: ServingConfig) -> Limits:
        return cls(
            cfg.max_image_bytes, cfg.max_instances, cfg.max_images_per_instance, cfg.max_question_chars
        )


@dataclass(frozen=True)
class Instance:
    """One validated request item: decoded RGB images and the question."""

    images: list[Image.Image]
    question: str


def _b64_bytes(data: str, field: str, max_bytes: int) -> bytes:
    text = data.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise RequestError(
                f"{field}: data URI {header[:40]!r} is not base64; use 'data:image/jpeg;base64,<...>'"
            )
    text = "".join(text.split())
    if not text:
        raise RequestError(f"{field} is empty; send the JPEG/PNG file bytes base64-encoded")
    if len(text) * 3 // 4 > max_bytes + 2:
        raise RequestError(
            f"{field} is too big: about {len(text) * 3 // 4} bytes after decoding, limit {max_bytes} "
            "(serving.max_image_bytes); downscale or recompress the image"
        )
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        raw = base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(
            f"{field} is not valid base64 ({exc}); encode the file bytes, e.g. base64.b64encode(open(p,'rb').read()).decode()"
        ) from None
    if len(raw) > max_bytes:
        raise RequestError(
            f"{field} is too big: {len(raw)} bytes, limit {max_bytes} (serving.max_image_bytes); "
            "downscale or recompress the image"
        )
    return raw


def decode_image(data: Any, *, max_bytes: int = Limits.max_image_bytes, field: str = "image") -> Image.Image:
    """Base64 string -> RGB PIL image; RequestError when it is not a decodable JPEG/PNG/WEBP of sane shape."""
    if not isinstance(data, str):
        raise RequestError(
            f"{field} must be a base64 string, got {type(data).__name__}; send the image file bytes base64-encoded"
        )
    raw = _b64_bytes(data, field, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            fmt = img.format
            img.load()
    except UnidentifiedImageError:
        raise RequestError(
            f"{field} decodes to {len(raw)} bytes that are not an image file; send a {'/'.join(ALLOWED_FORMATS)} file"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RequestError(f"{field} has too many pixels ({exc}); downscale the image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RequestError(
            f"{field} is a truncated or corrupt image ({exc}); re-encode and resend it"
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise RequestError(f"{field} is a {fmt} image; send one of {', '.join(ALLOWED_FORMATS)}")
    width, height = img.size
    if min(width, height) < 1 or max(width, height) / min(width, height) >= MAX_ASPECT_RATIO:
        raise RequestError(
            f"{field} is {width}x{height} px: aspect ratio must be below {MAX_ASPECT_RATIO}; crop or pad the image"
        )
    return img if img.mode == "RGB" else img.convert("RGB")  # converting an RGB image only copies it


def validate_question(question: Any, field: str, limits: Limits) -> str:
    """The stripped question; RequestError when it is missing, not a string, empty or too long."""
    if not isinstance(question, str):
        raise RequestError(
            f"{field} is {'missing' if question is None else type(question).__name__}; "
            f"send a non-empty question string, e.g. {EXAMPLE}"
        )
    question = question.strip()
    if not question:
        raise RequestError(f"{field} is empty; send a non-empty question string")
    if len(question) > limits.max_question_chars:
        raise RequestError(
            f"{field} has {len(question)} characters, limit {limits.max_question_chars} "
            "(serving.max_question_chars); shorten it"
        )
    return question


def _parse_instance(item: Any, where: str, limits: Limits) -> Instance:
    if not isinstance(item, dict):
        raise RequestError(
            f"{where} must be a JSON object with 'image' and 'question', got {type(item).__name__}; "
            f"example: {EXAMPLE}"
        )
    unknown = sorted(set(item) - set(INSTANCE_KEYS))
    if unknown:
        raise RequestError(f"{where} has unknown field(s) {unknown}; allowed: {list(INSTANCE_KEYS)}")
    question = validate_question(item.get("question"), f"{where}.question", limits)
    if "image" in item and "images" in item:
        raise RequestError(f"{where} has both 'image' and 'images'; send one of them")
    if "images" in item:
        images = item["images"]
        if not isinstance(images, list) or not images:
            raise RequestError(f"{where}.images must be a non-empty list of base64 strings")
        if len(images) > limits.max_images_per_instance:
            raise RequestError(
                f"{where}.images has {len(images)} images, limit {limits.max_images_per_instance} "
                "(serving.max_images_per_instance); send fewer views"
            )
        decoded = [
            decode_image(d, max_bytes=limits.max_image_bytes, field=f"{where}.images[{j}]")
            for j, d in enumerate(images)
        ]
    elif "image" in item:
        decoded = [decode_image(item["image"], max_bytes=limits.max_image_bytes, field=f"{where}.image")]
    else:
        raise RequestError(f"{where}.image is missing; send the slide view base64-encoded, e.g. {EXAMPLE}")
    return Instance(decoded, question)


def parse_request(payload: Any, limits: Limits = Limits()) -> list[Instance]:
    """A decoded request body (dict, or raw JSON bytes/str) -> validated instances."""
    if isinstance(payload, bytes | bytearray | str):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(
                f"request body is not JSON ({exc}); send Content-Type: application/json and a body like {EXAMPLE}"
            ) from None
    if not isinstance(payload, dict):
        raise RequestError(
            f"request body must be a JSON object, got {type(payload).__name__}; example: {EXAMPLE}"
        )
    if "instances" in payload:
        extra = sorted(set(payload) - {"instances", "parameters"})
        if extra:
            raise RequestError(
                f"request has unknown top-level field(s) {extra} next to 'instances'; remove them"
            )
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError(f"'instances' must be a non-empty list of objects; example: {EXAMPLE}")
        if len(instances) > limits.max_instances:
            raise RequestError(
                f"request has {len(instances)} instances, limit {limits.max_instances} "
                "(serving.max_instances); split it into several requests"
            )
        return [_parse_instance(item, f"instances[{i}]", limits) for i, item in enumerate(instances)]
    if any(k in payload for k in INSTANCE_KEYS):  # a bare instance; its options may sit beside it
        bare = {k: v for k, v in payload.items() if k != "parameters"}
        return [_parse_instance(bare, "request", limits)]
    raise RequestError(
        f"request has neither 'instances' nor 'image'/'question' (got keys {sorted(payload)[:10]}); "
        f"send {EXAMPLE}"
    )
