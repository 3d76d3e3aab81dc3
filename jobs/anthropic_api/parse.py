"""Requests of /v1/messages and count_tokens: an Anthropic Messages body checked
(its own rules: roles, content blocks, tools, the refused fields), translated by
litellm's `LiteLLMAnthropicMessagesAdapter` into an OpenAI chat completions body,
and validated by the chat endpoint's parser, whose refusals are worded with this
API's field names. See the package's docstring for the policy."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from litellm.llms.anthropic.messages.adapters.transformation import (
    LiteLLMAnthropicMessagesAdapter,
)
from rest_framework.exceptions import ValidationError

from jobs.openai_api import chat_request_parse
from jobs.services import CallRequest
from saas_litellm.exceptions import InvalidInput, ParamInvalid, RequestInvalid

USER_BLOCKS = ("text", "image", "document", "tool_result")
ASSISTANT_BLOCKS = ("text", "tool_use")
THINKING_BLOCKS = ("thinking", "redacted_thinking")  # dropped (see the docstring)
TOOL_RESULT_BLOCKS = ("text", "image")
TOOL_CHOICES = ("auto", "any", "none", "tool")
# litellm shortens longer names (and gives them back in answers); the chat parser
# checks the shortened name.
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]+")
TRANSLATED = ("messages", "tools", "tool_choice", "stop")
SCALARS = ("model", "max_tokens", "temperature", "top_p", "stream")
REFUSED = {
    "mcp_servers": "MCP servers are not available through this gateway",
    "container": "containers (code execution) are not available through this gateway",
}
# The chat parser's names of fields, in this API's words (for its errors).
FIELD_NAMES = {
    "stop": "stop_sequences",
    "user": "metadata.user_id",
    "response_format": "output_config.format",
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
}
_translator = LiteLLMAnthropicMessagesAdapter()


def _invalid(where: str, problem: str) -> ParamInvalid:
    return ParamInvalid(f"{where}: {problem}", param=re.split(r"[.\[]", where)[0])


def _text(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("text"), str):
        raise _invalid(f"{where}.text", "must be a string")
    return {"type": "text", "text": block["text"]}


def _source(block: dict[str, Any], where: str, kinds: tuple[str, ...]) -> dict:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") not in kinds:
        raise _invalid(f"{where}.source", f"must be a {' or '.join(kinds)} source")
    if source["type"] == "url":
        if not isinstance(source.get("url"), str) or not source["url"]:
            raise _invalid(f"{where}.source.url", "must be a non-empty string")
        return {"type": "url", "url": source["url"]}
    if not isinstance(source.get("media_type"), str):
        raise _invalid(f"{where}.source.media_type", "must be a string")
    if not isinstance(source.get("data"), str) or not source["data"]:
        raise _invalid(f"{where}.source.data", "must be a non-empty string (base64)")
    return {
        "type": "base64",
        "media_type": source["media_type"],
        "data": source["data"],
    }


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    return {"type": "image", "source": _source(block, where, ("base64", "url"))}


def _document(block: dict[str, Any], where: str) -> dict[str, Any]:
    document = {"type": "document", "source": _source(block, where, ("base64",))}
    if isinstance(block.get("title"), str):
        document["title"] = block["title"]
    return document


def _tool_result(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("tool_use_id"), str):
        raise _invalid(f"{where}.tool_use_id", "must be a string")
    content = block.get("content")
    if isinstance(content, list):
        content = [
            _block(item, f"{where}.content[{number}]", TOOL_RESULT_BLOCKS)
            for number, item in enumerate(content)
        ]
    elif content is not None and not isinstance(content, str):
        raise _invalid(
            f"{where}.content", "must be a string or a list of text and image blocks"
        )
    return {
        "type": "tool_result",
        "tool_use_id": block["tool_use_id"],
        "content": content or "",
    }


def _tool_use(block: dict[str, Any], where: str) -> dict[str, Any]:
    for name in ("id", "name"):
        if not isinstance(block.get(name), str):
            raise _invalid(f"{where}.{name}", "must be a string")
    if not isinstance(block.get("input"), dict):
        raise _invalid(f"{where}.input", "must be an object")
    return {key: block[key] for key in ("type", "id", "name", "input")}


BLOCKS = {
    "text": _text,
    "image": _image,
    "document": _document,
    "tool_result": _tool_result,
    "tool_use": _tool_use,
}


def _block(value: Any, where: str, kinds: tuple[str, ...]) -> Any:
    """A content block of one of `kinds`, rebuilt with the fields that are honoured
    (cache_control and the like left out)."""
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object")
    if value.get("type") not in kinds:
        raise _invalid(f"{where}.type", f"must be one of {', '.join(kinds)}")
    return BLOCKS[value["type"]](value, where)


def _message(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object")
    role = value.get("role")
    if role not in ("user", "assistant"):
        raise _invalid(f"{where}.role", "must be user or assistant")
    content = value.get("content")
    if isinstance(content, str) and content:
        return {"role": role, "content": content}
    if not isinstance(content, list) or not content:
        raise _invalid(
            f"{where}.content", "must be a non-empty string or list of content blocks"
        )
    kinds = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    blocks = [
        _block(item, f"{where}.content[{number}]", kinds)
        for number, item in enumerate(content)
        if role == "user"
        or not (isinstance(item, dict) and item.get("type") in THINKING_BLOCKS)
    ]
    if not blocks:
        raise _invalid(
            f"{where}.content", "has only thinking blocks, which are dropped"
        )
    return {"role": role, "content": blocks}


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _invalid("messages", "must be a non-empty list")
    return [_message(item, f"messages[{n}]") for n, item in enumerate(value)]


def _system(value: Any) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _invalid("system", "must be a string or a list of text blocks")
    return [_block(item, f"system[{n}]", ("text",)) for n, item in enumerate(value)]


def _tool(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object")
    if value.get("type") not in (None, "custom"):
        raise _invalid(
            f"{where}.type",
            "server tools are not available through this gateway, only client tools",
        )
    name = value.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise _invalid(f"{where}.name", "must be letters, digits, _ or -")
    if not isinstance(value.get("input_schema"), dict):
        raise _invalid(f"{where}.input_schema", "must be an object (a JSON Schema)")
    tool = {"name": name, "input_schema": value["input_schema"]}
    if "description" in value:
        if not isinstance(value["description"], str):
            raise _invalid(f"{where}.description", "must be a string")
        tool["description"] = value["description"]
    return tool


def _tool_choice(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in TOOL_CHOICES:
        raise _invalid("tool_choice.type", f"must be one of {', '.join(TOOL_CHOICES)}")
    choice = {"type": value["type"]}
    if value["type"] == "tool":
        if not isinstance(value.get("name"), str):
            raise _invalid("tool_choice.name", "must be a string")
        choice["name"] = value["name"]
    return choice


def _parallel_tool_calls(value: Any) -> bool | None:
    """OpenAI's parallel_tool_calls for tool_choice.disable_parallel_tool_use."""
    if not isinstance(value, dict) or "disable_parallel_tool_use" not in value:
        return None
    disabled = value["disable_parallel_tool_use"]
    if not isinstance(disabled, bool):
        raise _invalid("tool_choice.disable_parallel_tool_use", "must be a boolean")
    return False if disabled else None


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _invalid("stop_sequences", "must be a list of strings")
    return value


