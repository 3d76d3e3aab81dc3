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
    """drf-spectacular postprocessing hook: add the four LLM endpoints."""
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
    return result
