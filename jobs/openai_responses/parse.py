"""A Responses request as a chat call (see the package's docstring for the fields
and the policies)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from litellm.responses.litellm_completion_transformation.transformation import (
    LiteLLMCompletionResponsesConfig as ResponsesBridge,
)
from rest_framework.exceptions import ValidationError

from jobs.openai_api import ChatRequest, chat_request_parse, param_typed
from jobs.services import ResponseHistory, response_history, response_id_new
from saas_litellm.exceptions import ParamInvalid, service_error_of
from teams.models import Team

JOB_TYPE = "responses"
# Responses fields that are chat completions fields under another name or the same.
CHAT_FIELDS = {
    "model": "model",
    "max_output_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "user": "user",
    "parallel_tool_calls": "parallel_tool_calls",
    "service_tier": "service_tier",
    "safety_identifier": "safety_identifier",
    "prompt_cache_key": "prompt_cache_key",
}
# A chat parser's complaint about one of these is about the Responses field.
RESPONSES_PARAM_OF = {
    **{chat: name for name, chat in CHAT_FIELDS.items()},
    "messages": "input",
    "response_format": "text",
    "reasoning_effort": "reasoning",
    "verbosity": "text",
}
HANDLED_FIELDS = {
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "stream",
    "store",
    "metadata",
    "previous_response_id",
    "reasoning",
}
IGNORED_FIELDS = {"include", "stream_options", "top_logprobs", "max_tool_calls"}
# Refused unless absent or set to this value.
REFUSED_UNLESS = {
    "background": False,
    "conversation": None,
    "prompt": None,
    "truncation": "disabled",
}
KNOWN_FIELDS = (
    CHAT_FIELDS.keys() | HANDLED_FIELDS | IGNORED_FIELDS | REFUSED_UNLESS.keys()
)
# The types of the fields passed on or ignored (the others are checked where read).
FIELD_TYPES = {
    "parallel_tool_calls": bool,
    "service_tier": str,
    "safety_identifier": str,
    "prompt_cache_key": str,
    "reasoning": dict,
    "include": list,
    "stream_options": dict,
    "top_logprobs": int,
    "max_tool_calls": int,
    "background": bool,
    "truncation": str,
}
ROLES = ("user", "assistant", "system", "developer")
# A content part's type, and the fields of which it needs one (all strings).
PARTS = {
    "input_text": ("text",),
    "output_text": ("text",),
    "refusal": ("refusal",),
    # litellm's bridge reads an image's file_id and a file's file_url as something
    # else (an empty URL, a file id): they are refused, not mistranslated.
    "input_image": ("image_url",),
    "input_file": ("file_data", "file_id"),
}
TOOL_OUTPUT_PARTS = ("input_text", "input_image", "input_file")
TOOL_CHOICE_MODES = ("auto", "none", "required")
METADATA_PAIRS, METADATA_VALUE_LENGTH = 16, 512
# What a response object repeats of its request, and the value when not given.
ECHOED = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "user": None,
}


# --- Requests ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResponsesRequest:
    """A parsed request: the chat call it became, this turn's input items (as
    stored), the history it continues, what its response object repeats."""

    chat: ChatRequest
    input_items: list[dict[str, Any]]
    history: ResponseHistory | None
    echo: dict[str, Any]
    store: bool
    response_id: str = field(default_factory=response_id_new)
    message_id: str = field(default_factory=lambda: f"msg_{secrets.token_hex(24)}")


def _typed(value: Any, kind: type, where: str, *, param: str) -> Any:
    """`value` if it is None or a `kind` (a bool is no int), else a 400."""
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ParamInvalid(f"{where}: must be a {kind.__name__}", param=param)
    return value


def _fields_check(body: dict[str, Any]) -> None:
    """Unknown fields, refused ones, and the types of those that are not checked
    further on (the chat parser ignores some of those it is given)."""
    for name in body:
        if name not in KNOWN_FIELDS:
            raise ParamInvalid(f"Unknown parameter: '{name}'.", param=name)
    for name, kind in FIELD_TYPES.items():
        _typed(body.get(name), kind, name, param=name)
    reasoning = body.get("reasoning") or {}
    for name in ("effort", "summary"):
        _typed(reasoning.get(name), str, f"reasoning.{name}", param="reasoning")
    for item in body.get("include") or []:
        _typed(item, str, "include[]", param="include")
    for name, allowed in REFUSED_UNLESS.items():
        if body.get(name, allowed) not in (allowed, None):
            raise ParamInvalid(
                f"{name}: only {allowed!r} is supported by this gateway", param=name
            )


def _strings_check(item: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    """Strings, not empty but for `arguments` (litellm's bridge drops an output
    whose call_id is empty)."""
    for name in names:
        value = item.get(name)
        if not isinstance(value, str) or (not value and name != "arguments"):
            raise ParamInvalid(
                f"{where}.{name} must be a non-empty string", param="input"
            )


def _parts_check(
    content: Any, where: str, *, kinds: tuple[str, ...] = tuple(PARTS)
) -> None:
    if not isinstance(content, list) or not content:
        raise ParamInvalid(
            f"{where} must be a string or a non-empty list of parts", param="input"
        )
    for number, part in enumerate(content):
        at = f"{where}[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in kinds:
            raise ParamInvalid(
                f"{at}.type must be one of {', '.join(kinds)}", param="input"
            )
        present = [name for name in PARTS[kind] if part.get(name) is not None]
        if not present or any(not isinstance(part[name], str) for name in present):
            raise ParamInvalid(
                f"{at} needs {' or '.join(PARTS[kind])} (a string)", param="input"
            )


def _item_check(item: Any, where: str) -> dict[str, Any]:
    """One input item of a kind a chat model can read, checked before litellm's
    bridge reads it (which assumes well-formed items)."""
    if not isinstance(item, dict):
        raise ParamInvalid(f"{where} must be an object", param="input")
    kind = item.get("type", "message")
    if kind == "message":
        if item.get("role") not in ROLES:
            raise ParamInvalid(
                f"{where}.role must be one of {', '.join(ROLES)}", param="input"
            )
        if not isinstance(item.get("content"), str):
            _parts_check(item.get("content"), f"{where}.content")
    elif kind == "function_call":
        _strings_check(item, ("call_id", "name", "arguments"), where)
    elif kind == "function_call_output":
        _strings_check(item, ("call_id",), where)
        if not isinstance(item.get("output"), str):
            _parts_check(item.get("output"), f"{where}.output", kinds=TOOL_OUTPUT_PARTS)
    elif kind == "item_reference":
        raise ParamInvalid(
            f"{where}: item references are not supported; name the response "
            "as previous_response_id",
            param="input",
        )
    elif kind != "reasoning":
        raise ParamInvalid(
            f"{where}: items of type {kind!r} are not supported (this gateway runs "
            "function tools only)",
            param="input",
        )
    return item


def _input_items(value: Any) -> list[dict[str, Any]]:
    """This turn's input as items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise ParamInvalid(
            "input: must be a string or a non-empty list of items", param="input"
        )
    return [_item_check(item, f"input[{number}]") for number, item in enumerate(value)]


