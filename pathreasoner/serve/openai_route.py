"""OpenAI-compatible ``/openai/v1/chat/completions`` and ``/openai/v1/models`` on the predictor's app.

kserve 0.21's own OpenAI model classes import vLLM, so the predictor serves the route itself, with the
request/response contract of vLLM's server (the KServe Hugging Face runtime): the same path, the model
named by ``serving.model_name``, image parts as ``data:image/...;base64,`` URLs. A client written for
one works against the other unchanged. The assistant ``content`` is the raw generation (as vLLM
returns it); the extra ``pathreasoner`` object carries observe/think/answer, entities and lineage.
Remote image URLs are refused (the predictor fetches nothing), as are more than ``MAX_MESSAGES``
messages, ``stream: true`` and ``n > 1``. Errors use the OpenAI error shape with ``param`` naming the field.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pathreasoner.errors import RequestError
from pathreasoner.serve.answer import answer_instances
from pathreasoner.serve.lineage import lineage_headers
from pathreasoner.serve.metrics import record_error
from pathreasoner.serve.request import Instance, decode_image, validate_question

logger = logging.getLogger(__name__)

PREFIX = "/openai/v1"
MAX_MESSAGES = 32
ROLES = ("system", "user", "assistant")


class OpenAIRequestError(RequestError):
    """A bad chat request; `param` is the offending field and `status` the HTTP code."""

    def __init__(self, message: str, param: str, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


def _error(exc: OpenAIRequestError) -> JSONResponse:
    record_error("model_not_found" if exc.status == 404 else "invalid_input")
    logger.warning("POST %s/chat/completions -> %d: %s", PREFIX, exc.status, exc)
    kind = "NotFoundError" if exc.status == 404 else "BadRequestError"
    body = {"error": {"message": str(exc), "type": kind, "param": exc.param, "code": exc.status}}
    return JSONResponse(body, status_code=exc.status)


def _user_parts(content: Any, where: str, model: Any) -> tuple[list[Any], list[str]]:
    """Images and text pieces of one user message."""
    if isinstance(content, str):
        return [], [content]
    if not isinstance(content, list):
        raise OpenAIRequestError(f"{where} must be a string or a list of content parts", where)
    images, texts = [], []
    for j, part in enumerate(content):
        field = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            image_url = part.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else image_url
            if not isinstance(url, str):
                raise OpenAIRequestError(
                    f"{field}.image_url.url must be a data URL string", f"{field}.image_url.url"
                )
            if not url.startswith("data:"):
                raise OpenAIRequestError(
                    f"{field}.image_url.url is a remote URL ({url[:60]!r}); remote images are not fetched, "
                    "send 'data:image/jpeg;base64,<...>'",
                    f"{field}.image_url.url",
                )
            try:
                images.append(
                    decode_image(url, max_bytes=model.limits.max_image_bytes, field=f"{field}.image_url.url")
                )
            except RequestError as exc:
                raise OpenAIRequestError(str(exc), f"{field}.image_url.url") from None
        else:
            raise OpenAIRequestError(
                f"{field} must be {{'type': 'text', 'text': ...}} or {{'type': 'image_url', 'image_url': "
                "{'url': 'data:image/jpeg;base64,...'}}",
                field,
            )
    return images, texts


def parse_chat(body: Any, model: Any) -> tuple[Instance, dict[str, Any]]:
    """A chat completion request -> one instance (the last user turn) and the generation parameters."""
    if not isinstance(body, dict):
        raise OpenAIRequestError("the body must be a JSON object with 'model' and 'messages'", "body")
    name = body.get("model")
    if name != model.name:
        raise OpenAIRequestError(
            f"The model `{name}` does not exist; this server serves `{model.name}`", "model", 404
        )
    if body.get("stream"):
        raise OpenAIRequestError("stream: true is not supported; send stream: false", "stream")
    if body.get("n", 1) != 1:
        raise OpenAIRequestError("n must be 1", "n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIRequestError("messages must be a non-empty list", "messages")
    if len(messages) > MAX_MESSAGES:
        raise OpenAIRequestError(
            f"messages has {len(messages)} entries, limit {MAX_MESSAGES}; send only the current turn",
            "messages",
        )
    last_user = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise OpenAIRequestError(
                f"messages[{i}].role must be one of {list(ROLES)}", f"messages[{i}].role"
            )
        if message["role"] == "user":
            last_user = i
    if last_user is None:
        raise OpenAIRequestError("messages has no user message", "messages")
    where = f"messages[{last_user}].content"
    images, texts = _user_parts(messages[last_user].get("content"), where, model)
    if not images:
        raise OpenAIRequestError(f"{where} has no image_url part; send the slide view as a data URL", where)
    if len(images) > model.limits.max_images_per_instance:
        raise OpenAIRequestError(
            f"{where} has {len(images)} images, limit {model.limits.max_images_per_instance}", where
        )
    try:
        question = validate_question(" ".join(t.strip() for t in texts), f"{where} text", model.limits)
    except RequestError as exc:
        raise OpenAIRequestError(str(exc), where) from None
    parameters = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        parameters["max_new_tokens"] = max_tokens
    if body.get("temperature") is not None:
        parameters["temperature"] = body["temperature"]
    return Instance(images, question), parameters


def _usage(model: Any, question: str, text: str) -> dict[str, int]:
    tokenizer = getattr(getattr(model.generator, "processor", None), "tokenizer", None)
    if tokenizer is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    prompt = len(tokenizer(question).input_ids)
    completion = len(tokenizer(text).input_ids)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def register_openai_routes(app: FastAPI, model: Any) -> None:
    """Add the chat-completions and models routes for `model` (a loaded PathReasonerModel) to `app`."""

    @app.get(f"{PREFIX}/models")
    async def list_models() -> dict[str, Any]:
        card = {"id": model.name, "object": "model", "created": 0, "owned_by": "pathreasoner"}
        return {"object": "list", "data": [card]}

    @app.post(f"{PREFIX}/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        try:
            try:
                body = json.loads(await request.body())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise OpenAIRequestError(f"the body is not JSON ({exc})", "body") from None
            instance, parameters = parse_chat(body, model)
            prediction, lineage = await answer_instances(model, [instance], parameters, request.headers)
        except OpenAIRequestError as exc:
            return _error(exc)
        except RequestError as exc:
            field = "max_tokens" if "max_new_tokens" in str(exc) else "temperature"
            return _error(OpenAIRequestError(str(exc), field))
        answer = prediction[0]
        content = {
            "id": f"chatcmpl-{lineage['request_id']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["text"]},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(model, instance.question, answer["text"]),
            "pathreasoner": {k: v for k, v in answer.items() if k != "text"},
        }
        return JSONResponse(content, headers=lineage_headers(lineage))
