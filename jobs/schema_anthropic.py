"""OpenAPI of Anthropic's Messages API (jobs.anthropic_api), added to the /v1
endpoints by `jobs.schema.llm_endpoints_add`. The request body mirrors what
`jobs.anthropic_api.messages_request_parse` accepts, the chat parser's rules
included; errors have Anthropic's body."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from jobs.schema import (
    CALL_HEADERS,
    CREDIT_HEADERS,
    CREDITS,
    X_JOB_ID,
    call_fields,
    sse_event,
)

OPERATIONS = frozenset({"anthropic_messages", "anthropic_count_tokens"})
STRING = {"type": "string"}
OBJECT = {"type": "object"}
NON_EMPTY = {"type": "string", "minLength": 1}
ANTHROPIC_ERROR = {
    "type": "object",
    "description": "Every error of /v1/messages, in Anthropic's shape.",
    "required": ["type", "error"],
    "properties": {
        "type": {"type": "string", "enum": ["error"]},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "invalid_request_error (400), authentication_error "
                    "(401), permission_error (403), not_found_error (404), "
                    "conflict_error (409), request_too_large (413), rate_limit_error "
                    "(429), api_error (5xx), overloaded_error (503), timeout_error "
                    "(504).",
                },
                "message": STRING,
            },
        },
        "request_id": {"type": "string", "description": "The X-Request-Id."},
    },
}


def _typed(kind: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"type": "string", "enum": [kind]}, **fields},
    }


BASE64 = _typed(
    "base64",
    {"media_type": STRING, "data": NON_EMPTY},
    ["media_type", "data"],
)
TEXT = _typed("text", {"text": STRING}, ["text"])
URL = _typed("url", {"url": NON_EMPTY}, ["url"])
IMAGE = _typed("image", {"source": {"oneOf": [BASE64, URL]}}, ["source"])
DOCUMENT = _typed("document", {"source": BASE64}, ["source"])
TOOL_RESULT = _typed(
    "tool_result",
    {
        "tool_use_id": STRING,
        "content": {
            "nullable": True,
            "oneOf": [STRING, {"type": "array", "items": {"oneOf": [TEXT, IMAGE]}}],
        },
    },
    ["tool_use_id"],
)
TOOL_USE = _typed(
    "tool_use", {"id": STRING, "name": STRING, "input": OBJECT}, ["id", "name", "input"]
)


def _message(role: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": [role]},
            "content": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": {"oneOf": blocks}},
                ]
            },
        },
    }


MESSAGES = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1000,
    "description": "At most 1000 once translated: a system prompt and each "
    "tool_result count as a message. Thinking blocks in assistant turns are "
    "accepted and left out (not alone).",
    "items": {
        "oneOf": [
            _message("user", [TEXT, IMAGE, DOCUMENT, TOOL_RESULT]),
            _message("assistant", [TEXT, TOOL_USE]),
        ]
    },
}
TOOL = {
    "type": "object",
    "required": ["name", "input_schema"],
    "description": "A client tool. Server tools (any other type) are a 400.",
    "properties": {
        "type": {"type": "string", "enum": ["custom"], "nullable": True},
        "name": {
            "type": "string",
            "pattern": "^[a-zA-Z0-9_-]+$",
            "description": "Longer than 64 characters: shortened for the provider, "
            "given back as sent.",
        },
        "description": STRING,
        "input_schema": {**OBJECT, "description": "A JSON Schema."},
    },
}
TOOL_CHOICE = {
    "nullable": True,
    "description": "Ignored without tools.",
    "oneOf": [
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "enum": ["auto", "any", "none"]},
                "disable_parallel_tool_use": {"type": "boolean"},
            },
        },
        {
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {"type": "string", "enum": ["tool"]},
                "name": STRING,
                "disable_parallel_tool_use": {"type": "boolean"},
            },
        },
    ],
}
OUTPUT_FORMAT = {
    **_typed("json_schema", {"schema": {**OBJECT, "minProperties": 1}}, ["schema"]),
    "nullable": True,
}


def request_fields(*, counting: bool) -> dict[str, Any]:
    """The body of /v1/messages (of count_tokens when `counting`)."""
    call = call_fields()
    fields: dict[str, Any] = {
        "model": call["model"],
        "messages": MESSAGES,
        "system": {
            "nullable": True,
            "oneOf": [STRING, {"type": "array", "items": TEXT}],
            "description": "Sent as the first message, a system one.",
        },
        "tools": {"type": "array", "maxItems": 128, "items": TOOL, "nullable": True},
        "tool_choice": TOOL_CHOICE,
        "output_format": OUTPUT_FORMAT,
        "output_config": {
            "type": "object",
            "nullable": True,
            "properties": {"format": OUTPUT_FORMAT},
            "description": "format (a JSON answer) is honoured; effort is dropped.",
        },
    }
    if counting:
        return fields
    return {
        **fields,
        "max_tokens": {
            "type": "integer",
            "minimum": 1,
            "maximum": settings.LLM_MAX_TOKENS_LIMIT,
            "description": "Also at most the alias's max_output_tokens (else 400).",
        },
        "temperature": call["temperature"],
        "top_p": call["top_p"],
        "stop_sequences": {
            "type": "array",
            "items": STRING,
            "maxItems": 4,
            "nullable": True,
        },
        "stream": {"type": "boolean", "nullable": True, "default": False},
        "metadata": {
            "type": "object",
            "nullable": True,
            "properties": {
                "user_id": {
                    "type": "string",
                    "maxLength": 200,
                    "nullable": True,
                    "description": "Stored as the job's user_id.",
                }
            },
        },
    }


CONTENT_BLOCK = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["text", "tool_use"]},
        "text": STRING,
        "id": STRING,
        "name": {"type": "string", "description": "The tool's name as sent."},
        "input": OBJECT,
    },
}
USAGE = {
    "type": "object",
    "required": ["input_tokens", "output_tokens"],
    "properties": {
        **{
            name: {"type": "integer"}
            for name in (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            )
        },
        "credits": CREDITS,
    },
}
MESSAGE = {
    "type": "object",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string", "description": "msg_<call id, hex>"},
        "type": {"type": "string", "enum": ["message"]},
        "role": {"type": "string", "enum": ["assistant"]},
        "model": {"type": "string", "description": "The alias asked for."},
        "content": {"type": "array", "items": CONTENT_BLOCK},
        "stop_reason": {"type": "string", "nullable": True},
        "stop_sequence": {"type": "string", "nullable": True},
        "usage": USAGE,
    },
}
STREAM = (
    "With stream: true, Anthropic's events (`event: <type>` then `data: {…}`): "
    "message_start (usage.input_tokens counted by litellm's tokenizer), per content "
    "block content_block_start, content_block_delta (text_delta, input_json_delta) "
    "and content_block_stop, then message_delta (stop_reason, the billed usage and "
    "usage.credits.charged) and message_stop; an error after the first byte is "
    "`event: error`. Streams send X-Job-Id, X-Call-Id and X-Gateway-Overhead-Ms but "
    "no credit headers."
)
POLICY = (
    "Anthropic's Messages API. The key is the virtual key, as x-api-key or a Bearer "
    "token. A one-call job billed like /api/jobs/create-and-call, or, with X-Job-Id, "
    "a call on that open job of the team. Dropped (never sent to the provider): "
    "anthropic-beta flags, top_k, thinking, cache_control, service_tier, speed, "
    "inference_geo, context_management, output_config.effort, tool_result.is_error, "
    "a tool's other fields, fields Anthropic does not define. Refused (400): server "
    "tools, mcp_servers, container, other content blocks. "
)


def _errors(descriptions: dict[int, str]) -> dict[str, Any]:
    """Error responses with Anthropic's body (error_responses_add keeps it)."""
    return {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": ANTHROPIC_ERROR}},
        }
        for status, description in descriptions.items()
    }


