"""Build a large, valid dataset for the scale benchmark (bench/scale_bench.py).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale_2m \\
        .venv/bin/python bench/scale_data.py --fresh --calls 2000000 --teams 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale_100k \\
        .venv/bin/python bench/scale_data.py --fresh --calls 100000 --teams 1000

Only databases whose name starts with `scale_` are accepted. `--fresh` drops and
creates the database (on the server's `postgres` maintenance database) first; then
`migrate` runs and the data is written with set-based SQL (INSERT … SELECT over
generate_series), never row by row:

- ~10 organizations, `--teams` teams (the first, `hot-team`, holds `--hot` = 30 % of
  the jobs and calls; the others share the rest evenly), one virtual key each (a
  digest that is no real key's: the bench issues a real key for the hot team);
- `--calls`/2 jobs, each completed with 2 succeeded calls, created over the last
  `--days` days (ids in time order, as the server writes them), charged 1 credit:
  a captured hold and a deduction ledger entry per job. The hot team uses 3 aliases,
  4 job types and 20 end users (on 80 % of its jobs); every other team one alias,
  one job type and no end user (so a rollup row per active team and day);
- each team's ledger is a valid chain (ids increasing in chain order): an
  allocation first (its jobs + 1000 credits), then its deductions and +1
  replenishments in time order, enough of those for `--ledger` entries in all
  (default: as many as calls). The accounts' allocated/used/reserved are the
  ledger's sums (reserved 0: no hold is open);
- usage rollups and their totals across teams: set-based in the shape
  `usage.services.rollups` recomputes (`--rollups sql`, default), or by
  `manage.py rollups_rebuild` (`--rollups command`: one ORM write per group,
  minutes on 2 M calls).

The big tables' secondary indexes and unique/foreign-key constraints are dropped
during the load and rebuilt after it (a foreign key is validated when it is added
back), then VACUUM ANALYZE. Unless `--no-verify`, `reconcile_credits --full` and
`rollups_rebuild --check` must pass. Each step prints its time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

# Tables loaded in bulk: their secondary indexes and unique/foreign-key constraints
# are dropped for the load and rebuilt after it.
BULK_TABLES = (
    "jobs_job",
    "jobs_llmcall",
    "credits_credithold",
    "credits_ledgerentry",
    "usage_usagedaily",
)
ALIASES = ("gpt-4o-mini", "claude-haiku", "llama-3-70b")
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "groq/llama-3-70b")
JOB_TYPES = ("chat", "summarize", "extract", "classify")
ORGANIZATIONS = 10
HOT_TEAM = "hot-team"
TOTAL_SHARDS = 16  # usage.models.TOTAL_SHARDS: the check after the build fails if not

TIMINGS: list[tuple[str, float]] = []


def log(message: str) -> None:
    print(message, flush=True)


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    log(f"-- {name} …")
    yield
    elapsed = time.perf_counter() - started
    TIMINGS.append((name, elapsed))
    log(f"   {name}: {elapsed:.1f} s")


def sql_array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


def database_url_with(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_fresh(url: str, name: str) -> None:
    with psycopg.connect(database_url_with(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())


def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    if check and done.returncode:
        raise SystemExit(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


# --- Indexes and constraints around the load ------------------------------------------


def secondary_definitions(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """(CREATE INDEX statements, ALTER TABLE … ADD CONSTRAINT statements) of the bulk
    tables' secondary indexes and unique/foreign-key constraints (not the keys)."""
    tables = list(BULK_TABLES)
    constraints = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),"
        " c.contype"
        " FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[])"
        " AND c.contype IN ('u', 'f') ORDER BY c.contype DESC, c.conname",
        [tables],
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
        " FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[])"
        " AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
        " WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u'))"
        " ORDER BY 1",
        [tables],
    ).fetchall()
    adds = [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition, _ in constraints
    ]
    drops = [
        f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'
        for table, name, _, _ in constraints
    ] + [f'DROP INDEX "{name}"' for name, _ in indexes]
    creates = [definition for _, definition in indexes]
    # Unique constraints (they build their index) before the foreign keys.
    adds.sort(key=lambda statement: "FOREIGN KEY" in statement)
    return drops, creates + adds


