"""Read paths at scale: the usage endpoints, exports, dashboard pages and request log
on databases built by bench/scale_data.py, and `reconcile_credits` (time, row locks).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/scale_bench.py --db scale_100k --db scale_2m

Each `--db` (a database name starting with `scale_`, on DATABASE_URL's server; without
`--db`, DATABASE_URL's own database) gets its own server, all running side by side,
and each endpoint's timed requests alternate between them (the machine is shared:
its load then weighs on every database alike). A server is the real one as the
Procfile runs it (gunicorn + uvicorn workers, gunicorn.conf.py, 2 workers, DEBUG off,
secrets generated for the run) on a free port; an operator superuser logged in with a
session (admin login form) and the operator's admin key; a real virtual key issued for
`hot-team` through `teams.services.virtual_key_issue` with the run's pepper (the
generator's keys have digests no key matches). Every endpoint gets `--warmup` (16)
untimed requests (fewer if they take over 15 s, at least 2), so that each worker's
pooled connection has settled on the plans it keeps (prepared statements switch to a
generic plan after a few runs), then `--requests` (20) timed ones, one at a time; an
export is timed to its first byte of body. `--only WORD` measures only the endpoints
whose name contains it. Then `reconcile_credits`: checkpoints cleared, a first run
(verifies every entry, writes a checkpoint per account), a second one (checkpoints),
one with `--full`; each timed in-process around `credits_reconcile` and as a whole
process, while another connection samples pg_locks every 10 ms for the locks the
reconcile backend (PGAPPNAME=scale_reconcile) takes beyond reading. Finally the
command itself (`manage.py reconcile_credits`) must exit 0.

With more than one `--db`, the first is the baseline of the comparison table (p50 of
each, ratio). Results: bench/results/logs/scale-<db>.json (-partial with --only),
server logs beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOGS = BENCH / "results" / "logs"
PY = sys.executable
HOT_TEAM = "hot-team"
ADMIN_USER = "scale-admin"
RECONCILE_APP = "scale_reconcile"
TARGET_MS = 150.0
TARGET_RATIO = 1.5
# Measured for information, not held to TARGET_RATIO: its answer grows with the
# organization's teams (1 000 on the 2 M database, 100 on the 100 k one), not with
# the calls; the default page of the same endpoint is the one compared.
ANSWER_GROWS = "org usage, a page of up to 1 000 teams"
LOCK_LIMIT_MS = 50.0
RECONCILE_LIMIT_S = 10.0
WARMUP_SECONDS = 15.0

SETUP = r"""
import json
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from jobs.models import Job
from jobs.selectors import job_cursor_encode
from teams.models import Team, VirtualKey
from teams.services.keys import virtual_key_issue

team = Team.objects.select_related("organization").get(team_id="HOT")
with transaction.atomic():
    VirtualKey.objects.filter(team=team, name="scale-bench").delete()
    issued = virtual_key_issue(team=team, name="scale-bench")
    User = get_user_model()
    user = User.objects.filter(username="USER").first() or User(username="USER")
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password("PASSWORD")
    user.save()

def one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None

# Ids from the middle of the tables (not the newest rows a cache would hold).
middle_call = one("SELECT call_id::text FROM jobs_llmcall WHERE id >= "
                  "(SELECT (min(id) + max(id)) / 2 FROM jobs_llmcall)"
                  " ORDER BY id LIMIT 1")
middle_entry = one("SELECT transaction_id::text FROM credits_ledgerentry WHERE id >= "
                   "(SELECT (min(id) + max(id)) / 2 FROM credits_ledgerentry) "
                   "AND entry_type = 'deduction' ORDER BY id LIMIT 1")
# Cursors 10 % and 90 % deep into the hot team's jobs (newest first).
count = one("SELECT count(*) FROM jobs_job WHERE team_id = %s", [team.pk])
def job_at(older):
    return Job.objects.get(pk=one(
        "SELECT id FROM jobs_job WHERE team_id = %s ORDER BY created_at, id"
        " OFFSET %s LIMIT 1", [team.pk, older]))
