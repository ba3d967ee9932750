"""Open inference (v2) protocol: BYTES tensors in, one JSON answer per instance out.

``POST /v2/models/<name>/infer`` with two BYTES inputs of the same batch size ``n``::

    {"inputs": [
      {"name": "image",    "datatype": "BYTES", "shape": [n],    "data": ["<base64 JPEG/PNG>", ...]},
      {"name": "question", "datatype": "BYTES", "shape": [n],    "data": ["What is the diagnosis?", ...]}],
     "parameters": {"max_new_tokens": 64}}

``image`` may have shape ``[n, k]`` (k views per instance, thumbnail first, row-major ``data``), and may be
sent as raw file bytes with the binary tensor extension (``Inference-Header-Content-Length``). The
response has a BYTES output ``answer`` (the answer text) and a BYTES output ``prediction`` (the full
JSON answer: observe, think, answer, well_formed, entities, lineage) per instance.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from pathreasoner.errors import RequestError
from pathreasoner.serve.kserve_compat import InferOutput, InferRequest, InferResponse
from pathreasoner.serve.request import Instance, Limits, decode_image, validate_question

INPUT_NAMES = ("image", "question")
V2_PROTOCOL_PARAMETERS = ("binary_data_output", "binary_data", "binary_data_size")
EXAMPLE_V2 = (
    '{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["<base64 JPEG/PNG>"]}, '
    '{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["What is the diagnosis?"]}]}'
)


def _elements(tensor: Any, field: str) -> list[Any]:
    """The flat elements of a BYTES input (JSON data or binary extension)."""
    if tensor.datatype != "BYTES":
        raise RequestError(f"{field} has datatype {tensor.datatype}; send it as BYTES, e.g. {EXAMPLE_V2}")
    if tensor._raw_data is not None:
        try:
            return [bytes(x) for x in tensor.as_numpy().reshape(-1)]
        except Exception as exc:  # numpy/struct errors on a truncated binary tensor
            raise RequestError(
                f"{field}: binary BYTES tensor is malformed ({exc}); check its length prefix"
            ) from None
    data = tensor.data
    if isinstance(data, list) and data and isinstance(data[0], list):
        data = [x for row in data for x in row]
    if not isinstance(data, list) or not data:
        raise RequestError(f"{field}.data must be a non-empty list of strings; e.g. {EXAMPLE_V2}")
    return data


def _shape(tensor: Any, field: str) -> list[int]:
    shape = list(tensor.shape or [])
    if not shape or len(shape) > 2 or any(not isinstance(d, int) or d < 1 for d in shape):
        raise RequestError(f"{field}.shape {shape} must be [n] or [n, views] with positive sizes")
    return shape


def _image(element: Any, field: str, limits: Limits) -> Any:
    if isinstance(element, bytes | bytearray):
        if len(element) > limits.max_image_bytes:
            raise RequestError(
                f"{field} is too big: {len(element)} bytes, limit {limits.max_image_bytes} "
                "(serving.max_image_bytes); downscale or recompress the image"
            )
        element = base64.b64encode(element).decode()
    return decode_image(element, max_bytes=limits.max_image_bytes, field=field)


def _question(element: Any, field: str, limits: Limits) -> str:
    if isinstance(element, bytes | bytearray):
        try:
            element = bytes(element).decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"{field} is not UTF-8 text; send the question as a UTF-8 string") from None
    return validate_question(element, field, limits)


def parse_v2(request: InferRequest, limits: Limits) -> list[Instance]:
    """A v2 InferRequest -> validated instances; RequestError naming the input and the fix."""
    by_name = {t.name: t for t in request.inputs}
    unknown = sorted(set(by_name) - set(INPUT_NAMES))
    if unknown:
        raise RequestError(
            f"inputs {unknown} are unknown; send exactly {list(INPUT_NAMES)}, e.g. {EXAMPLE_V2}"
        )
    for name in INPUT_NAMES:
        if name not in by_name:
            raise RequestError(f"input {name!r} is missing; e.g. {EXAMPLE_V2}")
    image_shape = _shape(by_name["image"], "inputs.image")
    question_shape = _shape(by_name["question"], "inputs.question")
    n = image_shape[0]
    views = image_shape[1] if len(image_shape) == 2 else 1
    if question_shape != [n]:
        raise RequestError(
            f"inputs.question.shape {question_shape} must be [{n}] (one question per image row)"
        )
    if n > limits.max_instances:
        raise RequestError(
            f"inputs.image has {n} instances, limit {limits.max_instances} (serving.max_instances); split the request"
        )
    if views > limits.max_images_per_instance:
        raise RequestError(
            f"inputs.image has {views} views per instance, limit {limits.max_images_per_instance} "
            "(serving.max_images_per_instance); send fewer views"
        )
    images = _elements(by_name["image"], "inputs.image")
    questions = _elements(by_name["question"], "inputs.question")
    if len(images) != n * views or len(questions) != n:
        raise RequestError(
            f"inputs.image has {len(images)} elements for shape {image_shape} and inputs.question "
            f"{len(questions)} for shape {question_shape}; data length must equal the product of the shape"
        )
    return [
        Instance(
            [
                _image(images[i * views + j], f"inputs.image.data[{i * views + j}]", limits)
                for j in range(views)
            ],
            _question(questions[i], f"inputs.question.data[{i}]", limits),
        )
        for i in range(n)
    ]


def binary_to_json(body: bytes, json_length: int) -> bytes:
    """A v2 request in the binary tensor extension -> the same request as plain JSON.

    kserve 0.21 decodes binary BYTES elements as UTF-8 text, which fails (HTTP 500) on image bytes; here
    each ``image`` element becomes base64 text and every other element UTF-8 text before kserve sees it.
    Raises RequestError naming the input when the header or an element's length prefix is malformed.
    """
    try:
        header = json.loads(body[:json_length])
        inputs = header["inputs"]
        if not isinstance(inputs, list):
            raise TypeError("'inputs' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestError(
            f"Inference-Header-Content-Length {json_length}: the first {json_length} bytes are not a v2 JSON "
            f"header with 'inputs' ({exc}); set it to the length of the JSON part"
        ) from None
    offset = json_length
    for tensor in inputs:
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(params, dict) or "binary_data_size" not in params:
            continue
        name = str(tensor.get("name"))
        size = params.pop("binary_data_size")
        if not isinstance(size, int) or size < 0 or offset + size > len(body):
            raise RequestError(f"inputs.{name}: binary_data_size {size!r} runs past the end of the body")
        if tensor.get("datatype") != "BYTES":
            raise RequestError(f"inputs.{name} has datatype {tensor.get('datatype')}; send it as BYTES")
        raw, offset = body[offset : offset + size], offset + size
        elements, pos = [], 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise RequestError(f"inputs.{name}: truncated 4-byte length prefix at byte {pos}")
            (length,) = struct.unpack_from("<I", raw, pos)
            element = raw[pos + 4 : pos + 4 + length]
            if len(element) != length:
                raise RequestError(f"inputs.{name}: element at byte {pos} is shorter than its length prefix")
            pos += 4 + length
            if name == "image":
                elements.append(base64.b64encode(element).decode())
            else:
                try:
                    elements.append(element.decode("utf-8"))
                except UnicodeDecodeError:
                    raise RequestError(f"inputs.{name}.data[{len(elements)}] is not UTF-8 text") from None
        tensor["data"] = elements
    return json.dumps(header).encode()


def v2_parameters(request: InferRequest) -> dict[str, Any] | None:
    """The request's generation parameters, without the v2 protocol's own keys (binary_data_output)."""
    params = request.parameters
    if params is None:
        return None
    if hasattr(params, "model_dump"):
        params = params.model_dump(exclude_none=True)
    if not isinstance(params, dict):
        raise RequestError("parameters must be a JSON object like {'max_new_tokens': 64}")
    params = {k: v for k, v in params.items() if k not in V2_PROTOCOL_PARAMETERS}
    return params or None


def v2_response(request: InferRequest, model_name: str, predictions: list[dict[str, Any]]) -> InferResponse:
    """BYTES outputs `answer` and `prediction` (JSON), one element per instance."""
    n = len(predictions)
    outputs = [
        InferOutput("answer", [n], "BYTES", [p["answer"] or "" for p in predictions]),
        InferOutput("prediction", [n], "BYTES", [json.dumps(p) for p in predictions]),
    ]
    request_id = predictions[0]["lineage"]["request_id"] if predictions else (request.id or "")
    return InferResponse(request_id, model_name, outputs)