# --- The load -------------------------------------------------------------------------


def load(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    teams = args.teams
    jobs = args.calls // 2
    ledger_total = args.ledger if args.ledger is not None else args.calls
    replenishments = max(0, ledger_total - jobs - teams)
    organizations = min(ORGANIZATIONS, teams)
    hot_tenths = round(args.hot * 10)
    if not 0 <= hot_tenths <= 10:
        raise SystemExit("--hot must be within 0 and 1 (tenths)")
    # The hot team's jobs: those whose number ends in one of these digits.
    hot_digits = ", ".join(str(d) for d in (0, 3, 6, 9, 1, 4, 7, 2, 5, 8)[:hot_tenths])
    hot_condition = f"g %% 10 IN ({hot_digits})" if hot_digits else "false"
    log(
        f"teams {teams}, organizations {organizations}, jobs {jobs}, calls {jobs * 2},"
        f" ledger entries {jobs + teams + replenishments} ({replenishments}"
        f" replenishments), hot team {hot_tenths * 10} %"
    )
    params = {
        "days": args.days,
        "jobs": jobs,
        "teams": teams,
        "orgs": organizations,
        "repl": replenishments,
    }
    conn.execute(
        "CREATE TEMP TABLE scale_clock AS"
        " SELECT now() - make_interval(days => %(days)s)"
        " AS t0, extract(epoch FROM make_interval(days => %(days)s)) - 600 AS span",
        params,
    )

    with step("organizations, teams, keys, accounts"):
        conn.execute(
            "INSERT INTO teams_organization"
            " (organization_id, name, metadata, created_at, updated_at)"
            " SELECT 'org-' || lpad(i::text, 2, '0'), 'Organization ' || i, '{}',"
            " t0 - interval '2 days', t0 - interval '2 days'"
            " FROM generate_series(1, %(orgs)s) i, scale_clock ORDER BY i",
            params,
        )
        conn.execute(
            "INSERT INTO teams_team (team_id, team_alias, status, budget_mode,"  # noqa: S608
            " tokens_per_credit, credits_per_dollar, markup_percent, metadata,"
            " created_at, updated_at, organization_id, sub_budgets, timezone,"
            " payload_log_days)"
            f" SELECT CASE WHEN i = 1 THEN '{HOT_TEAM}'"
            " ELSE 'team-' || lpad(i::text, 5, '0') END,"
            " CASE WHEN i = 1 THEN 'The hot team' ELSE '' END, 'active', 'job_based',"
            " 10000, 10, 20, '{}', t0 - interval '2 days', t0 - interval '2 days',"
            " o.id, false, 'UTC', 0"
            " FROM generate_series(1, %(teams)s) i CROSS JOIN scale_clock"
            " JOIN teams_organization o"
            " ON o.organization_id"
            " = 'org-' || lpad((1 + (i - 1) %% %(orgs)s)::text, 2, '0')"
            " ORDER BY i",
            params,
        )
        conn.execute(
            "CREATE TEMP TABLE scale_team AS SELECT i AS ix, t.id AS team_pk"  # noqa: S608
            " FROM generate_series(1, %(teams)s) i JOIN teams_team t"
            f" ON t.team_id = CASE WHEN i = 1 THEN '{HOT_TEAM}'"
            " ELSE 'team-' || lpad(i::text, 5, '0') END",
            params,
        )
        conn.execute(
            "INSERT INTO teams_virtualkey (key_id, team_id, name, digest, key_prefix,"
            " created_at) SELECT gen_random_uuid(), m.team_pk, 'default', d,"
            " 'sk-' || substr(d, 1, 4) || '…' || substr(d, 61, 4),"
            " t0 - interval '2 days'"
            " FROM (SELECT team_pk, ix, md5('scale-key-a-' || team_pk || random())"
            " || md5('scale-key-b-' || team_pk || clock_timestamp()) AS d"
            " FROM scale_team) m, scale_clock ORDER BY m.ix"
        )
        conn.execute(
            "INSERT INTO credits_creditaccount (team_id, credits_allocated,"
            " credits_used, credits_reserved, updated_at)"
            " SELECT team_pk, 0, 0, 0, now() FROM scale_team ORDER BY ix"
        )
        conn.execute(
            "ALTER TABLE scale_team ADD COLUMN key_pk bigint,"
            " ADD COLUMN account_pk bigint"
        )
        conn.execute(
            "UPDATE scale_team m SET key_pk = k.id, account_pk = a.id"
            " FROM teams_virtualkey k, credits_creditaccount a"
            " WHERE k.team_id = m.team_pk AND a.team_id = m.team_pk"
        )
        conn.execute("CREATE UNIQUE INDEX ON scale_team (ix)")
        conn.execute("CREATE UNIQUE INDEX ON scale_team (team_pk)")
        conn.commit()

    drops, restores = secondary_definitions(conn)
    with step(f"drop {len(drops)} secondary indexes/constraints for the load"):
        for statement in drops:
            conn.execute(statement.encode())
        conn.commit()

    # Team of job g: the hot team for `hot_condition`, else the others in turn.
    team_ix = (
        f"CASE WHEN {hot_condition} THEN 1"
        f" ELSE 2 + (g %% greatest(%(teams)s - 1, 1)) END"
        if teams > 1
        else "1"
    )
    with step(f"jobs ({jobs})"):
        conn.execute(
            "INSERT INTO jobs_job (job_id, user_id, job_type, metadata, status,"  # noqa: S608
            " error_message, credits_charged, created_at, started_at, completed_at,"
            " last_activity_at, team_id, key_id, one_call)"
            " SELECT gen_random_uuid(),"
            " CASE WHEN ix = 1 AND g %% 5 <> 0 THEN 'user-' || ((g / 5) %% 20)"
            " ELSE '' END,"
            f" ({sql_array(JOB_TYPES)})[1 + (CASE WHEN ix = 1 THEN g / 7 ELSE ix END)"
            " %% 4], '{}', 'completed', '',"
            " 1, c, c, c + interval '3 seconds', c + interval '3 seconds',"
            " tp[ix], kp[ix], false"
            " FROM (SELECT g,"
            " t0 + make_interval(secs => (g - 1) * span / %(jobs)s) AS c,"
            f" {team_ix} AS ix FROM generate_series(1, %(jobs)s) g, scale_clock) s,"
            " (SELECT array_agg(team_pk ORDER BY ix) AS tp,"
            " array_agg(key_pk ORDER BY ix) AS kp FROM scale_team) m"
            " ORDER BY g",
            params,
        )
        conn.commit()

    # The hot team calls every alias; the others one alias each.
    alias_pick = (
        "CASE WHEN j.team_id = %(hot_pk)s THEN (j.id + n) %% 3 ELSE j.team_id %% 3 END"
    )
    params["hot_pk"] = conn.execute(
        "SELECT team_pk FROM scale_team WHERE ix = 1"
    ).fetchone()[0]
    with step(f"calls ({jobs * 2})"):
        # Two calls per job, in job order (INSERT … SELECT runs no parallel plan, so
        # the scan gives the jobs in the order they were written).
        conn.execute(
            "INSERT INTO jobs_llmcall (call_id, model_alias, model_used, purpose,"  # noqa: S608
            " status, streamed, prompt_tokens, completion_tokens, total_tokens,"
            " provider_cost_usd, client_cost_usd, latency_ms, finish_reason, error,"
            " call_metadata, created_at, completed_at, job_id, team_id,"
            " reserved_cost_usd, reserved_tokens, usage_estimated, cache_write_tokens,"
            " cached_tokens, reasoning_tokens, attempts, deployment)"
            " SELECT gen_random_uuid(), alias, model, '', 'succeeded',"
            " n = 2 AND id %% 3 = 0,"
            " p, q, p + q, round(p * 0.00000015 + q * 0.0000006, 8),"
            " round((p * 0.00000015 + q * 0.0000006) * 1.2, 8), lat, 'stop', '', '{}',"
            " created, created + make_interval(secs => lat / 1000.0), id, team_id,"
            " 0, 0, false, 0, 0, 0, '[]', alias || '#0'"
            " FROM (SELECT j.id, j.team_id, n,"
            f" ({sql_array(ALIASES)})[1 + {alias_pick}] AS alias,"
            f" ({sql_array(MODELS)})[1 + {alias_pick}] AS model,"
            " 100 + (j.id * 7 + n * 13) %% 400 AS p, 20 + (j.id * 11 + n) %% 300 AS q,"
            " 200 + (j.id * 17 + n) %% 900 AS lat,"
            " j.created_at + make_interval(secs => n) AS created"
            " FROM jobs_job j CROSS JOIN LATERAL (VALUES (1), (2)) v(n)) s",
            params,
        )
        conn.commit()

    with step(f"holds ({jobs}, captured)"):
        conn.execute(
            "INSERT INTO credits_credithold (hold_id, job_id, amount, status,"
            " expires_at, created_at, closed_at, account_id)"
            " SELECT gen_random_uuid(), j.job_id, 1, 'captured',"
            " j.created_at + interval '1 day', j.created_at, j.completed_at,"
            " m.account_pk FROM jobs_job j JOIN scale_team m ON m.team_pk = j.team_id"
            " ORDER BY j.id"
        )
        conn.commit()

    with step(f"ledger ({jobs + teams + replenishments} entries, chained per team)"):
        # Every entry of the ledger, then each one's balance after it: the running
        # sum over its account's entries in time order, which is also the order
        # of the ids (the INSERT below writes them in that order).
        conn.execute(
            "CREATE TEMP TABLE scale_ledger AS"
            " SELECT m.account_pk AS account, t0 - interval '1 day' AS at, 0 AS ord,"
            " 0::bigint AS seq, 'allocation'::text AS kind,"
            " coalesce(n.jobs, 0) + 1000 AS amount, NULL::uuid AS job,"
            " 'initial allocation'::text AS reason"
            " FROM scale_team m CROSS JOIN scale_clock LEFT JOIN"
            " (SELECT team_id, count(*) AS jobs FROM jobs_job GROUP BY team_id) n"
            " ON n.team_id = m.team_pk"
            " UNION ALL"
            " SELECT m.account_pk, j.completed_at, 1, j.id, 'deduction', -1, j.job_id,"
            " 'Job ' || j.job_type FROM jobs_job j JOIN scale_team m"
            " ON m.team_pk = j.team_id"
            " UNION ALL"
            " SELECT ap[1 + k %% %(teams)s],"
            " t0 + make_interval(secs => (k - 0.5) * span / %(repl)s), 2, k,"
            " 'replenishment', 1, NULL, 'scheduled replenishment'"
            " FROM generate_series(1, %(repl)s) k, scale_clock,"
            " (SELECT array_agg(account_pk ORDER BY ix) AS ap FROM scale_team) m",
            params,
        )
        conn.execute(
            "INSERT INTO credits_ledgerentry (transaction_id, entry_type, amount,"
            " balance_before, balance_after, reason, actor, job_id, idempotency_key,"
            " payment_type, payment_amount_usd, created_at, account_id)"
            " SELECT gen_random_uuid(), kind, amount, after - amount, after, reason,"
            " CASE WHEN kind = 'deduction' THEN '' ELSE 'admin:scale' END, job, '',"
            " '', NULL, at, account"
            " FROM (SELECT *, sum(amount) OVER (PARTITION BY account"
            " ORDER BY at, ord, seq) AS after FROM scale_ledger) x"
            " ORDER BY at, ord, seq, account"
        )
        conn.execute(
            "UPDATE credits_creditaccount a SET"
            " credits_allocated = s.credited, credits_used = s.used,"
            " credits_reserved = 0, updated_at = now()"
            " FROM (SELECT account, sum(amount) FILTER (WHERE amount > 0) AS credited,"
            " -coalesce(sum(amount) FILTER (WHERE amount < 0), 0) AS used"
            " FROM scale_ledger GROUP BY account) s WHERE s.account = a.id"
        )
        conn.execute("DROP TABLE scale_ledger")
        conn.commit()

    with step(f"rebuild {len(restores)} indexes/constraints"):
        conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in restores:
            conn.execute(statement.encode())
        conn.commit()


def rollups_sql(conn: psycopg.Connection) -> int:
    """The usage rollups in the shape usage.services.rollups recomputes them: calls on
    the UTC day they were created, in (team, the job's key, alias, the job's end user,
    type); charges (deductions of jobs) on the day of their entry, and closed jobs
    on the day they were created, under the alias of the job's first successful
    call."""
    counters = (
        "calls, failed_calls, prompt_tokens, completion_tokens, total_tokens,"
        " cached_tokens, reasoning_tokens, credits, provider_cost_usd, client_cost_usd,"
        " jobs_completed, jobs_failed"
    )
    first_alias = (
        "  LEFT JOIN (SELECT DISTINCT ON (job_id) job_id, model_alias FROM jobs_llmcall"
        "  WHERE status = 'succeeded' ORDER BY job_id, created_at, id) f"
        "  ON f.job_id = j.id"
    )
    conn.execute("DELETE FROM usage_usagedaily")
    cursor = conn.execute(
        "INSERT INTO usage_usagedaily (day, team_id, key_id, model_alias, user_id,"  # noqa: S608
        f" job_type, {counters})"
        f" SELECT day, team_id, key_id, model_alias, user_id, job_type,"
        " sum(calls), sum(failed_calls), sum(prompt_tokens), sum(completion_tokens),"
        " sum(total_tokens), sum(cached_tokens), sum(reasoning_tokens), sum(credits),"
        " sum(provider_cost_usd), sum(client_cost_usd), sum(jobs_completed),"
        " sum(jobs_failed)"
        " FROM ("
        "  SELECT (c.created_at AT TIME ZONE 'UTC')::date AS day, c.team_id, j.key_id,"
        "  c.model_alias, j.user_id, j.job_type, count(*) AS calls,"
        "  count(*) FILTER (WHERE c.status = 'failed') AS failed_calls,"
        "  sum(c.prompt_tokens) AS prompt_tokens,"
        "  sum(c.completion_tokens) AS completion_tokens,"
        "  sum(c.total_tokens) AS total_tokens, sum(c.cached_tokens) AS cached_tokens,"
        "  sum(c.reasoning_tokens) AS reasoning_tokens, 0 AS credits,"
        "  sum(c.provider_cost_usd) AS provider_cost_usd,"
        "  sum(c.client_cost_usd) AS client_cost_usd, 0 AS jobs_completed,"
        "  0 AS jobs_failed"
        "  FROM jobs_llmcall c JOIN jobs_job j ON j.id = c.job_id"
        "  WHERE c.status <> 'in_progress' GROUP BY 1, 2, 3, 4, 5, 6"
        "  UNION ALL"
        "  SELECT (e.created_at AT TIME ZONE 'UTC')::date, a.team_id, j.key_id,"
        "  coalesce(f.model_alias, ''), j.user_id, j.job_type, 0, 0, 0, 0, 0, 0, 0,"
        "  -sum(e.amount), 0, 0, 0, 0"
        "  FROM credits_ledgerentry e"
        "  JOIN credits_creditaccount a ON a.id = e.account_id"
        "  JOIN jobs_job j ON j.job_id = e.job_id"
        f"{first_alias}"
        "  WHERE e.entry_type = 'deduction' GROUP BY 1, 2, 3, 4, 5, 6"
        "  UNION ALL"
        "  SELECT (j.created_at AT TIME ZONE 'UTC')::date, j.team_id, j.key_id,"
        "  coalesce(f.model_alias, ''), j.user_id, j.job_type, 0, 0, 0, 0, 0, 0, 0,"
        "  0, 0, 0, count(*) FILTER (WHERE j.status = 'completed'),"
        "  count(*) FILTER (WHERE j.status = 'failed')"
        "  FROM jobs_job j"
        f"{first_alias}"
        "  WHERE j.status IN ('completed', 'failed') GROUP BY 1, 2, 3, 4, 5, 6"
        " ) g GROUP BY day, team_id, key_id, model_alias, user_id, job_type"
        " ORDER BY day, team_id, key_id, model_alias, user_id, job_type"
    )
    # The totals across teams: the teams' rows summed per day, alias and shard.
    conn.execute("DELETE FROM usage_usagedailytotal")
    conn.execute(
        f"INSERT INTO usage_usagedailytotal (day, model_alias, shard, {counters})"  # noqa: S608
        f" SELECT day, model_alias, team_id % {TOTAL_SHARDS},"
        " sum(calls), sum(failed_calls), sum(prompt_tokens), sum(completion_tokens),"
        " sum(total_tokens), sum(cached_tokens), sum(reasoning_tokens), sum(credits),"
        " sum(provider_cost_usd), sum(client_cost_usd), sum(jobs_completed),"
        " sum(jobs_failed)"
        " FROM usage_usagedaily GROUP BY 1, 2, 3"
    )
    # Each team's months: its rows summed per month.
    conn.execute("DELETE FROM usage_usagemonthly")
    conn.execute(
        f"INSERT INTO usage_usagemonthly (month, team_id, organization_id, {counters})"  # noqa: S608
        " SELECT date_trunc('month', d.day)::date, d.team_id, t.organization_id,"
        " sum(calls), sum(failed_calls), sum(prompt_tokens), sum(completion_tokens),"
        " sum(total_tokens), sum(cached_tokens), sum(reasoning_tokens), sum(credits),"
        " sum(provider_cost_usd), sum(client_cost_usd), sum(jobs_completed),"
        " sum(jobs_failed)"
        " FROM usage_usagedaily d JOIN teams_team t ON t.id = d.team_id"
        " GROUP BY 1, 2, 3"
    )
    conn.commit()
    return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument(
        "--ledger", type=int, default=None, help="ledger entries (default: --calls)"
    )
    parser.add_argument(
        "--hot", type=float, default=0.3, help="the hot team's share (tenths)"
    )
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--fresh", action="store_true", help="drop and create the database first"
    )
    parser.add_argument(
        "--rollups",
        choices=("sql", "command"),
        default="sql",
        help="sql: set-based (default); command: manage.py rollups_rebuild",
    )
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    if args.teams < 1 or args.calls < 2:
        raise SystemExit("need at least 1 team and 2 calls")

    url = os.environ.get("DATABASE_URL", "")
    name = urlsplit(url).path.lstrip("/")
    if not url.startswith(("postgres://", "postgresql://")) or not name.startswith(
        "scale_"
    ):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database scale_…")
    started = time.perf_counter()
    if args.fresh:
        with step(f"drop and create {name}"):
            database_fresh(url, name)
    with step("migrate"):
        manage("migrate", "--noinput")

    with psycopg.connect(url, application_name="scale_data") as conn:
        if conn.execute("SELECT count(*) FROM teams_team").fetchone()[0]:
            raise SystemExit(f"{name} already has teams: use --fresh")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '512MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.commit()
        load(conn, args)
        if args.rollups == "sql":
            with step("usage rollups (set-based)"):
                rows = rollups_sql(conn)
            log(f"   {rows} rollup rows")
    if args.rollups == "command":
        with step("usage rollups (manage.py rollups_rebuild)"):
            manage("rollups_rebuild")
    with step("VACUUM ANALYZE"), psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    build = time.perf_counter() - started

    if not args.no_verify:
        with step("check: reconcile_credits --full"):
            done = manage("reconcile_credits", "--full", check=False)
            log("   " + (done.stdout.strip().splitlines() or ["?"])[-1])
            if done.returncode:
                raise SystemExit(f"reconcile_credits failed:\n{done.stdout[-3000:]}")
        with step("check: rollups_rebuild --check"):
            done = manage("rollups_rebuild", "--check", check=False)
            log("   " + (done.stdout.strip().splitlines() or ["?"])[-1])
            if done.returncode:
                raise SystemExit(
                    f"rollups_rebuild --check failed:\n{done.stdout[-3000:]}"
                )

    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM teams_team), (SELECT count(*) FROM jobs_job),"
            " (SELECT count(*) FROM jobs_llmcall),"
            " (SELECT count(*) FROM credits_ledgerentry),"
            " (SELECT count(*) FROM credits_credithold),"
            " (SELECT count(*) FROM usage_usagedaily),"
            " pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    log(
        "\nteams {}, jobs {}, calls {}, ledger {}, holds {}, rollups {};"
        " size {}".format(*counts)
    )
    log("\n| step | seconds |\n|---|---:|")
    for name_, seconds in TIMINGS:
        log(f"| {name_} | {seconds:.1f} |")
    log(f"| **build total (without the checks)** | **{build:.1f}** |")


if __name__ == "__main__":
    main()
