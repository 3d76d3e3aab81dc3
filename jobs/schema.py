"""OpenAPI description of the async LLM endpoints (plain Django views, which
drf-spectacular does not see). Enable with, in SPECTACULAR_SETTINGS:

    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.schema.llm_endpoints_add",
    ],
"""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
}
MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {
            "type": "string",
            "enum": ["system", "user", "assistant", "tool", "developer"],
        },
        "content": {"oneOf": [{"type": "string"}, {"type": "array"}], "nullable": True},
        "name": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
    },
}
CALL_FIELDS = {
    "model": {"type": "string", "description": "A model alias the team may use."},
    "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
    "purpose": {"type": "string", "maxLength": 200},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "max_tokens": {"type": "integer", "minimum": 1},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "stop": {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        ]
    },
    "response_format": {"type": "object"},
    "tools": {"type": "array", "items": {"type": "object"}},
    "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
    "call_metadata": {"type": "object"},
}
JOB_FIELDS = {
    "team_id": {"type": "string"},
    "job_type": {"type": "string", "maxLength": 100},
    "user_id": {"type": "string", "maxLength": 200},
    "metadata": {"type": "object"},
}
CALL_RESULT = {
    "type": "object",
    "properties": {
        "call_id": {"type": "string", "format": "uuid"},
        "response": {
            "type": "object",
            "properties": {
                "content": {"type": "string", "nullable": True},
                "finish_reason": {"type": "string"},
                "tool_calls": {"type": "array", "items": {"type": "object"}},
            },
        },
        "metadata": {
            "type": "object",
            "properties": {
                name: {"type": "integer"}
                for name in (
                    "tokens_used",
                    "prompt_tokens",
                    "completion_tokens",
                    "latency_ms",
                )
            }
            | {"model": {"type": "string"}},
        },
    },
}
SSE = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "`data: <chat.completion.chunk>` frames (model = the alias),"
            " then `data: {usage, call_id}`, then `data: [DONE]`. An error after the"
            " first byte: `data: {error: {message, type}}` then `data: [DONE]`.",
        }
    }
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "Error",
            "content": {"application/json": {"schema": ERROR}},
        }
        for status in statuses
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
                **_errors(400, 401, 403, 404, 409, 429, 502, 504),
            },
        }
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
    json_result = {"application/json": {"schema": CALL_RESULT}}
    paths = result.setdefault("paths", {})
    for path, operation_id, summary, ok, with_job in (
        ("/api/jobs/{job_id}/llm-call", "jobs_llm_call", "Call a model in a job",
         json_result, True),
        ("/api/jobs/{job_id}/llm-call-stream", "jobs_llm_call_stream",
         "Stream a call (SSE)", SSE, True),
        ("/api/jobs/create-and-call", "jobs_create_and_call", "One-shot job",
         json_result, False),
        ("/api/jobs/create-and-call-stream", "jobs_create_and_call_stream",
         "One-shot streamed job", SSE, False),
    ):  # fmt: skip
        fields = CALL_FIELDS if with_job else {**JOB_FIELDS, **CALL_FIELDS}
        required = ["model", "messages"] + ([] if with_job else ["team_id", "job_type"])
        call = _operation(summary, fields, required, ok)
        call["post"]["operationId"] = operation_id
        if with_job:
            call["post"]["parameters"] = job_param
        paths[path] = call
    openai_endpoints_add(paths)
    return result


# --- OpenAI-compatible endpoints (jobs.openai_api) --------------------------------

OPENAI_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}
OPENAI_FIELDS = {
    **{
        name: spec
        for name, spec in CALL_FIELDS.items()
        if name not in ("purpose", "call_metadata")
    },
    "max_completion_tokens": {
        "type": "integer",
        "minimum": 1,
        "description": "Used as max_tokens when max_tokens is not given.",
    },
    "n": {"type": "integer", "enum": [1], "description": "Only n=1 is supported."},
    "stream": {"type": "boolean", "default": False},
    "stream_options": {
        "type": "object",
        "properties": {"include_usage": {"type": "boolean"}},
    },
    "user": {
        "type": "string",
        "maxLength": 200,
        "description": "Stored as the job's user_id.",
    },
}
CHAT_COMPLETION = {
    "type": "object",
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
                        },
                    },
                    "finish_reason": {"type": "string"},
                },
            },
        },
        "usage": {
            "type": "object",
            "properties": {
                name: {"type": "integer"}
                for name in ("prompt_tokens", "completion_tokens", "total_tokens")
            },
        },
    },
}
MODEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
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


def _openai_errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "Error (OpenAI's shape)",
            "content": {"application/json": {"schema": OPENAI_ERROR}},
        }
        for status in statuses
    }


def openai_endpoints_add(paths: dict[str, Any]) -> None:
    """/v1/chat/completions and /v1/models, for the official OpenAI SDKs."""
    stream = (
        "With stream: true, `data: <chat.completion.chunk>` frames (model = the alias),"
        " a usage chunk (choices: []) when stream_options.include_usage is true, then"
        " `data: [DONE]`; an error after the first byte is `data: {error: {…}}` then"
        " `data: [DONE]`. Streams send X-Job-Id, X-Call-Id and X-Gateway-Overhead-Ms"
        " but no credit headers: the charge is not known when the headers leave"
        " (GET /api/jobs/{X-Job-Id}/costs has it)."
    )
    paths["/v1/chat/completions"] = {
        "post": {
            "tags": ["openai"],
            "operationId": "openai_chat_completions",
            "summary": "Chat completion, OpenAI-compatible",
            "description": "A one-call job billed like /api/jobs/create-and-call, or,"
            " with X-Job-Id, a call on that open job of the team (which stays open)."
            " Unknown OpenAI fields are accepted and ignored. " + stream,
            "security": [{"VirtualKey": []}],
            "parameters": [
                {
                    "name": "X-Job-Id",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "format": "uuid"},
                    "description": "Attach the call to this open job of the team.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["model", "messages"],
                            "properties": OPENAI_FIELDS,
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "headers": {**CALL_HEADERS, **CREDIT_HEADERS},
                    "content": {
                        "application/json": {"schema": CHAT_COMPLETION},
                        "text/event-stream": {
                            "schema": {"type": "string", "description": stream}
                        },
                    },
                },
                **_openai_errors(400, 401, 403, 404, 409, 429, 502, 504),
            },
        }
    }
    model_list = {
        "type": "object",
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
                    **_openai_errors(401, 404),
                },
            }
        }
