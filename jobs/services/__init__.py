"""Jobs and their LLM calls: every write (create, call start/finish, complete, expire).

- jobs: a job's life, from create to complete/fail/expire, and its charge;
- calls: an LLM call, on an open job or as a one-call job, reserved and recorded
  around the provider call in two short transactions;
- responses: the /v1/responses answers kept for GET and `previous_response_id`;
- payloads: a call's prompt and answer, kept when its team logs payloads.

Reads live in `jobs.selectors`; the order of the stages of a call is `jobs.pipeline`'s.
"""

from jobs.services.calls import (
    CallOutcome,
    CallRequest,
    CallTicket,
    NewJob,
    llm_call_finish,
    llm_call_start,
    one_call_job_start,
)
from jobs.services.jobs import (
    STALE_CALL_AFTER,
    calls_in_progress,
    job_complete,
    job_create,
    job_get,
    job_lock,
    job_metadata_update,
    job_settle,
    job_usage,
    jobs_expire,
    metadata_check,
    team_can_work_check,
    team_status_check,
)
from jobs.services.responses import (
    ResponseHistory,
    response_history,
    response_id_new,
    stored_response_create,
    stored_response_delete,
    stored_response_get,
)

__all__ = [
    "STALE_CALL_AFTER",
    "CallOutcome",
    "CallRequest",
    "CallTicket",
    "NewJob",
    "ResponseHistory",
    "calls_in_progress",
    "job_complete",
    "job_create",
    "job_get",
    "job_lock",
    "job_metadata_update",
    "job_settle",
    "job_usage",
    "jobs_expire",
    "llm_call_finish",
    "llm_call_start",
    "metadata_check",
    "one_call_job_start",
    "response_history",
    "response_id_new",
    "stored_response_create",
    "stored_response_delete",
    "stored_response_get",
    "team_can_work_check",
    "team_status_check",
]