def _chat_message(message: Any) -> dict[str, Any]:
    """A bridged message as the chat parser takes it: a plain dict, its tool calls
    without litellm's stream `index` (a strict provider refuses unknown keys)."""
    data = message if isinstance(message, dict) else message.model_dump()
    data = {key: value for key, value in data.items() if value is not None}
    if data.get("tool_calls"):
        data["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": (call.get("function") or {}).get("name"),
                    "arguments": (call.get("function") or {}).get("arguments"),
                },
            }
            for call in data["tool_calls"]
        ]
    return data


def _messages(
    items: list[dict[str, Any]], instructions: str | None
) -> list[dict[str, Any]]:
    readable = [item for item in items if item.get("type") != "reasoning"]
    if not readable:
        raise ParamInvalid("input: holds nothing a model can read", param="input")
    request = {"instructions": instructions} if instructions else {}
    try:
        bridged = ResponsesBridge.transform_responses_api_input_to_messages(
            input=readable, responses_api_request=request
        )
    except (TypeError, ValueError, LookupError, AttributeError):
        raise ParamInvalid(
            "input: the items cannot be read as a conversation", param="input"
        ) from None
    return [_chat_message(message) for message in bridged]


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ParamInvalid("tools: must be a list", param="tools")
    for number, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise ParamInvalid(
                f"tools[{number}]: the tool {kind!r} is not supported; this gateway "
                "runs function tools only (built-in tools such as web_search, "
                "file_search or code_interpreter need OpenAI's own service)",
                param="tools",
            )
        if not isinstance(tool.get("name"), str):
            raise ParamInvalid(f"tools[{number}].name must be a string", param="tools")
        for name, kind in (
            ("description", str),
            ("parameters", dict),
            ("strict", bool),
        ):
            if tool.get(name) is not None and not isinstance(tool[name], kind):
                raise ParamInvalid(
                    f"tools[{number}].{name} must be a {kind.__name__}", param="tools"
                )
    if not value:
        return None
    tools, _ = ResponsesBridge.transform_responses_api_tools_to_chat_completion_tools(
        value
    )
    return tools


