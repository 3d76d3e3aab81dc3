"""OpenAPI postprocessing hooks (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]):

- `llm_endpoints_add` describes the async LLM endpoints, plain Django views that
  drf-spectacular does not see (/api/jobs/…/llm-call…, /v1/…);
- `error_responses_add` documents, once, the errors every operation of a kind can
  answer, and gives every error response the body of its API family: `Error`
  (`{detail, code, errors?}`) under /api, `OpenAIError` under /v1;
- `input_rules_add` documents what DRF's fields accept beyond their generated
  schema (empty query values, whitespace-only texts).

Views document their success responses and the errors only they answer (a 409 for a
taken id, a 404 for an unknown object named in the body), as an `OpenApiResponse`
with a description; this module adds the body.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings

ERROR_REF = {"$ref": "#/components/schemas/Error"}
OPENAI_ERROR_REF = {"$ref": "#/components/schemas/OpenAIError"}
ERROR = {
    "type": "object",
    "description": "Every error of the native API (/api/…).",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "code": {
            "type": "string",
            "description": "Machine code, e.g. invalid_request, invalid_api_key, "
            "not_found, team_mismatch, insufficient_credits, rate_limited.",
        },
        "errors": {
            "description": "Validation errors (400): messages per field.",
            "anyOf": [{"type": "object"}, {"type": "array"}],
        },
        "request_id": {"type": "string", "description": "The X-Request-Id."},
    },
}
OPENAI_ERROR = {
    "type": "object",
    "description": "Every error under /v1, in OpenAI's shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
                "request_id": {"type": "string", "description": "The X-Request-Id."},
            },
        }
    },
}
REQUEST_ID = {
    "X-Request-Id": {
        "description": "The client's X-Request-Id if it is 1-128 printable ASCII "
        "characters, else a new one; also `request_id` in error bodies.",
        "schema": {"type": "string"},
    }
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
# DRF's CharField trims whitespace before its blank check: a required text field
# needs a character that is not whitespace to Python's str.strip() (which also
# strips the \x1c-\x1f separators).
NOT_BLANK = r"[^\s\x1c-\x1f]"

# --- Request bodies of the LLM endpoints (mirror jobs.serializers) ----------------


def _text(max_length: int, *, blank: bool = False) -> dict[str, Any]:
    if blank:
        return {"type": "string", "maxLength": max_length}
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": NOT_BLANK,
    }


def _part(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", kind],
        "properties": {"type": {"type": "string", "enum": [kind]}, kind: payload},
    }


PARTS = {
    "text": {"type": "string"},
    "image_url": {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string"}},
            },
        ]
    },
    "input_audio": {"type": "object"},
    "file": {"type": "object"},
}


def _content(*, refusal: bool) -> dict[str, Any]:
    """A message's content: a string or a non-empty list of typed parts (only an
    assistant's may hold a refusal)."""
    parts = {**PARTS, "refusal": {"type": "string"}} if refusal else PARTS
    return {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [_part(kind, spec) for kind, spec in parts.items()]},
            },
        ]
    }


MESSAGE_FIELDS = {
    "name": {"type": "string"},
    "tool_calls": {"type": "array", "items": {"type": "object"}},
    "tool_call_id": {"type": "string"},
}
MESSAGE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {
                    "type": "string",
                    "enum": ["system", "user", "tool", "developer"],
                },
                "content": _content(refusal=False),
                **MESSAGE_FIELDS,
            },
        },
        {
            "type": "object",
            "required": ["role"],
            "description": "content may be null or absent with tool_calls.",
            "properties": {
                "role": {"type": "string", "enum": ["assistant"]},
                "content": {**_content(refusal=True), "nullable": True},
                **MESSAGE_FIELDS,
            },
            "anyOf": [
                {
                    "required": ["content"],
                    "properties": {"content": _content(refusal=True)},
                },
                {
                    "required": ["tool_calls"],
                    "properties": {"tool_calls": {"type": "array", "minItems": 1}},
                },
            ],
        },
    ]
}
TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"type": "string", "enum": ["function"]},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                "description": {"type": "string"},
                "parameters": {"type": "object", "description": "A JSON Schema."},
            },
        },
    },
}


