"""The MLflow pyfunc wrapper: a checkpoint artifact + the shared Generator.

Input: a pandas DataFrame (or list of dicts) with columns ``image`` (base64 JPEG/PNG) and
``question``. Output: one ``{text, observe, think, answer}`` dict per row.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from pathreasoner.response import parse_response

logger = logging.getLogger(__name__)

CHECKPOINT_ARTIFACT = "checkpoint"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "image"), ColSpec("string", "question")]),
    outputs=Schema(
        [
            ColSpec("string", "text"),
            ColSpec("string", "observe"),
            ColSpec("string", "think"),
            ColSpec("string", "answer"),
        ]
    ),
)


def _rows(model_input: Any) -> list[dict[str, Any]]:
    if isinstance(model_input, pd.DataFrame):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    return list(model_input)


class PathReasonerPyfunc(mlflow.pyfunc.PythonModel):
    """Loads ``artifacts/checkpoint`` with the Generator; predicts observe/think/answer for image + question."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from pathreasoner.model.inference import Generator

        max_new_tokens = int((context.model_config or {}).get("max_new_tokens", 160))
        path = Path(context.artifacts[CHECKPOINT_ARTIFACT])
        self.generator = Generator.from_checkpoint(path, max_new_tokens=max_new_tokens)
        logger.info("pyfunc loaded checkpoint %s", path)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, str | None]]:
        from pathreasoner.serve.request import decode_image

        items = []
        for i, row in enumerate(_rows(model_input)):
            question = str(row.get("question") or "").strip()
            if not question:
                raise ValueError(f"row {i}: 'question' is empty; pass a non-empty question string")
            items.append(([decode_image(str(row.get("image") or ""), field=f"row {i} image")], question))
        texts = self.generator.generate_batch(items)
        out = []
        for text in texts:
            parsed = parse_response(text)
            out.append(
                {"text": text, "observe": parsed.observe, "think": parsed.think, "answer": parsed.answer}
            )
        return out
