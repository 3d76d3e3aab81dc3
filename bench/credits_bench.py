"""Benchmark of charged operations (reserve + capture) on PostgreSQL.

Usage: DATABASE_URL=postgres://user@host:5432/db python bench/credits_bench.py
       [--threads 8] [--seconds 10] [--teams 64]

It never touches the database named in DATABASE_URL beyond creating and dropping a
dedicated throwaway database next to it (ledger rows cannot be deleted, by design, so
a separate database is the clean way to leave nothing behind). Two scenarios, each for a
bounded time: every thread charging one hot team (all contend for one account row), and
threads charging many teams (little contention). Prints ops/s and p50/p99 latency, then
checks that every account still reconciles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--teams", type=int, default=64)
    return parser.parse_args()


def admin_execute(database_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(statement)


def with_database(database_url: str, name: str) -> str:
    return urlunparse(urlparse(database_url)._replace(path=f"/{name}"))


def run_scenario(title: str, teams: list, threads: int, seconds: float) -> None:
    from django.db import connection

    from credits.services import credit_capture, credit_reserve

    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[int] = [0] * threads
    first_errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    deadline_box: list[float] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            deadline = deadline_box[0]
            count = 0
            while time.perf_counter() < deadline:
                team = teams[(index + count * threads) % len(teams)]
                count += 1
                job_id = uuid.uuid4()
                started = time.perf_counter()
                try:
                    credit_reserve(team=team, job_id=job_id, credits=1)
                    credit_capture(team=team, job_id=job_id, credits=1)
                except Exception as error:
                    failures[index] += 1
                    first_errors.append(repr(error))
                    continue
                latencies[index].append(time.perf_counter() - started)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    deadline_box.append(started + seconds)
    barrier.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    all_latencies = sorted(x for per_thread in latencies for x in per_thread)
    done = len(all_latencies)
    p50 = statistics.median(all_latencies) * 1000 if done else float("nan")
    p99 = all_latencies[int(done * 0.99) - 1] * 1000 if done else float("nan")
    print(
        f"{title:<28} threads={threads:<3} teams={len(teams):<4} "
        f"charged={done:<7} failed={sum(failures):<4} "
        f"ops/s={done / elapsed:8.1f}  p50={p50:6.2f} ms  p99={p99:6.2f} ms"
    )
    if first_errors:
        print(f"  first failure: {first_errors[0]}")


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL=postgres://… (the benchmark measures PostgreSQL).")
        return 2
    bench_db = f"credits_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_execute(database_url, f'CREATE DATABASE "{bench_db}"')
    os.environ["DATABASE_URL"] = with_database(database_url, bench_db)
    os.environ["DATABASE_POOL_MAX"] = str(args.threads + 4)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        from credits.services import credit_add, credits_reconcile
        from teams.services import organization_create, team_create

        call_command("migrate", verbosity=0)
        organization = organization_create(
            organization_id="bench", name="Benchmark", actor="bench"
        )

        def funded_team(team_id: str):
            team = team_create(
                organization=organization, team_id=team_id, actor="bench"
            ).key.team
            credit_add(team=team, credits=10**9, actor="bench")
            return team

        hot = [funded_team("bench-hot")]
        many = [funded_team(f"bench-{i:04d}") for i in range(args.teams)]
        print(f"PostgreSQL, database {bench_db} (dropped afterwards)")
        run_scenario("one hot team", hot, args.threads, args.seconds)
        run_scenario("many teams", many, args.threads, args.seconds)
        run_scenario("one hot team, 1 thread", hot, 1, args.seconds / 2)
        problems = credits_reconcile()
        print("reconcile_credits:", problems or "clean")
        connections.close_all()
        pool = getattr(connections["default"], "pool", None)
        if pool is not None:
            pool.close()
        return 1 if problems else 0
    finally:
        admin_execute(
            database_url, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)'
        )


if __name__ == "__main__":
    sys.exit(main())
