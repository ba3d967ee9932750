"""Turn generated texts into the answers every protocol returns: parts, entities, lineage.

A malformed generation (the three tags missing, out of order or unclosed) is returned with
``well_formed: false`` and empty ``observe``/``think``/``answer``: raw tags never reach ``answer``;
the raw generation stays in ``text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathreasoner.response import ParsedResponse, parse_response
from pathreasoner.serve.grounding import GroundingKB
from pathreasoner.serve.lineage import request_id
from pathreasoner.serve.request import Instance


def shape_prediction(text: str, kb: GroundingKB | None, lineage: dict[str, str]) -> dict[str, Any]:
    """One answer: text, observe/think/answer (empty when malformed), well_formed, entities, lineage."""
    parsed = parse_response(text)
    if not parsed.well_formed:
        parsed = ParsedResponse(text, "", "", "", well_formed=False)
    return {
        **parsed.to_dict(),
        "entities": kb.ground(parsed) if kb is not None else [],
        "lineage": lineage,
    }


async def answer_instances(
    model: Any, instances: list[Instance], parameters: Any, headers: Mapping[str, str] | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Generate with the request's options (RequestError when out of bounds) through the predictor's
    micro-batcher; one shaped answer per instance, and the request's lineage."""
    options = model.generation_options(parameters)
    lineage = model.lineage.for_request(request_id(headers))
    texts = await model.generate_batched([(i.images, i.question) for i in instances], options)
    return [shape_prediction(text, model.grounding, lineage) for text in texts], lineage