def _user_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("metadata", "must be an object")
    user_id = value.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise _invalid("metadata.user_id", "must be a string")
    return user_id


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's response_format for output_format (the beta's name, first) or
    output_config.format, by litellm's translator."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise _invalid("output_config", "must be an object")
    where, wanted = "output_format", body.get("output_format")
    if wanted is None and config is not None:
        where, wanted = "output_config.format", config.get("format")
    if wanted is None:
        return None
    if not isinstance(wanted, dict) or wanted.get("type") != "json_schema":
        raise _invalid(f"{where}.type", 'must be "json_schema"')
    schema = wanted.get("schema")
    if not isinstance(schema, dict) or not schema:
        raise _invalid(f"{where}.schema", "must be a non-empty object (a JSON Schema)")
    try:
        return _translator.translate_anthropic_output_format_to_openai(
            output_format={"type": "json_schema", "schema": schema}
        )
    except (AttributeError, LookupError, TypeError) as exc:  # its walk of the schema
        raise _invalid(f"{where}.schema", "is not a JSON Schema") from exc


@dataclass(frozen=True)
class MessagesRequest:
    """A validated Messages request; `tool_names` maps the tool names litellm
    shortened (OpenAI takes 64 characters) back to the client's."""

    call: CallRequest
    stream: bool
    user_id: str
    tool_names: dict[str, str] = field(default_factory=dict)


