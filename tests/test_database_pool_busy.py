"""A request queues for a pooled connection while the pool's connections are lent
out (the database answers, the process is busy) up to DATABASE_POOL_BUSY_TIMEOUT,
and still fails after DATABASE_POOL_TIMEOUT when the database is unreachable
(saas_litellm/postgresql/base.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from psycopg_pool import PoolTimeout

from saas_litellm.postgresql.base import DatabaseWrapper

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

POOL_TIMEOUT = 0.2


def wrapper(**changes: Any) -> DatabaseWrapper:
    """A connection on a pool of one, the same pool for every wrapper made here."""
    settings_dict = {
        **connections["default"].settings_dict,
        "CONN_MAX_AGE": 0,
        **changes,
    }
    settings_dict["OPTIONS"] = {
        **settings_dict["OPTIONS"],
        "pool": {"min_size": 1, "max_size": 1, "timeout": POOL_TIMEOUT},
    }
    return DatabaseWrapper(settings_dict, alias="pool_busy_test")


@pytest.fixture
def held() -> Iterator[DatabaseWrapper]:
    """The pool's only connection, lent out (and handed back by the test)."""
    holder = wrapper()
    holder.connect()
    holder.inc_thread_sharing()  # handed back from a timer thread
    yield holder
    holder.close()
    holder.close_pool()


def test_a_request_keeps_its_place_while_every_connection_is_in_use(settings, held):
    """The connection comes back after 1 s, five pool timeouts: still served."""
    settings.DATABASE_POOL_BUSY_TIMEOUT = 5
    waiter = wrapper()
    started = time.monotonic()
    threading.Timer(1.0, held.close).start()
    waiter.connect()
    seconds = time.monotonic() - started
    waiter.close()
    assert 0.9 < seconds < 5


def test_without_the_busy_wait_it_fails_after_the_pool_timeout(settings, held):
    settings.DATABASE_POOL_BUSY_TIMEOUT = 0
    started = time.monotonic()
    with pytest.raises(PoolTimeout):
        wrapper().connect()
    assert time.monotonic() - started < 1.0


def test_the_busy_wait_ends_at_its_timeout(settings, held):
    settings.DATABASE_POOL_BUSY_TIMEOUT = 1
    started = time.monotonic()
    with pytest.raises(PoolTimeout):
        wrapper().connect()
    assert 1 <= time.monotonic() - started < 1 + 2 * POOL_TIMEOUT + 0.5


def test_an_unreachable_database_is_not_waited_for(settings):
    settings.DATABASE_POOL_BUSY_TIMEOUT = 5
    unreachable = wrapper(PORT="1")
    started = time.monotonic()
    try:
        with pytest.raises(PoolTimeout):
            unreachable.connect()
    finally:
        unreachable.close_pool()
    assert time.monotonic() - started < 1.0


def test_once_unreachable_requests_are_refused_at_once_for_a_pool_timeout(settings):
    settings.DATABASE_POOL_BUSY_TIMEOUT = 5
    unreachable = wrapper(PORT="1")
    try:
        with pytest.raises(PoolTimeout):
            unreachable.connect()  # waits the pool's timeout
        started = time.monotonic()
        with pytest.raises(PoolTimeout, match="unreachable a moment ago"):
            unreachable.connect()
        assert time.monotonic() - started < POOL_TIMEOUT / 2
        time.sleep(POOL_TIMEOUT)
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            unreachable.connect()  # tried again, and waited for
        assert time.monotonic() - started >= POOL_TIMEOUT * 0.9
    finally:
        unreachable.close_pool()
