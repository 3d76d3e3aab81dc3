"""Jobs and their LLM calls: every write (create, call start/finish, complete, expire).

- jobs: a job's life, from create to complete/fail/expire, and its charge;
- llm_calls: a call on an open job, reserved and recorded around the provider call;
- one_call_jobs: a job with exactly one call (/v1/chat/completions, create-and-call),
  in two short transactions, one statement each on PostgreSQL.

Reads live in `jobs.selectors`.
"""

from jobs.services.jobs import (
    STALE_CALL_AFTER,
    calls_in_progress,
    job_close,
    job_complete,
    job_create,
    job_get,
    job_metadata_update,
    jobs_expire,
    metadata_check,
    team_can_work_check,
    team_status_check,
)
from jobs.services.llm_calls import (
    CallRequest,
    CallTicket,
    call_routes,
    llm_call_finish,
    llm_call_start,
)
from jobs.services.one_call_jobs import (
    CallOutcome,
    job_call_finish,
    job_call_start,
)

__all__ = [
    "STALE_CALL_AFTER",
    "CallOutcome",
    "CallRequest",
    "CallTicket",
    "call_routes",
    "calls_in_progress",
    "job_call_finish",
    "job_call_start",
    "job_close",
    "job_complete",
    "job_create",
    "job_get",
    "job_metadata_update",
    "jobs_expire",
    "llm_call_finish",
    "llm_call_start",
    "metadata_check",
    "team_can_work_check",
    "team_status_check",
]