def _nullable(kind: str, **spec: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **spec}


PASSED = "Passed to the provider as given; a provider that cannot take it: 400."
PASSED_THROUGH = {
    name: {**spec, "description": PASSED}
    for name, spec in {
        "seed": _nullable("integer", minimum=-(2**63), maximum=2**63 - 1),
        "logprobs": _nullable("boolean"),
        "top_logprobs": _nullable("integer", minimum=0, maximum=20),
        "presence_penalty": _nullable("number", minimum=-2, maximum=2),
        "frequency_penalty": _nullable("number", minimum=-2, maximum=2),
        "logit_bias": _nullable(
            "object",
            maxProperties=300,
            additionalProperties={"type": "number", "minimum": -100, "maximum": 100},
        ),
        "parallel_tool_calls": _nullable("boolean"),
        "reasoning_effort": _nullable(
            "string", enum=["none", "minimal", "low", "medium", "high", "xhigh"]
        ),
        "verbosity": _nullable("string", enum=["low", "medium", "high"]),
        "service_tier": _nullable("string", maxLength=20),
        "prediction": _nullable("object"),
        "modalities": _nullable(
            "array", maxItems=1, items={"type": "string", "enum": ["text"]}
        ),
    }.items()
}


def call_fields() -> dict[str, Any]:
    """The body of an llm-call (jobs.serializers.LLMCallSerializer)."""
    return {
        "model": {
            **_text(100),
            "description": "A model alias the team may use (any other: 403).",
        },
        "messages": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": MESSAGE,
        },
        "purpose": _text(200, blank=True),
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "nullable": True},
        "max_tokens": {
            "type": "integer",
            "minimum": 1,
            "maximum": settings.LLM_MAX_TOKENS_LIMIT,
            "nullable": True,
            "description": "Also at most the alias's max_output_tokens (else 400).",
        },
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
        "stop": {
            "nullable": True,
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": 4,
                },
            ],
        },
        "response_format": {"type": "object", "nullable": True},
        "tools": {"type": "array", "maxItems": 128, "items": TOOL, "nullable": True},
        "tool_choice": {
            "nullable": True,
            "oneOf": [{"type": "string"}, {"type": "object"}],
        },
        "call_metadata": {"type": "object"},
        **PASSED_THROUGH,
    }


JOB_FIELDS = {
    "team_id": {**_text(100), "description": "The key's own team (another: 403)."},
    "job_type": _text(100),
    "user_id": _text(200, blank=True),
    "metadata": {"type": "object", "description": "At most 16 KiB as JSON."},
}

# --- Responses of the LLM endpoints ----------------------------------------------

CALL_RESULT_FIELDS = {
    "call_id": {"type": "string", "format": "uuid"},
    "response": {
        "type": "object",
        "required": ["content", "finish_reason"],
        "properties": {
            "content": {"type": "string", "nullable": True},
            "finish_reason": {"type": "string"},
            "tool_calls": {"type": "array", "items": {"type": "object"}},
        },
    },
    "metadata": {
        "type": "object",
        "required": [
            "tokens_used",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "model",
        ],
        "properties": {
            name: {"type": "integer"}
            for name in (
                "tokens_used",
                "prompt_tokens",
                "completion_tokens",
                "latency_ms",
            )
        }
        | {"model": {"type": "string", "description": "The alias asked for."}},
    },
}
CALL_RESULT = {
    "type": "object",
    "required": ["call_id", "response", "metadata"],
    "properties": CALL_RESULT_FIELDS,
}
ONE_CALL_JOB_RESULT = {
    "type": "object",
    "required": [
        "job_id",
        "status",
        "call_id",
        "response",
        "metadata",
        "costs",
        "completed_at",
    ],
    "properties": {
        "job_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string"},
        **CALL_RESULT_FIELDS,
        "costs": {
            "type": "object",
            "required": ["credits_charged", "credits_remaining"],
            "properties": {
                "credits_charged": {"type": "integer"},
                "credits_remaining": {"type": "integer"},
            },
        },
        "completed_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}


EMBEDDING_RESULT = {
    "type": "object",
    "required": ["call_id", "embeddings", "metadata"],
    "properties": {
        "call_id": {"type": "string", "format": "uuid"},
        "embeddings": {
            "type": "array",
            "description": "One vector per input, in order.",
            "items": {"type": "array", "items": {"type": "number"}},
        },
        "metadata": {
            "type": "object",
            "properties": {
                "tokens_used": {"type": "integer"},
                "prompt_tokens": {"type": "integer"},
                "latency_ms": {"type": "integer"},
                "model": {"type": "string", "description": "The alias asked for."},
            },
        },
    },
}


def sse_event(description: str) -> dict[str, Any]:
    """A text/event-stream body: in OpenAPI 3.0 its schema describes one event."""
    return {
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "string", "description": description}},
        }
    }