def _chat_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The OpenAI chat completions body of a Messages body, and the tool names."""
    for name, reason in REFUSED.items():
        if body.get(name):
            raise _invalid(name, reason)
    model = body.get("model")
    request: dict[str, Any] = {
        "model": model if isinstance(model, str) else "",
        "messages": _messages(body.get("messages")),
    }
    if body.get("system") is not None:
        request["system"] = _system(body["system"])
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _invalid("tools", "must be a list")
    if tools:
        request["tools"] = [_tool(tool, f"tools[{n}]") for n, tool in enumerate(tools)]
    parallel = None
    if body.get("tool_choice") is not None:
        choice = _tool_choice(body["tool_choice"])
        parallel = _parallel_tool_calls(body["tool_choice"])
        if tools:  # without tools there is nothing to choose from
            request["tool_choice"] = choice
    if stop := _stop_sequences(body.get("stop_sequences")):
        request["stop_sequences"] = stop
    translated, tool_names = _translator.translate_anthropic_to_openai(
        anthropic_message_request=request,  # type: ignore[arg-type]
        drop_params=True,
    )
    chat = {name: translated[name] for name in TRANSLATED if name in translated}
    chat.update({name: body[name] for name in SCALARS if name in body})
    if (response_format := _response_format(body)) is not None:
        chat["response_format"] = response_format
    if (user_id := _user_id(body.get("metadata"))) is not None:
        chat["user"] = user_id
    if parallel is not None and tools:
        chat["parallel_tool_calls"] = parallel
    return chat, tool_names


def anthropic_terms(error: InvalidInput) -> InvalidInput:
    """A refusal by the chat parser (or a provider check), with the fields named as
    this API names them."""
    if isinstance(error, RequestInvalid) and isinstance(error.errors, dict):
        return RequestInvalid(
            {FIELD_NAMES.get(k, k): v for k, v in error.errors.items()}
        )
    param = getattr(error, "param", None)
    if isinstance(error, ParamInvalid) and param in FIELD_NAMES:
        detail = error.detail.replace(param, FIELD_NAMES[param], 1)
        return ParamInvalid(detail, param=FIELD_NAMES[param])
    return error


def messages_request_parse(
    body: dict[str, Any], *, counting: bool = False
) -> MessagesRequest:
    """A Messages body (a count_tokens one when `counting`: no max_tokens needed),
    validated by the chat parser once translated."""
    if not counting and body.get("max_tokens") is None:
        raise _invalid("max_tokens", "is required")
    chat_body, tool_names = _chat_body(body)
    if counting:
        chat_body.pop("stream", None)
    try:
        chat = chat_request_parse(chat_body)
    except ValidationError as exc:
        raise anthropic_terms(RequestInvalid(exc.detail)) from None  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise anthropic_terms(exc) from None
    return MessagesRequest(
        call=chat.call, stream=chat.stream, user_id=chat.user_id, tool_names=tool_names
    )
