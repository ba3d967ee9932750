"""Bad input against the running server on 127.0.0.1: every case a 4xx JSON naming the field, never a 5xx.

The named cases cover each kind of bad input of issue 11; the hypothesis properties then throw
generated bodies (arbitrary JSON, mutated valid requests, random bytes) at the v1, v2 and OpenAI routes.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.serve.predictor_process import NAME, Served, predictor_server

MAX_IMAGE_BYTES = 200_000
MAX_REQUEST_BYTES = 400_000


def encoded(img: Image.Image, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


B64 = encoded(Image.new("RGB", (40, 30), (200, 90, 160)))


def bomb_png() -> str:
    """A 1-bit PNG of 20000 x 20000 px: a few kB on the wire, 400 M pixels decoded."""
    return encoded(Image.new("1", (20_000, 20_000)), "PNG")


@pytest.fixture(scope="module")
def served(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with predictor_server(
        tiny_dir,
        tmp_path_factory.mktemp("fuzz-work"),
        max_new_tokens=2,
        max_image_bytes=MAX_IMAGE_BYTES,
        max_request_bytes=MAX_REQUEST_BYTES,
        allow_cpu=True,
    ) as server:
        yield server


def v1(served: Served) -> str:
    return f"{served.url}/v1/models/{NAME}:predict"


def v2(served: Served, name: str = NAME) -> str:
    return f"{served.url}/v2/models/{name}/infer"


def chat_url(served: Served) -> str:
    return f"{served.url}/openai/v1/chat/completions"


def v2_body(image: object, question: object = "Diagnosis?") -> dict:
    return {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "data": [image]},
            {"name": "question", "datatype": "BYTES", "shape": [1], "data": [question]},
        ]
    }


def chat(url: str, **extra: object) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Diagnosis?"}]
    return {"model": NAME, "messages": [{"role": "user", "content": parts}], **extra}


def error_text(res: requests.Response) -> str:
    """The whole JSON error body as text (message, field/param); fails when it is not JSON."""
    assert res.headers["content-type"].startswith("application/json"), res.text[:300]
    return json.dumps(res.json())


# (route, body bytes or JSON, content type, status, text that names the field)
CASES = {
    "malformed JSON": ("v1", b'{"instances": [', "application/json", 400, "body"),
    "malformed JSON v2": ("v2", b'{"inputs": [', "application/json", 400, "body"),
    "malformed JSON openai": ("openai", b"{nope", "application/json", 400, "body"),
    "wrong content type": ("v1", b"image=abc", "application/x-www-form-urlencoded", 415, "Content-Type"),
    "wrong content type openai": ("openai", b"hi", "text/plain", 415, "Content-Type"),
    "invalid base64 v1": ("v1", {"image": "not base64 !!", "question": "q"}, None, 400, "request.image"),
    "invalid base64 v2": ("v2", v2_body("@@notbase64@@"), None, 400, "inputs.image.data[0]"),
    "unsupported image type": (
        "v1",
        {"image": encoded(Image.new("RGB", (20, 20)), "GIF"), "question": "q"},
        None,
        400,
        "request.image",
    ),
    "decompression bomb": ("v1", {"image": bomb_png(), "question": "q"}, None, 400, "too many pixels"),
    "decompression bomb v2": ("v2", v2_body(bomb_png()), None, 400, "inputs.image.data[0]"),
    "image over the byte cap": (
        "v1",
        {"image": "A" * 280_000, "question": "q"},
        None,
        400,
        "max_image_bytes",
    ),
    "payload over the size cap": (
        "v1",
        {"instances": [{"image": "A" * 250_000, "question": "q"}] * 2},
        None,
        413,
        "max_request_bytes",
    ),
    "options out of bounds v1": (
        "v1",
        {"instances": [{"image": B64, "question": "q"}], "parameters": {"max_new_tokens": 10_000}},
        None,
        400,
        "parameters.max_new_tokens",
    ),
    "options out of bounds v2": (
        "v2",
        {**v2_body(B64), "parameters": {"temperature": 99}},
        None,
        400,
        "parameters.temperature",
    ),
    "unknown model v1": ("v1-unknown", {"image": B64, "question": "q"}, None, 404, "does not exist"),
    "unknown model v2": ("v2-unknown", v2_body(B64), None, 404, "does not exist"),
    "unknown model openai": (
        "openai",
        {**chat("data:image/jpeg;base64," + B64), "model": "x"},
        None,
        404,
        "model",
    ),
    "openai remote image URL": ("openai", chat("http://10.0.0.1/a.jpg"), None, 400, "image_url.url"),
    "openai too many messages": (
        "openai",
        {"model": NAME, "messages": [{"role": "user", "content": "q"}] * 100},
        None,
        400,
        "messages",
    ),
    "v2 body not an InferenceRequest": ("v2", {"inputs": "x"}, None, 422, "inputs"),
}


def post(served: Served, route: str, body: object, content_type: str | None) -> requests.Response:
    url = {
        "v1": v1(served),
        "v1-unknown": f"{served.url}/v1/models/nope:predict",
        "v2": v2(served),
        "v2-unknown": v2(served, "nope"),
        "openai": chat_url(served),
    }[route]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        url, data=data, headers={"Content-Type": content_type or "application/json"}, timeout=60
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_4xx_json_naming_the_field(served: Served, case: str) -> None:
    route, body, content_type, status, names = CASES[case]
    res = post(served, route, body, content_type)
    assert res.status_code == status, res.text[:500]
    assert names in error_text(res)


def test_chunked_body_over_the_cap_is_a_413(served: Served) -> None:
    chunks = (b"x" * 100_000 for _ in range(6))  # no Content-Length: the guard counts while reading
    res = requests.post(v1(served), data=chunks, headers={"Content-Type": "application/json"}, timeout=60)
    assert res.status_code == 413 and "max_request_bytes" in error_text(res)


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# values that look like the real fields, so the fuzzer reaches the validators behind the parsers
field_values = st.one_of(
    json_values,
    st.just(B64),
    st.just("data:image/png;base64," + B64),
    st.text(alphabet="ABCDEFabcdef0123456789+/=", max_size=60),
    st.integers(min_value=-(10**12), max_value=10**12),
)


def assert_not_5xx(res: requests.Response) -> None:
    assert res.status_code < 500, res.text[:500]
    if res.status_code >= 400:
        assert error_text(res)


@FUZZ
@given(body=json_values)
def test_fuzz_arbitrary_json_on_every_route(served: Served, body: object) -> None:
    for route in ("v1", "v2", "openai"):
        assert_not_5xx(post(served, route, body, None))


@FUZZ
@given(
    image=field_values,
    question=field_values,
    parameters=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["max_new_tokens", "temperature", "x"]), field_values)
    ),
    shape=st.lists(st.integers(min_value=-2, max_value=3), max_size=3),
)
def test_fuzz_mutated_v1_and_v2_requests(
    served: Served, image: object, question: object, parameters: object, shape: list[int]
) -> None:
    body_v1: dict = {"instances": [{"image": image, "question": question}]}
    if parameters is not None:
        body_v1["parameters"] = parameters
    assert_not_5xx(post(served, "v1", body_v1, None))
    body_v2 = v2_body(image, question)
    body_v2["inputs"][0]["shape"] = shape
    if parameters is not None:
        body_v2["parameters"] = parameters
    assert_not_5xx(post(served, "v2", body_v2, None))


@FUZZ
@given(
    url=field_values,
    role=st.sampled_from(["user", "system", "assistant", "tool", 3]),
    extra=st.dictionaries(
        st.sampled_from(["max_tokens", "temperature", "n", "stream", "messages"]), field_values
    ),
)
def test_fuzz_openai_requests(served: Served, url: object, role: object, extra: dict) -> None:
    body = chat(url if isinstance(url, str) else "", **extra)
    if "messages" not in extra:
        body["messages"][0]["role"] = role
    assert_not_5xx(post(served, "openai", body, None))


@FUZZ
@given(data=st.binary(max_size=200), header_length=st.integers(min_value=-5, max_value=250))
def test_fuzz_v2_binary_extension_bytes(served: Served, data: bytes, header_length: int) -> None:
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(header_length),
    }
    assert_not_5xx(requests.post(v2(served), data=data, headers=headers, timeout=60))
