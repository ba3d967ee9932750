"""A small HTTP client for the served model (KServe v1 protocol)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import requests

from pathreasoner.errors import RequestError, ServingError


def encode_image(path: Path) -> str:
    """Base64 text of an image file, as the predictor expects in `image`."""
    try:
        return base64.b64encode(Path(path).read_bytes()).decode("ascii")
    except OSError as exc:
        raise RequestError(
            f"cannot read image {path}: {exc.strerror}; pass an existing JPEG/PNG file"
        ) from None


def wait_until_ready(url: str, model_name: str, timeout_s: float = 120.0, proc: Any = None) -> float:
    """Poll `GET /v1/models/<name>` until the model is ready; returns seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise ServingError(f"the server process exited with status {proc.returncode} before it was ready")
        try:
            reply = requests.get(f"{url}/v1/models/{model_name}", timeout=2)
            if reply.status_code == 200 and reply.json().get("ready"):
                return time.perf_counter() - start
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise ServingError(
        f"model '{model_name}' at {url} was not ready after {timeout_s:.0f} s; check the server log"
    )


def ask(
    url: str, model_name: str, images: Path | list[Path], question: str, timeout_s: float = 300.0
) -> dict[str, Any]:
    """POST one instance and return the parsed prediction (text/observe/think/answer).

    One image is sent as `image`; several views of a slide (thumbnail first) as `images`.
    """
    paths = [images] if isinstance(images, Path | str) else list(images)
    if len(paths) == 1:
        instance: dict[str, Any] = {"image": encode_image(paths[0]), "question": question}
    else:
        instance = {"images": [encode_image(p) for p in paths], "question": question}
    payload = {"instances": [instance]}
    try:
        reply = requests.post(
            f"{url}/v1/models/{model_name}:predict",
            json=payload,
            headers={"Content-Type": "application/json"},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise ServingError(f"cannot reach {url}: {exc}; is `pathreasoner serve` running?") from None
    if reply.status_code != 200:
        raise RequestError(f"server answered HTTP {reply.status_code}: {reply.text[:500]}")
    return reply.json()["predictions"][0]


def format_answer(prediction: dict[str, Any]) -> str:
    """Human-readable rendering of one parsed prediction."""
    lines = []
    for key in ("observe", "think", "answer"):
        value = prediction.get(key)
        lines.append(f"{key:>8}: {value if value is not None else '(missing)'}")
    lines.append(f"well-formed: {prediction.get('well_formed')}")
    if prediction.get("well_formed") is False and prediction.get("text"):
        lines.append(f"raw text: {prediction['text'][:300]}")
    for entity in prediction.get("entities") or []:
        mark = "grounded" if entity.get("grounded") else f"UNGROUNDED ({entity.get('reason')})"
        lines.append(
            f"  entity [{entity.get('section')}] {entity.get('name')} {entity.get('kg_id') or '-'}: {mark}"
        )
    lineage = prediction.get("lineage")
    if lineage:
        lines.append("lineage: " + ", ".join(f"{k}={v}" for k, v in lineage.items()))
    return "\n".join(lines)
