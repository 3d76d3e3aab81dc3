"""The API's one strict JSON reader, and the rules for the JSON values we store.

Python's json module accepts what PostgreSQL or other JSON readers cannot take, and
each of these used to be a 500: NaN and Infinity, numbers that overflow to inf
(`1e999`), NUL characters (`\\u0000`: text and jsonb refuse them), unpaired
surrogates (`\\ud800`: not UTF-8) and documents nested so deep that decoding raises
RecursionError. Here they are 400s, decided once: `json_parse` for request bodies
(the async views call it, `StrictJSONParser` gives it to every DRF view) and
`json_value_check` for JSON values a serializer stores (metadata).
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from rest_framework import parsers, serializers

# A module import, not names: saas_litellm.exceptions imports DRF's views, which load
# StrictJSONParser from settings while exceptions is still half-imported.
from saas_litellm import exceptions

MAX_JSON_DEPTH = 64
MAX_STORED_JSON_CHARS = 16_000

NUL_REFUSED = "Null characters (\\u0000) are not allowed."
SURROGATE_REFUSED = "Unpaired surrogates (such as \\ud800) are not allowed."
NON_FINITE_REFUSED = (
    "Numbers must be finite and within a double's range (no NaN, Infinity or 1e999)."
)
TOO_DEEP = f"JSON nested more than {MAX_JSON_DEPTH} levels deep."

# json decodes a valid surrogate pair into one character, so any surrogate left in a
# string is unpaired.
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Integers past a double's range overflow wherever they become a float.
_LARGEST_NUMBER = int(sys.float_info.max)
_LARGEST_NUMBER_DIGITS = len(str(_LARGEST_NUMBER))


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:20]} is out of range. {NON_FINITE_REFUSED}")
    return value


def _bounded_int(literal: str) -> int:
    value = int(literal)
    if len(literal) >= _LARGEST_NUMBER_DIGITS and abs(value) > _LARGEST_NUMBER:
        raise ValueError(f"{literal[:20]}… is out of range. {NON_FINITE_REFUSED}")
    return value


def _no_constant(literal: str) -> float:
    raise ValueError(f"{literal} is not JSON. {NON_FINITE_REFUSED}")


_CONTAINERS = (dict, list)


def _string_problem(text: str) -> str | None:
    if found := _UNSTORABLE_CHARACTER.search(text):
        return NUL_REFUSED if found.group() == "\x00" else SURROGATE_REFUSED
    return None


def _number_problem(number: Any) -> str | None:
    if isinstance(number, float) and not math.isfinite(number):
        return NON_FINITE_REFUSED
    if isinstance(number, int) and abs(number) > _LARGEST_NUMBER:
        return NON_FINITE_REFUSED
    return None


def _json_problem(value: Any, *, depth: int = 1, strings: bool = True) -> str | None:
    """Why a decoded JSON value cannot be accepted, or None. Iterative, so depth
    costs no stack; `strings=False` skips the string checks (see json_parse)."""
    if isinstance(value, str):
        return _string_problem(value) if strings else None
    if not isinstance(value, _CONTAINERS):
        return _number_problem(value)
    pending = [(value, depth)]
    while pending:
        container, level = pending.pop()
        if level > MAX_JSON_DEPTH:
            return TOO_DEEP
        if isinstance(container, dict):
            if strings:
                for key in container:
                    if isinstance(key, str) and (problem := _string_problem(key)):
                        return problem
            container = container.values()
        for child in container:
            if isinstance(child, str):
                if strings and (problem := _string_problem(child)):
                    return problem
            elif isinstance(child, _CONTAINERS):
                pending.append((child, level + 1))
            elif problem := _number_problem(child):
                return problem
    return None


def _body_problem(data: Any, *, strings: bool) -> tuple[str, str] | None:
    """The first problem of a body, with the top-level field that holds it."""
    if not isinstance(data, dict):
        problem = _json_problem(data, strings=strings)
        return ("non_field_errors", problem) if problem else None
    for key, value in data.items():
        if strings and (problem := _string_problem(key)):
            return "non_field_errors", problem
        if problem := _json_problem(value, depth=2, strings=strings):
            return key, problem
    return None


def _malformed(reason: str) -> exceptions.InvalidInput:
    return exceptions.InvalidInput(f"Malformed request body: {reason}")


def json_parse(raw: bytes) -> Any:
    """The JSON document of a request body, or InvalidInput (400).

    Malformed JSON, a body that is not UTF-8, NaN, Infinity, numbers out of a
    double's range and nesting deeper than MAX_JSON_DEPTH are "Malformed request
    body" errors; NUL characters and unpaired surrogates are validation errors
    naming the top-level field. Any JSON type is returned: callers that need an
    object check for one.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("not valid UTF-8") from None
    try:
        data = json.loads(
            text,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise _malformed(TOO_DEEP) from None
    except ValueError as exc:  # JSONDecodeError, and integers over 4300 digits
        raise _malformed(str(exc)) from None
    # NUL and surrogates can only arrive as \\u escapes (raw control characters are
    # malformed JSON), and deep nesting needs brackets: most bodies skip the walk.
    strings = "\\u0000" in text or _SURROGATE_ESCAPE.search(text) is not None
    if not strings and text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return data
    if (found := _body_problem(data, strings=strings)) is not None:
        field, problem = found
        if problem == TOO_DEEP:
            raise _malformed(TOO_DEEP)
        raise exceptions.RequestInvalid({field: [problem]})
    return data


class StrictJSONParser(parsers.JSONParser):
    """DRF's JSON parser with json_parse's rules: every DRF view reads bodies alike.

    It raises InvalidInput, which the API's exception handler answers as
    `{"detail": …, "code": "invalid_request"}` (400) like every other bad input.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        # RFC 8259: JSON exchanged between systems is UTF-8, whatever the charset.
        return json_parse(stream.read())


def json_value_check(
    value: Any, *, name: str, max_chars: int = MAX_STORED_JSON_CHARS
) -> None:
    """Refuses (serializers.ValidationError) a JSON value we could not store or that
    is too large to keep: NUL characters and unpaired surrogates in keys or strings,
    non-finite numbers, nesting over MAX_JSON_DEPTH, more than `max_chars` as JSON.
    `name` starts the size message ("Metadata must be at most …")."""
    if problem := _json_problem(value):
        raise serializers.ValidationError(problem)
    if len(json.dumps(value, ensure_ascii=False)) > max_chars:
        raise serializers.ValidationError(
            f"{name} must be at most {max_chars} characters as JSON."
        )


def json_value_validator(
    name: str, *, max_chars: int = MAX_STORED_JSON_CHARS
) -> Callable[[Any], None]:
    """json_value_check as a serializer field validator."""
    return functools.partial(json_value_check, name=name, max_chars=max_chars)


def metadata_field(**kwargs: Any) -> serializers.DictField:
    """A stored `metadata` object: a JSON object held to json_value_check."""
    validators = [json_value_validator("Metadata")]
    return serializers.DictField(validators=validators, **kwargs)
