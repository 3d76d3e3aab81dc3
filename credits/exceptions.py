"""Errors of the credits API beyond those in saas_litellm.exceptions."""

from __future__ import annotations

from typing import Any

from saas_litellm.exceptions import InvalidInput


class RequestInvalid(InvalidInput):
    """A 400 whose detail names the first problem and whose `errors` lists them all."""

    def __init__(self, errors: dict[str, Any]) -> None:
        self.errors = errors
        super().__init__(f"Invalid request: {_first_problem(errors)}")

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


def _first_problem(errors: Any, path: str = "") -> str:
    if isinstance(errors, dict) and errors:
        field, value = next(iter(errors.items()))
        label = "body" if field == "non_field_errors" else field
        return _first_problem(value, f"{path}.{label}" if path else label)
    if isinstance(errors, list) and errors:
        return _first_problem(errors[0], path)
    return f"{path}: {errors}" if path else str(errors)
