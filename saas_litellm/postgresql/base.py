"""Django's PostgreSQL backend, with a pool wait that tells busy from down, and
transactions and savepoints in pipeline mode that wait only where they must.

A request waits DATABASE_POOL_TIMEOUT for a pooled connection. With the database
unreachable that wait is all it should take (a fast JSON 503). But while the pool's
connections are lent out, the database is answering: the process is busy (a burst
of streams admitted and settled at once), and refusing would turn a moment's queue
into lost requests. So then the request waits on, up to DATABASE_POOL_BUSY_TIMEOUT
in all, as a pooler such as PgBouncer queues its clients (`query_wait_timeout`).
And once a wait has ended with nothing lent (the database unreachable), requests
for a connection are refused at once for the next DATABASE_POOL_TIMEOUT, rather
than each waiting it out: a worker runs the API's database work on a few threads
(jobs/pipeline.py, database_threads_start), and requests queued behind them would
otherwise wait one timeout after another for their 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import PoolTimeout

logger = logging.getLogger(__name__)

# Connections lent out of each alias's pool in this process. (The pool's own
# `pool_size` also counts connections it is still trying to open, which, with the
# database down, would look like a busy pool.)
_lent: Counter[str] = Counter()
_lent_lock = threading.Lock()
# When each pool last failed to give a connection with none lent (monotonic time).
_unreachable_at: WeakKeyDictionary[Any, float] = WeakKeyDictionary()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        started = time.monotonic()
        refused_at = _unreachable_at.get(pool) if pool is not None else None
        if refused_at is not None and started - refused_at < pool.timeout:
            raise PoolTimeout("the database was unreachable a moment ago")
        deadline = started + settings.DATABASE_POOL_BUSY_TIMEOUT
        while True:
            try:
                connection = super().get_new_connection(conn_params)
            except PoolTimeout:
                if not self._pool_busy():
                    if pool is not None:
                        _unreachable_at[pool] = time.monotonic()
                    raise
                if time.monotonic() >= deadline:
                    raise
                logger.info("database pool busy: still waiting for a connection")
            else:
                self._begun_in_pipeline = False
                if pool is not None:
                    _unreachable_at.pop(pool, None)
                    with _lent_lock:
                        _lent[self.alias] += 1
                return connection

    def _close(self) -> None:
        lent = self.pool is not None and self.connection is not None
        try:
            super()._close()
        finally:
            if lent:
                with _lent_lock:
                    _lent[self.alias] -= 1

    # A transaction begun in a pipeline (saas_litellm.sql.pipelined) by the BEGIN
    # statement of its own, the connection left in psycopg's autocommit mode.
    _begun_in_pipeline = False

    def _set_autocommit(self, autocommit: bool) -> None:
        # psycopg, told to leave autocommit mode in a pipeline, syncs it (a round
        # trip, to learn that no transaction is open), then sends BEGIN and syncs
        # again, and syncs once more back in autocommit after the COMMIT: three
        # round trips per transaction that carry nothing. Here BEGIN is a statement
        # sent with those after it, and the commit (_commit) the transaction's one
        # wait. Django keeps its own flag: atomic blocks, savepoints and on_commit
        # behave as in any transaction. A rollback is psycopg's own, in any mode: it
        # syncs, sees the transaction open, rolls back, then forgets its prepared
        # statements and deallocates them on the server at once. (A ROLLBACK sent
        # as a statement, whose answer psycopg reads later, gave "prepared statement
        # does not exist" errors under a burst of refused requests.)
        from saas_litellm.sql import pipeline_of

        if autocommit and self._begun_in_pipeline:  # the commit or rollback ended it
            self._begun_in_pipeline = False
            if self.connection.autocommit:
                return
        elif (
            not autocommit and pipeline_of() is not None and self.connection.autocommit
        ):
            with self.wrap_database_errors:
                self.connection.execute("BEGIN")
            self._begun_in_pipeline = True
            return
        super()._set_autocommit(autocommit)

    def _commit(self) -> None:
        if not self._begun_in_pipeline:
            super()._commit()
            return
        from saas_litellm.sql import pipeline_of

        with self.wrap_database_errors:
            self.connection.execute("COMMIT")
            pipeline_of().sync()  # every answer, the commit's last

    def _savepoint_commit(self, sid: str) -> None:
        # Released like a commit, waiting for every answer in the pipeline: an
        # error of a statement that was not waited for (saas_litellm.sql.run) is
        # then raised here, inside its atomic block, which rolls the savepoint back
        # as it would on a real commit.
        from saas_litellm.sql import answered

        super()._savepoint_commit(sid)
        answered()

    def _savepoint_rollback(self, sid: str) -> None:
        # In pipeline mode (saas_litellm.sql.pipelined) a failed statement leaves
        # the pipeline aborted until its next sync, and every statement sent before
        # then is skipped: this rollback too. psycopg's own rollback() gets out of
        # that state first; so does this.
        from saas_litellm.sql import pipeline_recover

        pipeline_recover()
        super()._savepoint_rollback(sid)

    def _pool_busy(self) -> bool:
        """Connections of the pool are lent out, so the database answered them: the
        pool is at its size, or opening more as fast as this busy process lets it.
        With the database down from the start nothing is lent: no wait. (Gone down
        under load, the lent connections fail at their next statement and come back
        broken, so a waiter gives up after a wait or two.)"""
        return self.pool is not None and _lent[self.alias] > 0