SSE = {
    "text/event-stream": sse_event(
        "`data: <chat.completion.chunk>` frames (model = the alias), then `data: "
        "{usage, call_id}`, then `data: [DONE]`. An error after the first byte: "
        "`data: {error: {message, type}}` then `data: [DONE]`."
    )
}


def _operation(
    summary: str, fields: dict[str, Any], required: list[str], ok: dict[str, Any]
) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["jobs"],
            "summary": summary,
            "security": [{"VirtualKey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": required,
                            "properties": fields,
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "OK", "content": ok},
                **_described(
                    {
                        400: "Invalid body, a parameter the model cannot take "
                        "(unsupported_parameter), or the provider rejected the "
                        "request (provider_rejected_request).",
                        403: "Team suspended or paused, insufficient credits, or a "
                        "model the team may not use.",
                        409: "The job is closed, or a one-call job "
                        "(one_call_job), which takes no other call.",
                        429: "A rate limit of the team (Retry-After).",
                        502: "The provider failed (provider_error).",
                        504: "The provider timed out (provider_timeout).",
                    }
                ),
            },
        }
    }


def _described(descriptions: dict[int, str]) -> dict[str, Any]:
    """Error responses by status, with a description; error_responses_add adds the
    body."""
    return {
        str(status): {"description": description}
        for status, description in descriptions.items()
    }


