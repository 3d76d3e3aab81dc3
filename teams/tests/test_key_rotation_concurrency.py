"""Concurrent rotations of one key issue exactly one successor (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from saas_litellm.exceptions import Conflict
from teams.models import VirtualKey
from teams.services import virtual_key_rotate

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rollups_agree"),
]


def rotate_concurrently(issued, idempotency_key: str | None, threads: int = 4) -> list:
    barrier = threading.Barrier(threads)
    outcomes: list = []

    def worker() -> None:
        try:
            barrier.wait()
            outcomes.append(
                virtual_key_rotate(
                    team=issued.key.team,
                    key_id=issued.key.key_id,
                    grace_seconds=60,
                    idempotency_key=idempotency_key,
                    actor="tests",
                )
            )
        except Conflict as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return outcomes


def test_concurrent_rotations_issue_one_key(issued_team_key):
    outcomes = rotate_concurrently(issued_team_key, idempotency_key=None)
    rotated = [o for o in outcomes if not isinstance(o, Conflict)]
    assert len(rotated) == 1
    assert len(outcomes) == 4
    assert VirtualKey.objects.filter(rotated_from=issued_team_key.key).count() == 1


def test_concurrent_retries_with_one_idempotency_key_share_the_new_key(
    issued_team_key,
):
    outcomes = rotate_concurrently(issued_team_key, idempotency_key="same-retry")
    assert {o.key.key_id for o in outcomes} == {
        VirtualKey.objects.get(rotated_from=issued_team_key.key).key_id
    }
    assert sum(o.plaintext is not None for o in outcomes) == 1