def _tool_choice(value: Any) -> str | dict[str, Any] | None:
    if value is None or value in TOOL_CHOICE_MODES:
        return value
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
    ):
        return {"type": "function", "function": {"name": value["name"]}}
    raise ParamInvalid(
        "tool_choice: must be auto, none, required or "
        '{"type": "function", "name": …} (this gateway runs function tools only)',
        param="tool_choice",
    )


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    form = param_typed(text, "format", dict, {"type": "text"})
    _typed(text.get("verbosity"), str, "text.verbosity", param="text")
    for name, of_type in (("description", str), ("strict", bool)):
        _typed(form.get(name), of_type, f"text.format.{name}", param="text")
    kind = form.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if (
        kind == "json_schema"
        and isinstance(form.get("name"), str)
        and isinstance(form.get("schema"), dict)
    ):
        spec = {
            key: form.get(key) for key in ("name", "schema", "description", "strict")
        }
        return {
            "type": "json_schema",
            "json_schema": {k: v for k, v in spec.items() if v is not None},
        }
    raise ParamInvalid(
        "text.format: must be text, json_object or json_schema with a name and a "
        "schema",
        param="text",
    )


def _metadata(value: Any) -> dict[str, str]:
    """OpenAI's rule, but for the length of keys (which OpenAPI 3.0 cannot state):
    up to 16 strings of up to 512 characters."""
    if value is None:
        return {}
    if not (
        isinstance(value, dict)
        and len(value) <= METADATA_PAIRS
        and all(
            isinstance(item, str) and len(item) <= METADATA_VALUE_LENGTH
            for item in value.values()
        )
    ):
        raise ParamInvalid(
            f"metadata: at most {METADATA_PAIRS} strings of at most "
            f"{METADATA_VALUE_LENGTH} characters",
            param="metadata",
        )
    return value


def _chat_parse(chat_body: dict[str, Any]) -> ChatRequest:
    """The chat parser's verdict, its complaints named as Responses fields."""
    try:
        return chat_request_parse(chat_body)
    except (ValidationError, ParamInvalid) as exc:
        error = service_error_of(exc)
        chat_param = getattr(error, "param", None)
        param = RESPONSES_PARAM_OF.get(chat_param or "", chat_param)
        problem = str(getattr(error, "problem", error.detail if error else exc))
        if chat_param and param != chat_param:
            problem = problem.replace(chat_param, param, 1)
        raise ParamInvalid(f"Invalid request: {problem}", param=param) from None


def responses_request_parse(team: Team, body: dict[str, Any]) -> ResponsesRequest:
    """A Responses body as a chat call (400s name the Responses field; an unknown
    or foreign previous_response_id is a 404), nothing written."""
    _fields_check(body)
    stream = param_typed(body, "stream", bool, False)
    store = param_typed(body, "store", bool, True)
    instructions = param_typed(body, "instructions", str, None)
    reasoning = param_typed(body, "reasoning", dict, {})
    text = param_typed(body, "text", dict, {})
    metadata = _metadata(body.get("metadata"))
    input_items = _input_items(body.get("input"))
    history = None
    if body.get("previous_response_id") is not None:
        history = response_history(
            team=team, previous_response_id=body["previous_response_id"]
        )
    chat_body = {
        chat: body[name]
        for name, chat in CHAT_FIELDS.items()
        if body.get(name) is not None
    }
    chat_body.update(
        messages=_messages(
            [*(history.items if history else []), *input_items], instructions
        ),
        stream=stream,
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        response_format=_response_format(text),
        reasoning_effort=reasoning.get("effort"),
        verbosity=text.get("verbosity"),
    )
    chat = _chat_parse({k: v for k, v in chat_body.items() if v is not None})
    echo = {name: body.get(name, default) for name, default in ECHOED.items()}
    echo["metadata"] = metadata
    return ResponsesRequest(
        chat=chat, input_items=input_items, history=history, echo=echo, store=store
    )
