"""v2 BYTES tensors, the OpenAI-compatible route, lineage headers and bad input, on the real server.

One server per module: the tiny checkpoint with a grounding bundle beside it, and the deployed
model version/alias in the environment as the InferenceService sets them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from pathreasoner.serve.grounding import BUNDLE_FILE
from pathreasoner.serve.lineage import MODEL_ALIAS_ENV, MODEL_VERSION_ENV
from pathreasoner.serve.openai_route import MAX_MESSAGES
from tests.serve.predictor_process import NAME, Served, predictor_server

MAX_IMAGE_BYTES = 200_000
MAX_REQUEST_BYTES = 600_000
BUNDLE = {
    "kg_version": "kg-http-1",
    "data_version": "md5-http",
    "entities": {"p63": {"id": "curated:p63", "type": "ihc_marker", "synonyms": []}},
    "edges": [],
}


def jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (190, 80, 150)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


B64 = base64.b64encode(jpeg()).decode()
DATA_URL = f"data:image/jpeg;base64,{B64}"


@pytest.fixture(scope="module")
def served(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    model_dir = tmp_path_factory.mktemp("grounded-model")
    for item in tiny_dir.iterdir():
        (model_dir / item.name).symlink_to(item)
    (model_dir / BUNDLE_FILE).write_text(json.dumps(BUNDLE))
    saved = {k: os.environ.get(k) for k in (MODEL_VERSION_ENV, MODEL_ALIAS_ENV)}
    os.environ.update({MODEL_VERSION_ENV: "7", MODEL_ALIAS_ENV: "champion"})
    try:
        with predictor_server(
            model_dir,
            tmp_path_factory.mktemp("work"),
            max_new_tokens=6,
            max_image_bytes=MAX_IMAGE_BYTES,
            max_request_bytes=MAX_REQUEST_BYTES,
            allow_cpu=True,
        ) as server:
            yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def v2_body(images: list[str], questions: list[str], views: int = 1, **extra: object) -> dict:
    shape = [len(questions), views] if views > 1 else [len(questions)]
    return {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": shape, "data": images},
            {"name": "question", "datatype": "BYTES", "shape": [len(questions)], "data": questions},
        ],
        **extra,
    }


def chat(content: object, **extra: object) -> dict:
    return {"model": NAME, "messages": [{"role": "user", "content": content}], "max_tokens": 4, **extra}


def image_part(url: str = DATA_URL) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def check_lineage(res: requests.Response, body_lineage: dict) -> None:
    assert body_lineage["model_version"] == "7" and body_lineage["model_alias"] == "champion"
    assert body_lineage["kg_version"] == "kg-http-1" and body_lineage["data_version"] == "md5-http"
    assert res.headers["X-PathReasoner-Model-Version"] == "7"
    assert res.headers["X-PathReasoner-Model-Alias"] == "champion"
    assert res.headers["X-PathReasoner-Kg-Version"] == "kg-http-1"
    assert res.headers["X-PathReasoner-Data-Version"] == "md5-http"
    assert (
        res.headers["X-PathReasoner-Request-Id"] == body_lineage["request_id"] == res.headers["x-request-id"]
    )


def test_v2_bytes_tensors_base64_with_views(served: Served) -> None:
    body = v2_body([B64, B64, B64, B64], ["Diagnosis?", "Grade?"], views=2, parameters={"max_new_tokens": 3})
    res = requests.post(f"{served.url}/v2/models/{NAME}/infer", json=body, timeout=120)
    assert res.status_code == 200, res.text
    outputs = {o["name"]: o for o in res.json()["outputs"]}
    assert outputs["answer"]["datatype"] == "BYTES" and outputs["answer"]["shape"] == [2]
    predictions = [json.loads(p) for p in outputs["prediction"]["data"]]
    assert len(predictions) == 2
    for prediction, answer in zip(predictions, outputs["answer"]["data"], strict=True):
        assert prediction["text"] and prediction["answer"] == answer
        assert "<" not in (prediction["answer"] or "") or prediction["well_formed"]
    check_lineage(res, predictions[0]["lineage"])


def _binary_v2(image: bytes, question: str) -> tuple[bytes, dict[str, str]]:
    """The v2 binary tensor extension: JSON header, then each BYTES element as <uint32 length><bytes>."""
    raw_image = struct.pack("<I", len(image)) + image
    raw_question = struct.pack("<I", len(question.encode())) + question.encode()
    header = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": len(raw_image)},
            },
            {
                "name": "question",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": len(raw_question)},
            },
        ]
    }
    head = json.dumps(header).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    return head + raw_image + raw_question, headers


def test_v2_raw_image_bytes_with_the_binary_extension(served: Served) -> None:
    data, headers = _binary_v2(jpeg(), "What is the diagnosis?")
    res = requests.post(f"{served.url}/v2/models/{NAME}/infer", data=data, headers=headers, timeout=120)
    assert res.status_code == 200, res.text
    outputs = {o["name"]: o for o in res.json()["outputs"]}
    assert json.loads(outputs["prediction"]["data"][0])["text"]


def test_v2_raw_bytes_that_are_not_an_image_name_the_element(served: Served) -> None:
    data, headers = _binary_v2(b"GIF89a not really", "Diagnosis?")
    res = requests.post(f"{served.url}/v2/models/{NAME}/infer", data=data, headers=headers, timeout=60)
    assert res.status_code == 400 and "inputs.image.data[0]" in res.json()["error"]


def test_v1_answer_carries_entities_and_lineage(served: Served) -> None:
    res = served.predict({"instances": [{"image": B64, "question": "Diagnosis?"}]})
    assert res.status_code == 200, res.text
    prediction = res.json()["predictions"][0]
    assert isinstance(prediction["entities"], list)
    if not prediction["well_formed"]:
        assert (prediction["observe"], prediction["think"], prediction["answer"]) == ("", "", "")
    check_lineage(res, prediction["lineage"])


def test_openai_chat_completion_contract(served: Served) -> None:
    body = chat([{"type": "text", "text": "What is the diagnosis?"}, image_part()], temperature=0)
    res = requests.post(f"{served.url}/openai/v1/chat/completions", json=body, timeout=120)
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["object"] == "chat.completion" and out["model"] == NAME and out["id"].startswith("chatcmpl-")
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    assert 1 <= out["usage"]["completion_tokens"] <= 8
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"]
    check_lineage(res, out["pathreasoner"]["lineage"])
    models = requests.get(f"{served.url}/openai/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [NAME]


def test_openai_python_client_works_unchanged(served: Served) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{served.url}/openai/v1", api_key="unused")
    out = client.chat.completions.create(
        model=NAME,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Diagnosis?"}, image_part()]}],
        max_tokens=3,
    )
    assert out.choices[0].message.content


OPENAI_BAD = [
    (
        chat([image_part("https://example.org/slide.jpg"), {"type": "text", "text": "q"}]),
        400,
        "image_url.url",
    ),
    (
        {"model": NAME, "messages": [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1)},
        400,
        "messages",
    ),
    (chat([image_part(), {"type": "text", "text": "q"}], model="gpt-4o"), 404, "model"),
    (chat("no image here"), 400, "messages[0].content"),
    (chat([image_part("data:image/jpeg;base64,@@@"), {"type": "text", "text": "q"}]), 400, "image_url.url"),
    (chat([image_part(), {"type": "text", "text": "q"}], max_tokens=10_000), 400, "max_tokens"),
    (chat([image_part(), {"type": "text", "text": "q"}], temperature=-1), 400, "temperature"),
    (chat([image_part(), {"type": "text", "text": "q"}], stream=True), 400, "stream"),
]


@pytest.mark.parametrize(("body", "status", "param"), OPENAI_BAD)
def test_openai_bad_requests_name_the_param(served: Served, body: dict, status: int, param: str) -> None:
    res = requests.post(f"{served.url}/openai/v1/chat/completions", json=body, timeout=60)
    assert res.status_code == status, res.text
    error = res.json()["error"]
    assert param in error["param"] and error["code"] == status and error["message"]
