"""Chains of stored responses, through the service: capped in turns, and broken
for good by a deleted ancestor."""

from __future__ import annotations

import pytest

from jobs.models import Job, LLMCall
from jobs.services import (
    response_history,
    response_id_new,
    stored_response_create,
    stored_response_delete,
)
from jobs.services.responses import MAX_CHAIN_TURNS
from saas_litellm.exceptions import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(team):
    job = Job.objects.create(team=team, job_type="responses")
    return LLMCall.objects.create(job=job, team=team, model_alias="chat")


def chain(team, call, turns: int) -> list[str]:
    """`turns` stored responses, each continuing the one before."""
    ids: list[str] = []
    for turn in range(turns):
        history = (
            response_history(team=team, previous_response_id=ids[-1]) if ids else None
        )
        response_id = response_id_new()
        stored_response_create(
            team=team,
            response_id=response_id,
            call=call,
            history=history,
            input_items=[{"role": "user", "content": f"turn {turn}"}],
            body={"id": response_id, "output": []},
        )
        ids.append(response_id)
    return ids


def test_a_chain_expands_to_every_turn_in_order(team, call):
    ids = chain(team, call, 3)
    history = response_history(team=team, previous_response_id=ids[-1])
    assert history.ancestor_ids == ids
    assert [item["content"] for item in history.items] == ["turn 0", "turn 1", "turn 2"]


def test_a_chain_longer_than_the_cap_is_a_400(team, call):
    ids = chain(team, call, MAX_CHAIN_TURNS + 1)
    with pytest.raises(InvalidInput) as refused:
        response_history(team=team, previous_response_id=ids[-1])
    assert refused.value.param == "previous_response_id"


def test_a_deleted_ancestor_breaks_the_chain_after_it(team, call):
    ids = chain(team, call, 3)
    stored_response_delete(team=team, response_id=ids[0])
    with pytest.raises(NotFound):
        response_history(team=team, previous_response_id=ids[-1])


def test_another_teams_response_is_not_found(team, other_team, call):
    (response_id,) = chain(team, call, 1)
    with pytest.raises(NotFound):
        response_history(team=other_team, previous_response_id=response_id)
    with pytest.raises(NotFound):
        stored_response_delete(team=other_team, response_id=response_id)