def llm_endpoints_add(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the four LLM endpoints and /v1."""
    job_param = [
        {
            "name": "job_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    call_result = {"application/json": {"schema": CALL_RESULT}}
    job_result = {"application/json": {"schema": ONE_CALL_JOB_RESULT}}
    paths = result.setdefault("paths", {})
    for path, operation_id, summary, ok, with_job in (
        ("/api/jobs/{job_id}/llm-call", "jobs_llm_call", "Call a model in a job",
         call_result, True),
        ("/api/jobs/{job_id}/llm-call-stream", "jobs_llm_call_stream",
         "Stream a call (SSE)", SSE, True),
        ("/api/jobs/create-and-call", "jobs_create_and_call", "One-shot job",
         job_result, False),
        ("/api/jobs/create-and-call-stream", "jobs_create_and_call_stream",
         "One-shot streamed job", SSE, False),
    ):  # fmt: skip
        fields = call_fields() if with_job else {**JOB_FIELDS, **call_fields()}
        required = ["model", "messages"] + ([] if with_job else ["team_id", "job_type"])
        call = _operation(summary, fields, required, ok)
        call["post"]["operationId"] = operation_id
        if with_job:
            call["post"]["parameters"] = job_param
        paths[path] = call
    embedding = _operation(
        "An embedding in a job",
        {
            name: spec
            for name, spec in EMBEDDING_FIELDS.items()
            if name in ("model", "input", "dimensions")
        }
        | {"purpose": _text(200, blank=True), "call_metadata": {"type": "object"}},
        ["model", "input"],
        {"application/json": {"schema": EMBEDDING_RESULT}},
    )
    embedding["post"]["operationId"] = "jobs_embeddings"
    embedding["post"]["parameters"] = job_param
    paths["/api/jobs/{job_id}/embeddings"] = embedding
    openai_endpoints_add(paths)
    # Imported here: jobs.schema_responses imports this module.
    from jobs.schema_responses import responses_endpoints_add

    responses_endpoints_add(paths)
    from jobs.schema_anthropic import anthropic_endpoints_add  # (it imports us too)

    anthropic_endpoints_add(paths)
    return result


# --- OpenAI-compatible endpoints (jobs.openai_api) --------------------------------


def openai_fields() -> dict[str, Any]:
    return {
        **{
            name: spec
            for name, spec in call_fields().items()
            if name not in ("purpose", "call_metadata")
        },
        "max_completion_tokens": {
            "type": "integer",
            "minimum": 1,
            "maximum": settings.LLM_MAX_TOKENS_LIMIT,
            "nullable": True,
            "description": "Used as max_tokens when max_tokens is not given.",
        },
        "n": {
            "type": "integer",
            "minimum": 1,
            "maximum": 128,
            "nullable": True,
            "description": "How many answers; all are billed.",
        },
        "metadata": {
            "type": "object",
            "nullable": True,
            "maxProperties": 16,
            "additionalProperties": {"type": "string", "maxLength": 512},
            "description": "Kept as the call's call_metadata (keys of at most 64 "
            "characters); not sent to the provider.",
        },
        "stream": {"type": "boolean", "default": False, "nullable": True},
        "stream_options": {
            "type": "object",
            "nullable": True,
            "properties": {"include_usage": {"type": "boolean", "nullable": True}},
        },
        "user": {
            "type": "string",
            "maxLength": 200,
            "nullable": True,
            "description": "Stored as the job's user_id.",
        },
    }


CREDITS = {
    "type": "object",
    "description": "What the answer cost (0 on an open job: it is charged when "
    "completed) and the team's credits left; a stream carries it in its last event.",
    "properties": {
        "charged": {"type": "integer"},
        "remaining": {"type": "integer"},
    },
}
USAGE = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "integer"}
            for name in ("prompt_tokens", "completion_tokens", "total_tokens")
        },
        "prompt_tokens_details": {
            "type": "object",
            "properties": {
                "cached_tokens": {"type": "integer"},
                "cache_write_tokens": {"type": "integer"},
            },
        },
        "completion_tokens_details": {
            "type": "object",
            "properties": {"reasoning_tokens": {"type": "integer"}},
        },
        "credits": CREDITS,
    },
}
CHAT_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices", "usage"],
    "properties": {
        "id": {"type": "string", "description": "chatcmpl-<call id, hex>"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string", "description": "The alias asked for."},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"type": "string", "enum": ["assistant"]},
                            "content": {"type": "string", "nullable": True},
                            "tool_calls": {
                                "type": "array",
                                "items": {"type": "object"},
                            },
                            "refusal": {"type": "string"},
                        },
                    },
                    "finish_reason": {"type": "string"},
                    "logprobs": {"type": "object", "nullable": True},
                },
            },
        },
        "usage": USAGE,
    },
}
MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
    },
}


def text_completion_fields() -> dict[str, Any]:
    """The body of /v1/completions (jobs.openai_completions)."""
    call = call_fields()
    only_one = {"type": "integer", "enum": [1], "nullable": True}
    unsupported = {"nullable": True, "enum": [None], "description": "Not supported."}
    return {
        "model": call["model"],
        "prompt": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": 1,
                },
            ]
        },
        **{name: call[name] for name in ("max_tokens", "temperature", "top_p", "stop")},
        **{
            name: spec
            for name, spec in openai_fields().items()
            if name in ("stream", "stream_options", "user")
        },
        "n": only_one,
        "best_of": only_one,
        "echo": {"type": "boolean", "enum": [False], "nullable": True},
        "suffix": unsupported,
        "logprobs": unsupported,
    }


TOKENS = {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}}
EMBEDDING_FIELDS = {
    "model": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "description": "A model alias the team may use (any other: 403).",
    },
    "input": {
        "oneOf": [
            {"type": "string", "minLength": 1},
            TOKENS,
            {
                "type": "array",
                "minItems": 1,
                "maxItems": 2048,
                "items": {"type": "string", "minLength": 1},
            },
            {"type": "array", "minItems": 1, "maxItems": 2048, "items": TOKENS},
        ]
    },
    "dimensions": {"type": "integer", "minimum": 1, "nullable": True},
    "encoding_format": {
        "type": "string",
        "enum": ["float", "base64"],
        "nullable": True,
        "default": "float",
    },
    "user": {
        "type": "string",
        "maxLength": 200,
        "nullable": True,
        "description": "Stored as the job's user_id.",
    },
}
TEXT_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices", "usage"],
    "properties": {
        "id": {"type": "string", "description": "cmpl-<call id, hex>"},
        "object": {"type": "string", "enum": ["text_completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string", "description": "The alias asked for."},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "index": {"type": "integer"},
                    "logprobs": {"type": "object", "nullable": True},
                    "finish_reason": {"type": "string", "nullable": True},
                },
            },
        },
        "usage": USAGE,
    },
}
EMBEDDING_LIST = {
    "type": "object",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "object": {"type": "string", "enum": ["embedding"]},
                    "index": {"type": "integer"},
                    "embedding": {
                        "description": "Floats, or base64 of little-endian float32s.",
                        "oneOf": [
                            {"type": "array", "items": {"type": "number"}},
                            {"type": "string"},
                        ],
                    },
                },
            },
        },
        "model": {"type": "string", "description": "The alias asked for."},
        "usage": {
            "type": "object",
            "properties": {
                name: {"type": "integer"} for name in ("prompt_tokens", "total_tokens")
            },
        },
    },
}


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


CALL_HEADERS = {
    "X-Job-Id": _header("The job the call belongs to (new, or the X-Job-Id sent)."),
    "X-Call-Id": _header("The call's id (GET /api/jobs/{job_id} lists it)."),
    "X-Gateway-Overhead-Ms": _header(
        "Milliseconds spent in the gateway: the request's time minus the time"
        " waiting on the provider (streams: the time before the provider was asked).",
        "number",
    ),
}
CREDIT_HEADERS = {
    "X-Credits-Charged": _header(
        "Credits this request charged: the one-call job's charge, or 0 with X-Job-Id"
        " (the job is charged when it is completed).",
        "integer",
    ),
    "X-Credits-Remaining": _header("The team's credits left to spend.", "integer"),
}


X_JOB_ID = {
    "name": "X-Job-Id",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "anyOf": [{"format": "uuid"}, {"maxLength": 0}]},
    "description": "Attach the call to this open job of the team (unknown: 404; "
    "empty: no job, as without the header).",
}
OPENAI_CALL_ERRORS = {
    400: "Invalid body, a parameter the model cannot take (unsupported_parameter), "
    "or the provider rejected the request (provider_rejected_request).",
    403: "Team suspended or paused, insufficient credits, or a model the team may "
    "not use.",
    404: "The X-Job-Id is not an open job of the team.",
    409: "The X-Job-Id job is closed, or a one-call job (one_call_job).",
    429: "A rate limit of the team (Retry-After).",
    502: "The provider failed.",
    504: "The provider timed out.",
}
BILLING = (
    "A one-call job billed like /api/jobs/create-and-call, or, with X-Job-Id, a call "
    "on that open job of the team (which stays open). Unknown OpenAI fields are "
    "accepted and ignored. "
)
STREAM_HEADERS = (
    " Streams send X-Job-Id, X-Call-Id and X-Gateway-Overhead-Ms but no credit "
    "headers: the charge is not known when the headers leave (GET "
    "/api/jobs/{X-Job-Id}/costs has it)."
)


def _openai_call(
    operation_id: str,
    summary: str,
    description: str,
    body: dict[str, Any],
    ok: dict[str, Any],
) -> dict[str, Any]:
    """A POST under /v1 that calls a model: billed, refused and answered alike."""
    return {
        "post": {
            "tags": ["openai"],
            "operationId": operation_id,
            "summary": summary,
            "description": BILLING + description,
            "security": [{"VirtualKey": []}],
            "parameters": [X_JOB_ID],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "headers": {**CALL_HEADERS, **CREDIT_HEADERS},
                    "content": ok,
                },
                **_described(OPENAI_CALL_ERRORS),
            },
        }
    }


def openai_endpoints_add(paths: dict[str, Any]) -> None:
    """/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models and /v1/key,
    for the official OpenAI SDKs."""
    stream = (
        "With stream: true, `data: <chat.completion.chunk>` frames (model = the alias),"
        " a usage chunk (choices: []) when stream_options.include_usage is true, then"
        " `data: [DONE]`; an error after the first byte is `data: {error: {…}}` then"
        " `data: [DONE]`." + STREAM_HEADERS
    )
    paths["/v1/chat/completions"] = _openai_call(
        "openai_chat_completions",
        "Chat completion, OpenAI-compatible",
        stream,
        {
            "type": "object",
            "required": ["model", "messages"],
            "properties": openai_fields(),
        },
        {
            "application/json": {"schema": CHAT_COMPLETION},
            "text/event-stream": sse_event(stream),
        },
    )
    text_stream = (
        "With stream: true, `data: <text_completion chunk>` frames, a usage chunk "
        "(choices: []) when stream_options.include_usage is true, then `data: "
        "[DONE]`." + STREAM_HEADERS
    )
    paths["/v1/completions"] = _openai_call(
        "openai_completions",
        "Text completion (legacy), OpenAI-compatible",
        "The prompt is sent to the model as one user message. " + text_stream,
        {
            "type": "object",
            "required": ["model", "prompt"],
            "properties": text_completion_fields(),
        },
        {
            "application/json": {"schema": TEXT_COMPLETION},
            "text/event-stream": sse_event(text_stream),
        },
    )
    paths["/v1/embeddings"] = _openai_call(
        "openai_embeddings",
        "Embeddings, OpenAI-compatible",
        "Billed for the input's tokens.",
        {
            "type": "object",
            "required": ["model", "input"],
            "properties": EMBEDDING_FIELDS,
        },
        {"application/json": {"schema": EMBEDDING_LIST}},
    )
    model_list = {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": MODEL},
        },
    }
    for path, operation_id, summary, schema, extra in (
        ("/v1/models", "openai_models_list", "Models the team may use",
         model_list, []),
        ("/v1/models/{model}", "openai_models_retrieve", "One model the team may use",
         MODEL, [{"name": "model", "in": "path", "required": True,
                  "schema": {"type": "string"}}]),
        ("/v1/key", "openai_key_retrieve", "The calling key and its budget",
         {"$ref": "#/components/schemas/KeySelf"}, []),
    ):  # fmt: skip
        paths[path] = {
            "get": {
                "tags": ["openai"],
                "operationId": operation_id,
                "summary": summary,
                "security": [{"VirtualKey": []}],
                "parameters": extra,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": schema}},
                    },
                },
            }
        }


# --- Errors, documented once ------------------------------------------------------

COMMON_ERRORS = {
    400: "Invalid input (`errors` names the fields).",
    401: "Missing or invalid key (invalid_api_key / invalid_admin_key).",
    403: "The key's team is not the team named (team_mismatch), or the team may "
    "not start work (team_suspended, team_paused, insufficient_credits, "
    "key_budget_exceeded, user_budget_exceeded).",
    404: "Not found (an unknown or malformed id).",
    406: "The Accept header does not admit application/json.",
    409: "A request with this Idempotency-Key is still being processed.",
    413: "Request body too large (request_too_large).",
    415: "The body is not JSON (Content-Type).",
    422: "This Idempotency-Key was used with another request.",
    503: "Database unavailable, retry shortly (database_unavailable, Retry-After); "
    "on an LLM call also the server restarting during it (server_shutting_down).",
}
# The operations documented above: async Django views, which read any body as JSON
# and ignore Accept.
PLAIN_DJANGO_VIEWS = frozenset(
    {
        "jobs_llm_call",
        "jobs_llm_call_stream",
        "jobs_create_and_call",
        "jobs_create_and_call_stream",
        "openai_chat_completions",
        "openai_completions",
        "openai_embeddings",
        "openai_models_list",
        "openai_models_retrieve",
    }
)
RETRY_STATUSES = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return components.get(ref.rsplit("/", 1)[-1], {})
    return schema


def _body_properties(operation: dict[str, Any], components: dict[str, Any]) -> set:
    content = operation.get("requestBody", {}).get("content", {})
    names: set[str] = set()
    for media in content.values():
        names |= set(
            _resolved(media.get("schema", {}), components).get("properties", {})
        )
    return names


def _common_errors(operation: dict[str, Any], components: dict[str, Any]) -> set[int]:
    """The errors an operation answers because of what it is: authenticated (401),
    with input (400), with ids in its path (404), with a team key and a team named
    (403), idempotent (409, 422), a DRF view (content negotiation: 406, and 415
    with a body); any request may be too large (413) or find the database down
    (503)."""
    parameters = operation.get("parameters", [])
    where = {parameter["in"] for parameter in parameters}
    names = {parameter["name"] for parameter in parameters}
    schemes = {name for entry in operation.get("security", []) for name in entry}
    statuses = {413, 503}
    if schemes:
        statuses.add(401)
    if "requestBody" in operation or where & {"query", "header"}:
        statuses.add(400)
    if "path" in where:
        statuses.add(404)
    names_team = "team_id" in (names | _body_properties(operation, components))
    if "VirtualKey" in schemes and names_team:
        statuses.add(403)
    if "Idempotency-Key" in names:
        statuses |= {409, 422}
    if operation.get("operationId") not in PLAIN_DJANGO_VIEWS:
        statuses.add(406)
        if "requestBody" in operation:
            statuses.add(415)
    return statuses


def error_responses_add(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (after llm_endpoints_add): the common
    errors of every operation, and the error body of every error response."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR
    components["OpenAIError"] = OPENAI_ERROR
    for path, item in result.get("paths", {}).items():
        body = OPENAI_ERROR_REF if path.startswith("/v1/") else ERROR_REF
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in _common_errors(operation, components):
                responses.setdefault(
                    str(status), {"description": COMMON_ERRORS[status]}
                )
            for status, response in responses.items():
                if not status.isdigit() or int(status) < HTTPStatus.BAD_REQUEST:
                    continue
                response.setdefault("description", HTTPStatus(int(status)).phrase)
                response.setdefault("content", {"application/json": {"schema": body}})
                if int(status) in RETRY_STATUSES:
                    response.setdefault("headers", RETRY_AFTER)
            for response in responses.values():
                response["headers"] = {**response.get("headers", {}), **REQUEST_ID}
    return result


# --- How DRF reads input, documented once -----------------------------------------


def _not_blank(schema: dict[str, Any]) -> None:
    """A required text (minLength) of a DRF CharField, which trims whitespace
    before its blank check, needs a character that is not whitespace."""
    if schema.get("items"):
        _not_blank(schema["items"])
    if (
        schema.get("type") == "string"
        and schema.get("minLength", 0) >= 1
        and not {"pattern", "format", "enum"} & schema.keys()
    ):
        schema["pattern"] = NOT_BLANK


def input_rules_add(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: what DRF's fields accept that their
    generated schema does not say. An empty value of an optional query parameter
    (`?limit=`) reads as no value, so the default applies (API.md writes
    `?status=&limit=&offset=`); a text that is only whitespace is blank."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST's request bodies
            for schema in component.get("properties", {}).values():
                _not_blank(schema)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", []):
                _not_blank(parameter.get("schema", {}))
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
