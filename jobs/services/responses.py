"""Stored responses of /v1/responses: what a later turn's `previous_response_id`
expands to, and what `GET`/`DELETE /v1/responses/{id}` read and remove.

The gateway keeps each response it produced (unless the request said `store:
false`), scoped to the team, and expands a `previous_response_id` itself: the
input and output items of every ancestor, oldest first, come before the new
turn's input. So a chain works whichever provider serves its next turn and
whichever server process receives it; the id is never sent to a provider.
`instructions` are not part of the history (OpenAI's rule: each request gives its
own).

A deleted response is gone: it cannot be continued, nor can the responses that
continued it (their history has a hole). Chains are capped in turns and in
characters, so that one id cannot make the gateway load an unbounded history.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from jobs.models import LLMCall, StoredResponse
from saas_litellm.exceptions import InvalidInput, NotFound
from teams.models import Team

RESPONSE_ID = re.compile(r"resp_[A-Za-z0-9]{1,100}")
# At most this many earlier turns, and this many characters of their items as
# JSON, make a turn's history.
MAX_CHAIN_TURNS = 100
MAX_CHAIN_CHARS = 8_000_000


class ResponseIdInvalid(InvalidInput):
    """A 400: not a response id at all (no lookup is made)."""

    def __init__(self, *, param: str | None) -> None:
        where = f"'{param}'" if param else "response id"
        super().__init__(f"Invalid {where}: expected an id such as 'resp_…'.")
        self.param = param


class ResponseNotFound(NotFound):
    def __init__(self, response_id: str, *, param: str | None = None) -> None:
        super().__init__(f"Response with id '{response_id}' not found.")
        self.param = param


class ChainTooLong(InvalidInput):
    param = "previous_response_id"


@dataclass(frozen=True)
class ResponseHistory:
    """What a turn continues: the previous response's id, the whole chain's ids
    (oldest first, the previous one last) and their items in order."""

    previous_response_id: str
    ancestor_ids: list[str]
    items: list[dict[str, Any]]
    chars: int


def response_id_new() -> str:
    return f"resp_{secrets.token_hex(24)}"


def response_id_check(value: Any, *, param: str | None = None) -> str:
    """`value` if it can be a response id (else a 400, before any query: odd
    characters such as NUL never reach the database)."""
    if not isinstance(value, str) or not RESPONSE_ID.fullmatch(value):
        raise ResponseIdInvalid(param=param)
    return value


def _items_chars(*item_lists: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(items)) for items in item_lists)


def response_history(*, team: Team, previous_response_id: Any) -> ResponseHistory:
    """The history a turn continuing `previous_response_id` starts with. Unknown,
    deleted or another team's: 404 (before anything is written); a chain longer
    than the caps: 400. Two queries, whatever the chain's length."""
    param = "previous_response_id"
    response_id = response_id_check(previous_response_id, param=param)
    stored = StoredResponse.objects.for_team(team)
    previous = (
        stored.filter(response_id=response_id).values_list("ancestor_ids").first()
    )
    if previous is None:
        raise ResponseNotFound(response_id, param=param)
    chain = [*previous[0], response_id]
    if len(chain) > MAX_CHAIN_TURNS:
        raise ChainTooLong(
            f"previous_response_id: a conversation of at most {MAX_CHAIN_TURNS} "
            "responses can be continued; start a new one with its history as input."
        )
    rows = {
        row.response_id: row
        for row in stored.filter(response_id__in=chain).only(
            "response_id", "input_items", "body", "size"
        )
    }
    for ancestor in chain:
        if ancestor not in rows:
            raise ResponseNotFound(ancestor, param=param)
    chars = sum(row.size for row in rows.values())
    if chars > MAX_CHAIN_CHARS:
        raise ChainTooLong(
            f"previous_response_id: the conversation holds more than "
            f"{MAX_CHAIN_CHARS} characters; start a new one."
        )
    items = [
        item
        for ancestor in chain
        for item in (*rows[ancestor].input_items, *rows[ancestor].body["output"])
    ]
    return ResponseHistory(
        previous_response_id=response_id, ancestor_ids=chain, items=items, chars=chars
    )


def _storable(value: Any) -> Any:
    """`value` without NUL characters (PostgreSQL's jsonb cannot hold them): a
    provider's text may carry one, requests cannot (the JSON reader refuses it)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def stored_response_create(
    *,
    team: Team,
    response_id: str,
    call: LLMCall,
    history: ResponseHistory | None,
    input_items: list[dict[str, Any]],
    body: dict[str, Any],
) -> StoredResponse:
    """Keep a response the gateway produced, for GET and for later turns."""
    with transaction.atomic():
        return StoredResponse.objects.create(
            response_id=response_id,
            team=team,
            call=call,
            model_alias=call.model_alias,
            previous_response_id=history.previous_response_id if history else "",
            ancestor_ids=history.ancestor_ids if history else [],
            input_items=_storable(input_items),
            body=_storable(body),
            size=_items_chars(input_items, body["output"]),
        )


def stored_response_get(*, team: Team, response_id: str) -> StoredResponse:
    """The team's stored response (another team's, deleted or unknown: 404)."""
    response_id_check(response_id)
    stored = StoredResponse.objects.for_team(team).filter(response_id=response_id)
    found = stored.first()
    if found is None:
        raise ResponseNotFound(response_id)
    return found


def stored_response_delete(*, team: Team, response_id: str) -> None:
    """Delete the team's stored response (another team's or unknown: 404). The
    responses that continued it can no longer be continued."""
    response_id_check(response_id)
    with transaction.atomic():
        deleted, _ = (
            StoredResponse.objects.for_team(team)
            .filter(response_id=response_id)
            .delete()
        )
    if not deleted:
        raise ResponseNotFound(response_id)