COMMON = {
    400: "Invalid body (the message names the field), or the provider rejected "
    "the request.",
    401: "Missing or invalid key (x-api-key or Bearer).",
    403: "Team suspended or paused, insufficient credits, or a model the team may "
    "not use.",
    413: "Request body too large.",
    503: "Database unavailable, retry shortly (Retry-After).",
}


def _post(
    operation_id: str,
    summary: str,
    description: str,
    body: dict[str, Any],
    ok: dict[str, Any],
    errors: dict[int, str],
) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["anthropic"],
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": [{"VirtualKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {"200": ok, **_errors({**COMMON, **errors})},
        }
    }


def anthropic_endpoints_add(paths: dict[str, Any]) -> None:
    """POST /v1/messages and /v1/messages/count_tokens; /v1/models's answer to
    anthropic-version."""
    paths["/v1/messages"] = _post(
        "anthropic_messages",
        "Message, Anthropic-compatible",
        POLICY + STREAM,
        {
            "type": "object",
            "required": ["model", "messages", "max_tokens"],
            "properties": request_fields(counting=False),
        },
        {
            "description": "OK",
            "headers": {**CALL_HEADERS, **CREDIT_HEADERS},
            "content": {
                "application/json": {"schema": MESSAGE},
                "text/event-stream": sse_event(STREAM),
            },
        },
        {
            404: "The X-Job-Id is not an open job of the team.",
            409: "The X-Job-Id job is closed.",
            429: "A rate limit of the team (Retry-After).",
            502: "The provider failed.",
            504: "The provider timed out.",
        },
    )
    paths["/v1/messages"]["post"]["parameters"] = [X_JOB_ID]
    paths["/v1/messages/count_tokens"] = _post(
        "anthropic_count_tokens",
        "Count a message's input tokens, Anthropic-compatible",
        "litellm's tokenizer for the alias's model, tools included. Validated and "
        "the model's access checked as for a message; nothing is recorded or billed.",
        {
            "type": "object",
            "required": ["model", "messages"],
            "properties": request_fields(counting=True),
        },
        {
            "description": "OK",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["input_tokens"],
                        "properties": {"input_tokens": {"type": "integer"}},
                    }
                }
            },
        },
        {},
    )
    models = paths.get("/v1/models", {}).get("get")
    if models is not None:
        models["description"] = (
            "With an anthropic-version header, Anthropic's shape: {data: [{type: "
            "model, id, display_name, created_at}], has_more: false, first_id, "
            "last_id}, and errors in Anthropic's shape."
        )
