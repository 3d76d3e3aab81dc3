"""One-call jobs in one statement each way, on PostgreSQL (see jobs/one_call.py).

`one_call_job_open` checks the team, reserves credits, and inserts the job, its hold
and its call; `one_call_job_close` records the call's outcome and closes the job,
capturing or releasing its hold and writing the deduction. They apply the rules of
jobs.services and credits.services (job_call_start, job_call_finish, job_close,
credit_capture, credit_release, credits_for_job) in the same order and with the same
locks (job row, then account row, then hold), and tests hold the two ways to the same
results. Each runs as one statement, so it is one transaction and one round trip.
"""

from django.db import migrations

CREDITS_FOR_JOB = """
CREATE OR REPLACE FUNCTION credits_for_job(
    budget_mode text, tokens_per_credit bigint, credits_per_dollar numeric,
    total_tokens bigint, client_cost numeric, minimum bigint
) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(minimum, CASE budget_mode
        WHEN 'consumption_tokens' THEN (total_tokens + tokens_per_credit - 1)
                                       / tokens_per_credit
        WHEN 'consumption_usd' THEN ceil(client_cost * credits_per_dollar)::bigint
        ELSE minimum
    END)
$$;
"""

JOB_OPEN = """
CREATE OR REPLACE FUNCTION one_call_job_open(
    p_team_id bigint, p_job_id uuid, p_job_type text, p_user_id text,
    p_metadata jsonb, p_call_id uuid, p_alias text, p_purpose text,
    p_streamed boolean, p_reserved_tokens bigint, p_reserved_cost numeric,
    p_call_metadata jsonb, p_credits bigint, p_hold_id uuid,
    p_hold_expires_at timestamptz, p_now timestamptz,
    OUT refusal text, OUT job_pk bigint, OUT call_pk bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    team_status text;
    account_pk bigint;
BEGIN
    SELECT status INTO team_status FROM teams_team WHERE id = p_team_id;
    IF team_status IN ('suspended', 'paused') THEN
        refusal := 'team_' || team_status;
        RETURN;
    END IF;
    -- The check and the reservation in one conditional UPDATE (credit_reserve).
    UPDATE credits_creditaccount
       SET credits_reserved = credits_reserved + p_credits, updated_at = p_now
     WHERE team_id = p_team_id
       AND credits_allocated >= credits_used + credits_reserved + p_credits
    RETURNING id INTO account_pk;
    IF account_pk IS NULL THEN
        refusal := 'insufficient_credits';
        RETURN;
    END IF;
    INSERT INTO jobs_job (
        job_id, team_id, user_id, job_type, metadata, status, error_message,
        credits_charged, created_at, started_at, completed_at, last_activity_at
    ) VALUES (
        p_job_id, p_team_id, p_user_id, p_job_type, p_metadata, 'in_progress', '',
        NULL, p_now, p_now, NULL, p_now
    ) RETURNING id INTO job_pk;
    INSERT INTO credits_credithold (
        hold_id, account_id, job_id, amount, status, expires_at, created_at, closed_at
    ) VALUES (
        p_hold_id, account_pk, p_job_id, p_credits, 'open', p_hold_expires_at,
        p_now, NULL
    );
    INSERT INTO jobs_llmcall (
        call_id, job_id, team_id, model_alias, model_used, purpose, status,
        streamed, prompt_tokens, completion_tokens, total_tokens,
        provider_cost_usd, client_cost_usd, reserved_tokens, reserved_cost_usd,
        latency_ms, finish_reason, error, call_metadata, created_at, completed_at
    ) VALUES (
        p_call_id, job_pk, p_team_id, p_alias, '', p_purpose, 'in_progress',
        p_streamed, 0, 0, 0, 0, 0, p_reserved_tokens, p_reserved_cost,
        NULL, '', '', p_call_metadata, p_now, NULL
    ) RETURNING id INTO call_pk;
END;
$$;
"""

