"""OpenAPI of /v1/responses (jobs.openai_responses), added to the /v1 endpoints by
`jobs.schema.llm_endpoints_add`. The request body mirrors what
jobs/openai_responses/parse.py accepts, the chat parser's rules included."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from jobs.schema import (
    CALL_HEADERS,
    CREDIT_HEADERS,
    CREDITS,
    NOT_BLANK,
    X_JOB_ID,
    sse_event,
)
from jobs.services.responses import RESPONSE_ID

OPERATIONS = frozenset(
    {"openai_responses_create", "openai_responses_retrieve", "openai_responses_delete"}
)
RESPONSE_ID_SCHEMA = {
    "type": "string",
    "pattern": f"^{RESPONSE_ID.pattern}$",
    "description": "resp_…, an id this gateway gave (malformed: 400).",
}
STRING = {"type": "string"}
NON_EMPTY = {"type": "string", "minLength": 1}


def _typed(kind: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"type": "string", "enum": [kind]}, **fields},
    }


TEXT_PARTS = {
    "input_text": _typed("input_text", {"text": STRING}, ["text"]),
    "output_text": _typed("output_text", {"text": STRING}, ["text"]),
    "input_image": _typed(
        "input_image",
        {"image_url": STRING},
        ["image_url"],
    ),
    "input_file": {
        **_typed(
            "input_file",
            {"file_data": STRING, "file_id": STRING},
            [],
        ),
        "anyOf": [{"required": ["file_data"]}, {"required": ["file_id"]}],
    },
}
REFUSAL = _typed("refusal", {"refusal": STRING}, ["refusal"])


def _content(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "oneOf": [
            STRING,
            {"type": "array", "minItems": 1, "items": {"oneOf": parts}},
        ]
    }


def _message(roles: list[str], parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "type": {"type": "string", "enum": ["message"]},
            "role": {"type": "string", "enum": roles},
            "content": _content(parts),
        },
    }


INPUT_ITEM = {
    "oneOf": [
        _message(["user", "system", "developer"], list(TEXT_PARTS.values())),
        _message(["assistant"], [*TEXT_PARTS.values(), REFUSAL]),
        _typed(
            "function_call",
            {"call_id": NON_EMPTY, "name": NON_EMPTY, "arguments": STRING},
            ["call_id", "name", "arguments"],
        ),
        _typed(
            "function_call_output",
            {
                "call_id": NON_EMPTY,
                "output": _content(
                    [
                        TEXT_PARTS[kind]
                        for kind in ("input_text", "input_image", "input_file")
                    ]
                ),
            },
            ["call_id", "output"],
        ),
    ]
}
TOOL = _typed(
    "function",
    {
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
        "description": {"type": "string", "nullable": True},
        "parameters": {"type": "object", "nullable": True},
        "strict": {"type": "boolean", "nullable": True},
    },
    ["name"],
)
TEXT_FORMAT = {
    "oneOf": [
        _typed("text", {}, []),
        _typed("json_object", {}, []),
        _typed(
            "json_schema",
            {
                "name": STRING,
                "schema": {"type": "object"},
                "description": {"type": "string", "nullable": True},
                "strict": {"type": "boolean", "nullable": True},
            },
            ["name", "schema"],
        ),
    ]
}


def _errors(descriptions: dict[int, str]) -> dict[str, Any]:
    """Error responses by status; jobs.schema.error_responses_add adds the body."""
    return {
        str(status): {"description": description}
        for status, description in descriptions.items()
    }


def _nullable(kind: str, **rules: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **rules}


def request_fields() -> dict[str, Any]:
    return {
        "model": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "pattern": NOT_BLANK,
            "description": "A model alias the team may use (any other: 403).",
        },
        "input": {
            "oneOf": [
                STRING,
                {"type": "array", "minItems": 1, "maxItems": 999, "items": INPUT_ITEM},
            ],
            "description": "Items of built-in tools are refused; `reasoning` items "
            "are dropped.",
        },
        "instructions": _nullable("string", description="Not inherited by a chain."),
        "previous_response_id": {
            **RESPONSE_ID_SCHEMA,
            "nullable": True,
            "description": "A stored response of the team, whose chain the gateway "
            "expands (unknown, deleted or another team's: 404).",
        },
        "tools": _nullable("array", maxItems=128, items=TOOL),
        "tool_choice": {
            "nullable": True,
            "oneOf": [
                {"type": "string", "enum": ["auto", "none", "required"]},
                _typed("function", {"name": STRING}, ["name"]),
            ],
        },
        "max_output_tokens": _nullable(
            "integer", minimum=1, maximum=settings.LLM_MAX_TOKENS_LIMIT
        ),
        "temperature": _nullable("number", minimum=0, maximum=2),
        "top_p": _nullable("number", minimum=0, maximum=1),
        "text": _nullable(
            "object",
            properties={
                "format": TEXT_FORMAT,
                "verbosity": _nullable("string"),
            },
        ),
        "user": _nullable("string", maxLength=200),
        "metadata": _nullable(
            "object",
            maxProperties=16,
            additionalProperties={"type": "string", "maxLength": 512},
        ),
        "store": _nullable("boolean", default=True),
        "stream": _nullable("boolean", default=False),
        "parallel_tool_calls": _nullable("boolean"),
        "reasoning": _nullable(
            "object",
            properties={
                "effort": _nullable("string"),
                "summary": _nullable("string"),
            },
        ),
        "service_tier": _nullable("string"),
        "safety_identifier": _nullable("string"),
        "prompt_cache_key": _nullable("string"),
        "include": _nullable(
            "array", items=STRING, description="Accepted; nothing is added."
        ),
        "stream_options": _nullable("object"),
        "top_logprobs": _nullable("integer", description="Accepted and ignored."),
        "max_tool_calls": _nullable("integer", description="Accepted and ignored."),
        "background": _nullable("boolean", enum=[False]),
        "truncation": _nullable("string", enum=["disabled"]),
    }


USAGE = {
    "type": "object",
    "properties": {
        "input_tokens": {"type": "integer"},
        "input_tokens_details": {
            "type": "object",
            "properties": {"cached_tokens": {"type": "integer"}},
        },
        "output_tokens": {"type": "integer"},
        "output_tokens_details": {
            "type": "object",
            "properties": {"reasoning_tokens": {"type": "integer"}},
        },
        "total_tokens": {"type": "integer"},
        "credits": CREDITS,
    },
}
RESPONSE = {
    "type": "object",
    "required": ["id", "object", "created_at", "status", "model", "output"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["response"]},
        "created_at": {"type": "integer"},
        "status": {"type": "string"},
        "model": {"type": "string", "description": "The alias asked for."},
        "output": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "A message (output_text parts) or a function_call.",
            },
        },
        "previous_response_id": {"type": "string", "nullable": True},
        "usage": {**USAGE, "nullable": True},
    },
}
DELETED = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["response"]},
        "deleted": {"type": "boolean"},
    },
}
STREAM = (
    "With stream: true, OpenAI's events, each an `event: <type>` line and its "
    "`data:` with a sequence_number: response.created, response.in_progress, "
    "response.output_item.added, response.content_part.added, "
    "response.output_text.delta…, response.output_text.done, "
    "response.content_part.done, response.output_item.done (function calls: "
    "response.function_call_arguments.delta/done), then response.completed (or "
    "response.incomplete) with the whole response, its usage and credits; no "
    "`[DONE]`. A provider error after the first byte: response.failed. Streams send "
    "X-Job-Id, X-Call-Id and X-Gateway-Overhead-Ms but no credit headers."
)
ID_PARAMETER = {
    "name": "response_id",
    "in": "path",
    "required": True,
    "schema": RESPONSE_ID_SCHEMA,
}


def responses_endpoints_add(paths: dict[str, Any]) -> None:
    """POST /v1/responses, GET and DELETE /v1/responses/{response_id}."""
    paths["/v1/responses"] = {
        "post": {
            "tags": ["openai"],
            "operationId": "openai_responses_create",
            "summary": "Response (OpenAI's Responses API)",
            "description": "A one-call job billed like /api/jobs/create-and-call, "
            "or, with X-Job-Id, a call on that open job of the team. Stored for GET "
            "and previous_response_id unless store is false. Fields OpenAI does not "
            "define are a 400 naming them. " + STREAM,
            "security": [{"VirtualKey": []}],
            "parameters": [X_JOB_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["model", "input"],
                            "properties": request_fields(),
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "headers": {**CALL_HEADERS, **CREDIT_HEADERS},
                    "content": {
                        "application/json": {"schema": RESPONSE},
                        "text/event-stream": sse_event(STREAM),
                    },
                },
                **_errors(
                    {
                        400: "Invalid body (param names the field), a built-in "
                        "tool, or the provider rejected the request.",
                        403: "Team suspended or paused, insufficient credits, or a "
                        "model the team may not use.",
                        404: "previous_response_id is not a stored response of the "
                        "team, or X-Job-Id not an open job of the team.",
                        409: "The X-Job-Id job is closed.",
                        429: "A rate limit of the team (Retry-After).",
                        502: "The provider failed.",
                        504: "The provider timed out.",
                    }
                ),
            },
        }
    }
    detail: dict[str, Any] = {}
    for method, operation_id, summary, schema in (
        ("get", "openai_responses_retrieve", "A stored response of the team",
         RESPONSE),
        ("delete", "openai_responses_delete", "Delete a stored response of the team",
         DELETED),
    ):  # fmt: skip
        detail[method] = {
            "tags": ["openai"],
            "operationId": operation_id,
            "summary": summary,
            "security": [{"VirtualKey": []}],
            "parameters": [ID_PARAMETER],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": schema}},
                },
                **_errors(
                    {
                        400: "Not a response id.",
                        404: "No stored response of the team has this id.",
                    }
                ),
            },
        }
    paths["/v1/responses/{response_id}"] = detail