deep, shallow = job_at(count // 10), job_at(count * 9 // 10)
print("SETUP " + json.dumps({
    "key": issued.plaintext,
    "team_pk": team.pk,
    "organization_id": team.organization.organization_id,
    "call_id": middle_call,
    "transaction_id": middle_entry,
    "deep_cursor": job_cursor_encode(deep),
    "shallow_cursor": job_cursor_encode(shallow),
    "calls": one("SELECT reltuples::bigint FROM pg_class"
                 " WHERE relname = 'jobs_llmcall'"),
}))
"""

RECONCILE = r"""
import json, time
from credits.services import credits_reconcile
started = time.perf_counter()
report = credits_reconcile(full=FULL)
print("RECONCILE " + json.dumps({"seconds": time.perf_counter() - started,
                                  "problems": len(report)}))
"""


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_with(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def code_version() -> dict[str, Any]:
    """The commit measured and the files changed beside it (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "changed": git("status", "--short", "--untracked-files=no").splitlines(),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Measure:
    name: str
    samples_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    note: str = ""
    warmup: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "p50_ms": statistics.median(self.samples_ms) if self.samples_ms else None,
            "p95_ms": percentile(self.samples_ms, 0.95) if self.samples_ms else None,
            "min_ms": min(self.samples_ms) if self.samples_ms else None,
            "n": len(self.samples_ms),
            "statuses": sorted(set(self.statuses)),
            "note": self.note,
            "warmup": self.warmup,
            "samples_ms": [round(v, 1) for v in self.samples_ms],
        }


@dataclass
class Endpoint:
    name: str
    session: requests.Session
    path: str
    headers: dict[str, str] | None
    first_byte: bool


# --- The lock sampler -----------------------------------------------------------------


class LockSampler(threading.Thread):
    """Every `interval` s, the locks held by the reconcile backend (its
    application_name) beyond reading: row-level relation locks (RowShareLock: SELECT
    … FOR UPDATE/SHARE; RowExclusiveLock: INSERT/UPDATE/DELETE), tuple locks, its
    transaction id (taken by any write). For each transaction seen holding one, how
    long from its start to the last sample that saw it: the time its row locks were
    held is at most that plus one interval. Also the longest transaction seen."""

    def __init__(self, url: str, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self.stop_event = threading.Event()
        self.held: dict[tuple[Any, ...], list[Any]] = {}
        self.transactions: dict[tuple[Any, ...], list[Any]] = {}
        self.samples = 0
        self.ready = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            self.ready.set()
            while not self.stop_event.is_set():
                rows = conn.execute(
                    "SELECT a.pid, a.xact_start, clock_timestamp(), l.locktype, l.mode,"
                    " l.granted, CASE WHEN l.relation IS NULL THEN ''"
                    " ELSE l.relation::regclass::text END"
                    " FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid"
                    " AND (l.locktype IN ('tuple', 'transactionid')"
                    " OR (l.locktype = 'relation' AND l.mode IN"
                    " ('RowShareLock', 'RowExclusiveLock', 'ShareRowExclusiveLock',"
                    " 'ExclusiveLock', 'AccessExclusiveLock')))"
                    " WHERE a.application_name = %s AND a.xact_start IS NOT NULL",
                    [RECONCILE_APP],
                ).fetchall()
                self.samples += 1
                for pid, xact_start, now, locktype, mode, _granted, relation in rows:
                    transaction = (pid, xact_start)
                    self.transactions.setdefault(transaction, [xact_start, now])[1] = (
                        now
                    )
                    if locktype is None:
                        continue
                    what = f"{locktype} {mode} {relation}".strip()
                    key = (pid, xact_start, what)
                    self.held.setdefault(key, [xact_start, now])[1] = now
                time.sleep(self.interval)

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        self.join(timeout=5)
        longest: dict[str, float] = {}
        transactions_with: dict[str, set[Any]] = {}
        for (pid, xact_start, what), (start, last) in self.held.items():
            held_ms = (last - start).total_seconds() * 1000
            longest[what] = max(longest.get(what, 0.0), held_ms)
            transactions_with.setdefault(what, set()).add((pid, xact_start))
        longest_transaction = max(
            (
                (last - start).total_seconds() * 1000
                for start, last in self.transactions.values()
            ),
            default=0.0,
        )
        row_locks = {
            what: ms
            for what, ms in longest.items()
            if not what.startswith("transactionid")
        }
        account_locks = {
            what: ms
            for what, ms in row_locks.items()
            if "credits_creditaccount" in what
        }
        return {
            "samples": self.samples,
            "interval_ms": self.interval * 1000,
            "longest_transaction_ms": round(longest_transaction, 1),
            "longest_row_lock_ms": round(max(row_locks.values(), default=0.0), 1),
            "longest_account_row_lock_ms": round(
                max(account_locks.values(), default=0.0), 1
            ),
            "locks": {
                what: {
                    "longest_ms": round(ms, 1),
                    "transactions": len(transactions_with[what]),
                }
                for what, ms in sorted(longest.items())
            },
        }


# --- One database ---------------------------------------------------------------------


class Run:
    def __init__(
        self,
        base_url: str,
        database: str,
        requests_per: int,
        only: list[str],
        warmup: int,
    ) -> None:
        self.only = only
        self.warmup = warmup
        self.database = database
        self.url = database_url_with(base_url, database)
        self.requests_per = requests_per
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(24)
        self.master_key = "sk-admin-" + secrets.token_hex(24)
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "MASTER_KEY_NEXT")
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="saas_litellm.settings",
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(64),
            MASTER_KEY=self.master_key,
            VIRTUAL_KEY_PEPPER=secrets.token_urlsafe(48),
            CREDENTIAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="false",
            SESSION_COOKIE_SECURE="false",
            CSRF_COOKIE_SECURE="false",
            DATABASE_URL=self.url,
            WEB_CONCURRENCY="2",
            BIND=f"127.0.0.1:{self.port}",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.server: subprocess.Popen | None = None
        self.results: dict[str, Any] = {"database": database, "endpoints": {}}

    # Processes ---------------------------------------------------------------------

    def shell(self, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PY, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=900,
        )

    def setup(self) -> dict[str, Any]:
        code = (
            SETUP.replace("HOT", HOT_TEAM)
            .replace("USER", ADMIN_USER)
            .replace("PASSWORD", self.password)
        )
        done = self.shell(code)
        for line in done.stdout.splitlines():
            if line.startswith("SETUP "):
                return json.loads(line[len("SETUP ") :])
        raise RuntimeError(
            f"setup failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )

    def server_start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"scale-{self.database}-server.log"
        with log_path.open("wb") as output:
            self.server = subprocess.Popen(
                [PY, "-m", "gunicorn", "saas_litellm.asgi:application",
                 "--config", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        started = time.monotonic()
        while time.monotonic() - started < 120:
            if self.server.poll() is not None:
                raise RuntimeError(
                    f"the server exited:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{self.base}/ready", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise RuntimeError("the server did not answer /ready in 120 s")

    def server_stop(self) -> None:
        if self.server is None:
            return
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.server = None

    # HTTP ----------------------------------------------------------------------------

    def admin_session(self) -> requests.Session:
        session = requests.Session()
        login = f"{self.base}/admin/login/"
        session.get(login, timeout=30).raise_for_status()
        answer = session.post(
            login + "?next=/admin/",
            data={
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "username": ADMIN_USER,
                "password": self.password,
                "next": "/admin/",
            },
            headers={"Referer": login},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302 or "sessionid" not in session.cookies:
            raise RuntimeError(f"admin login failed: {answer.status_code}")
        return session

    def request(
        self,
        session: requests.Session,
        url: str,
        headers: dict[str, str] | None,
        first_byte: bool,
    ) -> tuple[float, int]:
        """One request's seconds (to the first byte of body with `first_byte`: the
        rest is not read) and status."""
        started = time.perf_counter()
        if first_byte:
            with session.get(url, headers=headers, stream=True, timeout=120) as answer:
                next(answer.iter_content(chunk_size=1), b"")
                elapsed = time.perf_counter() - started
                answer.close()
        else:
            answer = session.get(url, headers=headers, timeout=120)
            elapsed = time.perf_counter() - started
        return elapsed, answer.status_code

    def warm(self, endpoint: Endpoint) -> int:
        """Untimed requests: enough for each worker's pooled connection to reach the
        plans it keeps (psycopg prepares a statement on its 2nd run, PostgreSQL may
        switch a prepared statement to its generic plan after 5), fewer for the
        slow ones (WARMUP_SECONDS)."""
        warm_until = time.perf_counter() + WARMUP_SECONDS
        warmed = 0
        while warmed < self.warmup and (warmed < 2 or time.perf_counter() < warm_until):
            self.request(endpoint.session, self.base + endpoint.path,
                         endpoint.headers, endpoint.first_byte)  # fmt: skip
            warmed += 1
        return warmed

    def sample(self, endpoint: Endpoint, measure: Measure) -> None:
        elapsed, status = self.request(
            endpoint.session, self.base + endpoint.path, endpoint.headers,
            endpoint.first_byte,
        )  # fmt: skip
        measure.samples_ms.append(elapsed * 1000)
        measure.statuses.append(status)

    def full_body(
        self, session: requests.Session, path: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        answer = session.get(self.base + path, headers=headers, timeout=600)
        return {
            "seconds": round(time.perf_counter() - started, 2),
            "bytes": len(answer.content),
            "lines": answer.content.count(b"\n"),
            "status": answer.status_code,
        }

    def endpoints(self, ids: dict[str, Any]) -> list[Endpoint]:
        """What is measured, in order (the same names on every database)."""
        admin = {"X-Admin-Key": self.master_key}
        team_key = {"Authorization": f"Bearer {ids['key']}"}
        api = requests.Session()
        dashboard = self.admin_session()
        today = datetime.now(UTC).date()
        start = (today - timedelta(days=29)).isoformat()
        period = f"start={start}&end={today.isoformat()}"
        self.export_path = f"/api/usage/export?{period}&format=csv"
        self.api, self.admin_headers = api, admin
        month = today.replace(day=1)
        previous = (month - timedelta(days=1)).strftime("%Y-%m")
        team_pk, org = ids["team_pk"], ids["organization_id"]
        plan: list[tuple[str, requests.Session, str, dict[str, str] | None, bool]] = [
            ("team usage (hot team, this month)", api,
             f"/api/teams/{HOT_TEAM}/usage", admin, False),
            ("team usage (hot team, last month)", api,
             f"/api/teams/{HOT_TEAM}/usage?period={previous}", admin, False),
            ("team usage (hot team's own key)", api,
             f"/api/teams/{HOT_TEAM}/usage", team_key, False),
            ("org usage (hot team's org, this month)", api,
             f"/api/organizations/{org}/usage", admin, False),
            ("org usage, a page of up to 1 000 teams", api,
             f"/api/organizations/{org}/usage?limit=1000", admin, False),
            ("usage export, all teams, 30 d: first byte", api,
             f"/api/usage/export?{period}&format=csv", admin, True),
            ("team export (own key), 30 d: first byte", api,
             f"/api/teams/{HOT_TEAM}/usage/export?{period}&format=csv", team_key, True),
            ("calls export, all teams, 30 d: first byte", api,
             f"/api/calls/export?{period}&format=csv", admin, True),
            ("team calls export (own key), 30 d: first byte", api,
             f"/api/teams/{HOT_TEAM}/calls/export?{period}&format=csv", team_key, True),
            ("team jobs API, cursor page 10 % deep", api,
             f"/api/teams/{HOT_TEAM}/jobs?limit=50&cursor={ids['shallow_cursor']}",
             admin, False),
            ("team jobs API, cursor page 90 % deep", api,
             f"/api/teams/{HOT_TEAM}/jobs?limit=50&cursor={ids['deep_cursor']}",
             admin, False),
            ("team transactions API", api,
             f"/api/credits/teams/{HOT_TEAM}/transactions", admin, False),
            ("admin home /admin/", dashboard, "/admin/", None, False),
            ("admin team page (hot team)", dashboard,
             f"/admin/teams/team/{team_pk}/change/", None, False),
            ("spend analytics page, 30 d, all teams", dashboard,
             "/admin/usage/usagedaily/", None, False),
            ("spend analytics page, 30 d, hot team", dashboard,
             f"/admin/usage/usagedaily/?team={HOT_TEAM}", None, False),
            ("calls list: first page", dashboard, "/admin/jobs/llmcall/", None, False),
            ("calls list: team + status filter", dashboard,
             f"/admin/jobs/llmcall/?team__id__exact={team_pk}&status__exact=succeeded",
             None, False),
            ("calls list: search by call id", dashboard,
             f"/admin/jobs/llmcall/?q={ids['call_id']}", None, False),
            ("jobs list: first page", dashboard, "/admin/jobs/job/", None, False),
            ("ledger list: search by transaction id", dashboard,
             f"/admin/credits/ledgerentry/?q={ids['transaction_id']}", None, False),
            ("holds list: first page", dashboard,
             "/admin/credits/credithold/", None, False),
        ]  # fmt: skip
        return [
            Endpoint(name, session, path, headers, first_byte)
            for name, session, path, headers, first_byte in plan
            if not self.only or any(word in name for word in self.only)
        ]

    def export_whole(self) -> None:
        self.results["export_full"] = self.full_body(
            self.api, self.export_path, self.admin_headers
        )
        log(f"  {self.database}: whole 30-day export (once):"
            f" {self.results['export_full']}")  # fmt: skip

    # Reconcile -----------------------------------------------------------------------

    def reconcile_run(self, label: str, *, full: bool) -> dict[str, Any]:
        sampler = LockSampler(self.url)
        sampler.start()
        sampler.ready.wait(10)
        started = time.perf_counter()
        done = self.shell(
            RECONCILE.replace("FULL", "True" if full else "False"),
            PGAPPNAME=RECONCILE_APP,
        )
        wall = time.perf_counter() - started
        locks = sampler.stop()
        inner = None
        for line in done.stdout.splitlines():
            if line.startswith("RECONCILE "):
                inner = json.loads(line[len("RECONCILE ") :])
        if inner is None:
            raise RuntimeError(
                f"reconcile failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        result = {
            "label": label,
            "reconcile_seconds": round(inner["seconds"], 2),
            "process_seconds": round(wall, 2),
            "problems": inner["problems"],
            **locks,
        }
        log(
            f"  reconcile {label:<34} {inner['seconds']:6.2f} s in credits_reconcile,"
            f" {wall:6.2f} s process; problems {inner['problems']}; longest row lock"
            f" {locks['longest_row_lock_ms']} ms (accounts"
            f" {locks['longest_account_row_lock_ms']} ms), longest transaction"
            f" {locks['longest_transaction_ms']} ms"
        )
        for what, figures in locks["locks"].items():
            log(
                f"      {what}: longest {figures['longest_ms']} ms over"
                f" {figures['transactions']} transaction(s)"
            )
        return result

    def reconcile(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("DELETE FROM credits_reconcilecheckpoint")
        runs = [
            self.reconcile_run("first run (no checkpoints)", full=False),
            self.reconcile_run("second run (checkpoints)", full=False),
            self.reconcile_run("--full", full=True),
        ]
        started = time.perf_counter()
        self.shell("pass")
        startup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        command = subprocess.run(
            [PY, "manage.py", "reconcile_credits"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        command_seconds = time.perf_counter() - started
        self.results["reconcile"] = {
            "runs": runs,
            "command_seconds": round(command_seconds, 2),
            "command_exit": command.returncode,
            "command_output": command.stdout.strip().splitlines()[-1:],
            "django_startup_seconds": round(startup_seconds, 2),
        }
        log(
            f"  manage.py reconcile_credits: exit {command.returncode},"
            f" {command_seconds:.2f} s (a bare `manage.py shell -c pass`:"
            f" {startup_seconds:.2f} s)"
        )

    def prepare(self) -> list[Endpoint]:
        """The tenant's ids and a real key, the server started, the plan."""
        log(f"== {self.database}: setup and server")
        ids = self.setup()
        self.results["calls_estimate"] = ids["calls"]
        self.results["code"] = code_version()
        self.server_start()
        return self.endpoints(ids)

    def save(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        suffix = "-partial" if self.only else ""
        (LOGS / f"scale-{self.database}{suffix}.json").write_text(
            json.dumps(self.results, indent=2, default=str)
        )


def measure_all(runs: list[Run], plans: list[list[Endpoint]]) -> None:
    """Endpoint by endpoint, every database's server warmed, then the timed
    requests alternating between them (so that the machine's load, which others
    share, weighs on each alike)."""
    for index, first in enumerate(plans[0]):
        endpoints = [plan[index] for plan in plans]
        warmups = [run.warm(e) for run, e in zip(runs, endpoints, strict=True)]
        measures = [Measure(first.name, warmup=w) for w in warmups]
        for _ in range(runs[0].requests_per):
            for run, endpoint, measure in zip(runs, endpoints, measures, strict=True):
                run.sample(endpoint, measure)
        cells = []
        for run, endpoint, measure in zip(runs, endpoints, measures, strict=True):
            if set(measure.statuses) != {200}:
                measure.note = f"statuses {sorted(set(measure.statuses))}"
            summary = measure.summary()
            run.results["endpoints"][first.name] = {"path": endpoint.path, **summary}
            cells.append(
                f"{run.database} p50 {summary['p50_ms']:7.1f} p95"
                f" {summary['p95_ms']:7.1f} {measure.note}"
            )
        log(f"  {first.name:<47} " + " | ".join(cells))


def table(results: list[dict[str, Any]]) -> None:
    """endpoint by (p50 of each database, ratio last/first, p95 of the last)."""
    names = [r["database"] for r in results]
    baseline, last = results[0], results[-1]
    compare = len(results) > 1
    columns = [f"{n} p50 ms" for n in names]
    if compare:
        columns += ["ratio", f"{names[-1]} p95 ms", "over target"]
    else:
        columns += [f"{names[-1]} p95 ms"]
    log("\n| endpoint | " + " | ".join(columns) + " |")
    log("|---|" + "---:|" * len(columns))
    for name in baseline["endpoints"]:
        p50s = [r["endpoints"].get(name, {}).get("p50_ms") for r in results]
        p95 = last["endpoints"].get(name, {}).get("p95_ms")
        cells = [f"{v:.1f}" if v is not None else "-" for v in p50s]
        notes = [r["endpoints"].get(name, {}).get("note") for r in results]
        if compare:
            ratio = p50s[-1] / p50s[0] if p50s[-1] is not None and p50s[0] else None
            flags = []
            if p50s[-1] is not None and p50s[-1] > TARGET_MS:
                flags.append(f"> {TARGET_MS:.0f} ms")
            if name == ANSWER_GROWS:
                flags.append("answer grows with the teams: no ratio target")
            elif ratio is not None and ratio > TARGET_RATIO:
                flags.append(f"> {TARGET_RATIO}×")
            flags += [note for note in notes if note]
            cells.append(f"{ratio:.2f}×" if ratio is not None else "-")
            cells.append(f"{p95:.1f}" if p95 is not None else "-")
            cells.append(", ".join(flags))
        else:
            cells.append(f"{p95:.1f}" if p95 is not None else "-")
        log(f"| {name} | " + " | ".join(cells) + " |")
    log("")
    for result in results:
        reconcile = result.get("reconcile")
        if not reconcile:
            continue
        log(
            f"reconcile on {result['database']} (limit {RECONCILE_LIMIT_S:.0f} s,"
            f" row locks {LOCK_LIMIT_MS:.0f} ms):"
        )
        log(
            "| run | credits_reconcile s | process s | longest row lock ms |"
            " on credits_creditaccount ms | longest transaction ms | problems |"
        )
        log("|---|---:|---:|---:|---:|---:|---:|")
        for run in reconcile["runs"]:
            log(
                f"| {run['label']} | {run['reconcile_seconds']:.2f} |"
                f" {run['process_seconds']:.2f} | {run['longest_row_lock_ms']} |"
                f" {run['longest_account_row_lock_ms']} |"
                f" {run['longest_transaction_ms']} |"
                f" {run['problems']} |"
            )
        log(
            f"`manage.py reconcile_credits`: exit {reconcile['command_exit']},"
            f" {reconcile['command_seconds']:.2f} s (Django start-up alone:"
            f" {reconcile['django_startup_seconds']:.2f} s)\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        help="a scale_… database (repeat; the first is the baseline)",
    )
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--warmup",
        type=int,
        default=16,
        help="untimed requests first (at least 2; more stop after 15 s)",
    )
    parser.add_argument("--skip-reconcile", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="measure only the endpoints whose name contains this (repeat)",
    )
    args = parser.parse_args()  # fmt: skip
    base_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    databases = args.db or [urlsplit(base_url).path.lstrip("/")]
    for database in databases:
        if not database.startswith("scale_"):
            raise SystemExit(
                f"{database}: only scale_… databases (bench/scale_data.py)"
            )
    runs = [
        Run(base_url, database, args.requests, args.only, args.warmup)
        for database in databases
    ]
    try:
        plans = [run.prepare() for run in runs]
        measure_all(runs, plans)
        if not args.only:
            for run in runs:
                run.export_whole()
    finally:
        for run in runs:
            run.server_stop()
    if not args.skip_reconcile:
        for run in runs:
            log(f"== {run.database}: reconcile_credits")
            run.reconcile()
    for run in runs:
        run.save()
    results = [run.results for run in runs]
    table(results)


if __name__ == "__main__":
    main()