JOB_CLOSE = """
CREATE OR REPLACE FUNCTION one_call_job_close(
    p_call_pk bigint, p_job_pk bigint, p_now timestamptz, p_succeeded boolean,
    p_model_used text, p_prompt_tokens bigint, p_completion_tokens bigint,
    p_total_tokens bigint, p_provider_cost numeric, p_client_cost numeric,
    p_latency_ms bigint, p_finish_reason text, p_error text,
    p_close boolean, p_job_error text, p_stale_before timestamptz,
    p_minimum_charge bigint,
    OUT refusal text, OUT job_status text, OUT credits_charged bigint,
    OUT completed_at timestamptz, OUT credits_remaining bigint,
    OUT charge_wanted bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    job jobs_job%ROWTYPE;
    team teams_team%ROWTYPE;
    account credits_creditaccount%ROWTYPE;
    hold credits_credithold%ROWTYPE;
    target text := CASE WHEN p_succeeded THEN 'completed' ELSE 'failed' END;
    used_tokens bigint;
    used_cost numeric;
    running bigint;
    held bigint := 0;
    charge bigint := 0;
BEGIN
    UPDATE jobs_llmcall SET
        status = CASE WHEN p_succeeded THEN 'succeeded' ELSE 'failed' END,
        model_used = p_model_used, prompt_tokens = p_prompt_tokens,
        completion_tokens = p_completion_tokens, total_tokens = p_total_tokens,
        provider_cost_usd = p_provider_cost, client_cost_usd = p_client_cost,
        latency_ms = p_latency_ms, finish_reason = p_finish_reason,
        error = p_error, completed_at = p_now
    WHERE id = p_call_pk;
    IF NOT p_close THEN
        UPDATE jobs_job SET last_activity_at = p_now WHERE id = p_job_pk;
        RETURN;
    END IF;
    -- Only the job row is locked first, as job_complete does.
    SELECT * INTO job FROM jobs_job WHERE id = p_job_pk FOR UPDATE;
    IF job.status NOT IN ('pending', 'in_progress') THEN
        job_status := job.status;
        credits_charged := job.credits_charged;
        completed_at := job.completed_at;
        IF job.status <> target THEN
            refusal := 'closed';
        END IF;
        RETURN;
    END IF;
    IF job.created_at < p_stale_before THEN
        UPDATE jobs_llmcall SET status = 'failed',
            error = 'provider_error: abandoned (no outcome recorded)',
            completed_at = p_now
        WHERE job_id = p_job_pk AND status = 'in_progress'
          AND created_at < p_stale_before;
    END IF;
    SELECT coalesce(sum(total_tokens) FILTER (WHERE status = 'succeeded'), 0),
           coalesce(sum(client_cost_usd) FILTER (WHERE status = 'succeeded'), 0),
           count(*) FILTER (WHERE status = 'in_progress')
      INTO used_tokens, used_cost, running
      FROM jobs_llmcall WHERE job_id = p_job_pk;
    IF running > 0 THEN
        refusal := 'calls_in_progress';
        job_status := job.status;
        RETURN;
    END IF;
    SELECT * INTO account FROM credits_creditaccount
     WHERE team_id = job.team_id FOR UPDATE;
    SELECT * INTO hold FROM credits_credithold
     WHERE account_id = account.id AND job_id = job.job_id FOR UPDATE;
    IF hold.status IN ('captured', 'released') THEN
        RAISE EXCEPTION 'job % is open but its hold is %', job.job_id, hold.status;
    END IF;
    IF hold.status = 'open' THEN
        held := hold.amount;
    END IF;
    IF target = 'completed' THEN
        SELECT * INTO team FROM teams_team WHERE id = job.team_id;
        charge_wanted := credits_for_job(
            team.budget_mode, team.tokens_per_credit, team.credits_per_dollar,
            used_tokens, used_cost, p_minimum_charge
        );
        -- Never overdraw: at most the hold plus what is still available.
        charge := least(
            charge_wanted,
            held + account.credits_allocated - account.credits_used
                 - account.credits_reserved
        );
        UPDATE credits_creditaccount
           SET credits_reserved = credits_reserved - held,
               credits_used = credits_used + charge, updated_at = p_now
         WHERE id = account.id;
        IF hold.id IS NULL THEN
            INSERT INTO credits_credithold (
                hold_id, account_id, job_id, amount, status, expires_at,
                created_at, closed_at
            ) VALUES (
                gen_random_uuid(), account.id, job.job_id, 0, 'captured', p_now,
                p_now, p_now
            );
        ELSE
            UPDATE credits_credithold SET status = 'captured', closed_at = p_now
             WHERE id = hold.id;
        END IF;
        IF charge > 0 THEN
            INSERT INTO credits_ledgerentry (
                transaction_id, account_id, entry_type, amount, balance_before,
                balance_after, reason, actor, job_id, idempotency_key,
                payment_type, payment_amount_usd, created_at
            ) VALUES (
                gen_random_uuid(), account.id, 'deduction', -charge,
                account.credits_allocated - account.credits_used,
                account.credits_allocated - account.credits_used - charge,
                left('Job ' || job.job_type, 500), '', job.job_id, '', '', NULL,
                p_now
            );
            credits_remaining := account.credits_allocated - account.credits_used
                - charge - (account.credits_reserved - held);
        END IF;
    ELSIF hold.status = 'open' THEN
        UPDATE credits_creditaccount
           SET credits_reserved = credits_reserved - held, updated_at = p_now
         WHERE id = account.id;
        UPDATE credits_credithold SET status = 'released', closed_at = p_now
         WHERE id = hold.id;
    END IF;
    UPDATE jobs_job SET
        status = target, credits_charged = charge, completed_at = p_now,
        last_activity_at = p_now,
        error_message = CASE WHEN p_job_error <> '' THEN p_job_error
                             ELSE error_message END
    WHERE id = p_job_pk;
    job_status := target;
    credits_charged := charge;
    completed_at := p_now;
END;
$$;
"""

FUNCTIONS = ("credits_for_job", "one_call_job_open", "one_call_job_close")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (CREDITS_FOR_JOB, JOB_OPEN, JOB_CLOSE):
        schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in reversed(FUNCTIONS):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name} CASCADE;", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_viewer_group"),
        ("credits", "0002_ledger_append_only"),
        ("teams", "0003_catalogue_version"),
    ]

    operations = [migrations.RunPython(forward, backward)]
