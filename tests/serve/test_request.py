"""Request parsing: accepted shapes and one clear RequestError per kind of malformed input."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from pathreasoner.errors import RequestError
from pathreasoner.serve.request import Limits, decode_image, parse_request


def encode(img: Image.Image, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


JPEG = encode(Image.new("RGB", (80, 60), (190, 80, 150)))
PNG = encode(Image.new("RGB", (40, 30), (10, 200, 30)), "PNG")


def test_v1_instances_and_bare_instance() -> None:
    many = parse_request(
        {"instances": [{"image": JPEG, "question": " Grade? "}, {"images": [JPEG, PNG], "question": "Q"}]}
    )
    assert [len(i.images) for i in many] == [1, 2]
    assert many[0].question == "Grade?"
    assert many[0].images[0].size == (80, 60) and many[0].images[0].mode == "RGB"
    assert many[1].images[1].size == (40, 30)
    bare = parse_request({"image": PNG, "question": "What is the diagnosis?"})
    assert len(bare) == 1 and bare[0].images[0].size == (40, 30)
    raw = parse_request(
        json.dumps({"image": JPEG, "question": "q"}).encode()
    )  # body sent without JSON content type
    assert raw[0].question == "q"


def test_image_encodings_accepted() -> None:
    assert decode_image(f"data:image/png;base64,{PNG}").size == (40, 30)
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(JPEG)).decode()
    assert decode_image(urlsafe).size == (80, 60)
    wrapped = "\n".join(JPEG[i : i + 76] for i in range(0, len(JPEG), 76))  # MIME line breaks
    assert decode_image(wrapped).size == (80, 60)


def _gif() -> str:
    return encode(Image.new("P", (20, 20)), "GIF")


def _truncated_jpeg() -> str:
    raw = base64.b64decode(encode(Image.effect_noise((256, 256), 64).convert("RGB")))
    return base64.b64encode(raw[: len(raw) // 2]).decode()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"image": JPEG}, r"request\.question is missing; send a non-empty question"),
        ({"image": JPEG, "question": "   "}, r"request\.question is empty"),
        ({"image": JPEG, "question": 42}, r"request\.question is int"),
        ({"question": "q"}, r"request\.image is missing"),
        ({"image": "", "question": "q"}, r"request\.image is empty"),
        ({"image": "@@not base64@@", "question": "q"}, r"request\.image is not valid base64"),
        ({"image": "YWJ", "question": "q"}, r"not valid base64 \(Incorrect padding\)"),
        (
            {"image": base64.b64encode(b"hello world").decode(), "question": "q"},
            r"not an image file; send a JPEG/PNG/WEBP",
        ),
        ({"image": _gif(), "question": "q"}, r"is a GIF image; send one of JPEG, PNG, WEBP"),
        ({"image": _truncated_jpeg(), "question": "q"}, r"truncated or corrupt image"),
        (
            {"image": encode(Image.new("RGB", (400, 1))), "question": "q"},
            r"400x1 px: aspect ratio must be below 200",
        ),
        ({"image": ["x"], "question": "q"}, r"request\.image must be a base64 string, got list"),
        ({"image": JPEG, "images": [JPEG], "question": "q"}, r"both 'image' and 'images'"),
        ({"images": [], "question": "q"}, r"images must be a non-empty list"),
        ({"image": JPEG, "question": "q", "qestion": "typo"}, r"unknown field\(s\) \['qestion'\]"),
        ({"instances": "nope"}, r"'instances' must be a non-empty list"),
        ({"instances": []}, r"'instances' must be a non-empty list"),
        ({"instances": ["x"]}, r"instances\[0\] must be a JSON object"),
        (
            {"instances": [{"image": JPEG, "question": "q"}], "extra": 1},
            r"unknown top-level field\(s\) \['extra'\]",
        ),
        (
            {"instances": [{"image": JPEG, "question": "q"}, {"image": JPEG}]},
            r"instances\[1\]\.question is missing",
        ),
        ({"data": 1}, r"neither 'instances' nor 'image'/'question'"),
        ([1, 2], r"must be a JSON object, got list"),
        (None, r"must be a JSON object, got NoneType"),
        (b"\xff\xfe not json", r"request body is not JSON.*Content-Type: application/json"),
    ],
)
def test_malformed_requests_name_problem_and_fix(payload: object, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        parse_request(payload)


def test_limits() -> None:
    limits = Limits(max_image_bytes=1000, max_instances=2, max_images_per_instance=1, max_question_chars=5)
    big = encode(Image.effect_noise((64, 64), 64).convert("RGB"))
    with pytest.raises(RequestError, match=r"too big: .* limit 1000 \(serving.max_image_bytes\)"):
        parse_request({"image": big, "question": "q"}, limits)
    small = encode(Image.new("RGB", (8, 8)))
    assert len(base64.b64decode(small)) < 1000
    with pytest.raises(RequestError, match=r"3 instances, limit 2 \(serving.max_instances\)"):
        parse_request({"instances": [{"image": small, "question": "q"}] * 3}, limits)
    with pytest.raises(RequestError, match=r"2 images, limit 1"):
        parse_request({"images": [small, small], "question": "q"}, limits)
    with pytest.raises(RequestError, match=r"6 characters, limit 5 \(serving.max_question_chars\)"):
        parse_request({"image": small, "question": "abcdef"}, limits)


def test_decompression_bomb_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    buf = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buf, "PNG")
    with pytest.raises(RequestError, match="too many pixels"):
        decode_image(base64.b64encode(buf.getvalue()).decode())
