"""`POST /v1/embeddings` in OpenAI's shapes, an adapter over the call pipeline.

Billed and refused as /v1/chat/completions is (see jobs/openai_api.py): a one-call job,
or a call on the open job named by `X-Job-Id`; the same headers on the answer; errors
in OpenAI's shape. An embedding has no output: the call reserves its input's tokens
and is billed for the prompt tokens the provider reports (estimated, and flagged
`usage_estimated`, when it reports none).

Request: `model` (an alias), `input` (a string, a list of strings, a token array or a
list of token arrays), `dimensions`, `encoding_format` ("float" or "base64"), `user`
(the job's user_id). The provider is always asked for floats; base64 (what the
official SDK asks for by default) is encoded here, as OpenAI does it: the vector's
little-endian float32s.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from jobs import pipeline
from jobs.gateway import CallParams, EmbeddingInput
from jobs.openai_api import (
    ParamInvalid,
    answer,
    job_id_of,
    param_typed,
    user_id_of,
)
from jobs.pipeline import Parsed
from jobs.services import CallRequest, NewJob
from saas_litellm.exceptions import Dialect
from teams.models import Team

JOB_TYPE = "embeddings"
MODEL_MAX_LENGTH = 100
MAX_INPUTS = 2048  # OpenAI's limit per request
ENCODING_FORMATS = ("float", "base64")
INPUT_SHAPES = "a string, a list of strings, a token array or a list of token arrays"


@dataclass(frozen=True)
class EmbeddingRequest:
    call: CallRequest
    encoding_format: str
    user_id: str


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(type(item) is int and item >= 0 for item in value)
    )


def _input_check(value: Any) -> EmbeddingInput:
    """One of OpenAI's input shapes, nothing empty (a provider's 400 otherwise,
    after the call was reserved)."""
    if isinstance(value, str) and value:
        return value
    if _is_tokens(value):
        return value
    if isinstance(value, list) and 0 < len(value) <= MAX_INPUTS:
        if all(isinstance(item, str) and item for item in value):
            return value
        if all(_is_tokens(item) for item in value):
            return value
    raise ParamInvalid(
        f"input: must be {INPUT_SHAPES}, none empty, at most {MAX_INPUTS} items",
        param="input",
    )


def embedding_request_parse(body: dict[str, Any]) -> EmbeddingRequest:
    """An OpenAI embeddings body, validated."""
    model = param_typed(body, "model", str, "")
    if not model or len(model) > MODEL_MAX_LENGTH:
        raise ParamInvalid(
            f"model: a model alias of 1-{MODEL_MAX_LENGTH} characters", param="model"
        )
    dimensions = param_typed(body, "dimensions", int, None)
    if dimensions is not None and (isinstance(dimensions, bool) or dimensions < 1):
        raise ParamInvalid("dimensions: must be a positive integer", param="dimensions")
    encoding_format = param_typed(body, "encoding_format", str, "float")
    if encoding_format not in ENCODING_FORMATS:
        raise ParamInvalid(
            'encoding_format: must be "float" or "base64"', param="encoding_format"
        )
    params = CallParams(
        messages=[], input=_input_check(body.get("input")), dimensions=dimensions
    )
    return EmbeddingRequest(
        call=CallRequest(model=model, params=params),
        encoding_format=encoding_format,
        user_id=user_id_of(body),
    )


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embedding_body(result: pipeline.Result, encoding_format: str) -> dict[str, Any]:
    completion = result.completion
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": _encoded(vector, encoding_format),
            }
            for index, vector in enumerate(completion.embeddings or [])
        ],
        "model": result.call.model_alias,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "total_tokens": completion.total_tokens,
        },
    }


def _embedding_parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
    embedding = embedding_request_parse(body)
    return Parsed(
        call=embedding.call,
        job_id=job_id_of(request),
        new_job=NewJob(job_type=JOB_TYPE, user_id=embedding.user_id),
        extra=embedding,
    )


@pipeline.llm_endpoint("POST", Dialect.OPENAI)
async def embeddings(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _embedding_parse)
    result = await pipeline.run(admitted)
    encoding_format = admitted.parsed.extra.encoding_format
    return answer(embedding_body(result, encoding_format), result, started)
