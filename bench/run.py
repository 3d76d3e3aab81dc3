"""`make bench`: our gateway against LiteLLM's proxy, same machine, same run.

Starts on 127.0.0.1 only: a throwaway PostgreSQL database, two fake OpenAI-compatible
providers (instant, and 300 ms), our server as the Procfile runs it (gunicorn, uvicorn
workers, DEBUG off) and LiteLLM's own proxy (no database, master key, the same
providers, the same worker count). Runs the scenarios against both, interleaved,
prints a table of medians over the rounds and writes bench/results/latest.json.
Every process it starts is stopped at the end, also on Ctrl-C. See bench/README.md.

Environment: DATABASE_URL (any database on the PostgreSQL server to use; the bench
creates and drops its own `bench_<pid>`), BENCH_PORT_BASE (18500), BENCH_ROUNDS (3),
BENCH_SECONDS (6: per scenario, gateway and round), BENCH_STREAMS (1000) and
BENCH_STREAM_SECONDS (30: scenario 8), BENCH_PG_LOG (PostgreSQL's log, for the
round-trip count), BENCH_PROXY_VENV (bench/.proxy-venv).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18500"))
PORT_OURS = PORT_BASE + 10
PORT_PROXY = PORT_BASE + 20
PORT_FAKE = PORT_BASE + 30
PORT_FAKE_SLOW = PORT_BASE + 31
PORT_FAKE_LONG = PORT_BASE + 32
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
TIME_LIMIT = 780
WORKERS = 2
CONCURRENCY = 32
SLOW_LATENCY = 0.3
STREAM_CHUNKS = 50
# Scenario 8: this many concurrent streams, each lasting this long (a chunk per 0.1 s).
LONG_STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
LONG_STREAM_SECONDS = float(os.environ.get("BENCH_STREAM_SECONDS", "30"))
LONG_CHUNK_DELAY = 0.1
# They open evenly over this many seconds (a burst of all at once would measure how
# fast one team's requests are admitted, not how many streams are held open).
LONG_STREAM_RAMP = LONG_STREAM_SECONDS / 3
RT_CALLS = 10
PROXY_VENV = Path(os.environ.get("BENCH_PROXY_VENV", BENCH / ".proxy-venv"))
PROXY_REQUIREMENTS = BENCH / "proxy-requirements.txt"
# ~230 characters of answer: the fake provider streams it as ~50 chunks.
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark. " * 8}]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Processes ------------------------------------------------------------------------


class Processes:
    """Every process the bench starts, each in its own process group."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, command: list[str], env: dict[str, str], cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / f"{name}.log", "ab") as output:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Stragglers of the group (workers whose master died first).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])
    return {
        "pss": values.get("Pss", 0),
        "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
        "rss": values.get("Rss", 0),
    }


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def gateway_memory(root: int) -> dict[str, Any]:
    """PSS of the master and of each worker (its children, helpers left out)."""
    tree = descendants(root)
    helpers = ("resource_tracker", "semaphore_tracker")
    workers = [
        pid
        for pid in tree
        if pid != root and not any(h in cmdline(pid) for h in helpers)
    ]
    processes = {pid: memory_kib(pid) for pid in tree}
    per_worker = [processes[pid] for pid in workers]
    return {
        "master_pss_mib": processes[root]["pss"] / 1024,
        "worker_pss_mib": [m["pss"] / 1024 for m in per_worker],
        "worker_uss_mib": [m["uss"] / 1024 for m in per_worker],
        "total_pss_mib": sum(m["pss"] for m in processes.values()) / 1024,
        "processes": {str(pid): cmdline(pid)[:120] for pid in tree},
    }


def gunicorn_workers(root: int) -> list[int]:
    tree = descendants(root)
    return [pid for pid in tree if pid != root and "gunicorn" in cmdline(pid)]


def workers_wait(root: int, count: int, deadline_s: float = 60) -> None:
    started = time.perf_counter()
    while len(gunicorn_workers(root)) != count:
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError(f"gunicorn did not reach {count} workers")
        time.sleep(0.2)


def wait_http(port: int, path: str, deadline_s: float = 180) -> float:
    """Seconds until GET path answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path}")


def post_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, body=b"{}", headers={"Content-Type": "x/json"})
    return connection.getresponse().status


# --- Load -----------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    path: str
    stream_path: str
    headers: dict[str, str]
    body: Any  # (alias, stream) -> dict
    # What marks a stream's first token and its complete end (loadgen's `first`
    # and `last`).
    first: str = '"content"'
    last: str = "[DONE]"
    ok_total: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)


def load_spec(
    target: Target,
    *,
    alias: str = "bench",
    stream: bool = False,
    concurrency: int = 1,
    duration: float | None = None,
    requests: int | None = None,
) -> dict[str, Any]:
    return {
        "url": f"http://127.0.0.1:{target.port}"
        + (target.stream_path if stream else target.path),
        "headers": target.headers,
        "body": target.body(alias, stream),
        "stream": stream,
        "concurrency": concurrency,
        "duration": duration,
        "requests": requests,
        "timeout": max(60, LONG_STREAM_SECONDS * 2 + 30),
        "first": target.first,
        "last": target.last,
    }


def tally(target: Target, result: dict[str, Any]) -> dict[str, Any]:
    """Count a loadgen result on its target (scenario 6 checks the totals)."""
    target.ok_total += result["ok"]
    target.server_errors += sum(
        n for status, n in result["statuses"].items() if status.startswith("5")
    )
    if result["failed"] or result["errors"]:
        target.failures.append(
            f"{result['failed']} failed {result['errors']} {result['samples']}"
        )
    result["rps"] = result["ok"] / result["wall_s"] if result["wall_s"] else 0
    return result


def load(target: Target, **options: Any) -> dict[str, Any]:
    spec = load_spec(target, **options)
    done = subprocess.run(
        [PY, str(BENCH / "loadgen.py"), json.dumps(spec)],
        capture_output=True,
        check=True,
        timeout=(spec["duration"] or 60) + 90,
    )
    return tally(target, json.loads(done.stdout))


def many_streams(target: Target, root: int) -> dict[str, Any]:
    """Scenario 8: LONG_STREAMS streams of LONG_STREAM_SECONDS each, opened over
    LONG_STREAM_RAMP seconds so that all are open at once for the rest; the
    gateway's memory then against before, and its CPU."""
    pids = descendants(root)
    before = gateway_memory(root)["total_pss_mib"]
    cpu_before = cpu_seconds(pids)
    spec = {
        **load_spec(
            target,
            alias="bench-long",
            stream=True,
            concurrency=LONG_STREAMS,
            requests=LONG_STREAMS,
        ),
        "ramp": LONG_STREAM_RAMP,
    }
    generator = subprocess.Popen(
        [PY, str(BENCH / "loadgen.py"), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(LONG_STREAM_RAMP + (LONG_STREAM_SECONDS - LONG_STREAM_RAMP) / 2)
    during = gateway_memory(root)["total_pss_mib"]  # every stream open
    output, _ = generator.communicate(timeout=LONG_STREAM_SECONDS * 2 + 120)
    cpu = cpu_seconds(descendants(root)) - cpu_before
    result = tally(target, json.loads(output))
    return {
        **summary(result),
        "streams": LONG_STREAMS,
        "wall_s": result["wall_s"],
        "total_pss_mib_before": before,
        "total_pss_mib_during": during,
        "kib_per_open_stream": (during - before) * 1024 / LONG_STREAMS,
        "cpu_s": cpu,
        "cpu_ms_per_stream": cpu * 1000 / LONG_STREAMS,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


# --- Database -------------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_execute(
    admin_url: str, sql: str, params: tuple[Any, ...] | None = None
) -> list[tuple[Any, ...]]:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        cursor = connection.execute(sql.encode(), params)
        return cursor.fetchall() if cursor.description else []


def pg_log_path(admin_url: str) -> Path | None:
    if os.environ.get("BENCH_PG_LOG"):
        return Path(os.environ["BENCH_PG_LOG"])
    row = admin_execute(
        admin_url,
        "SELECT pg_current_logfile(), current_setting('data_directory'), "
        "current_setting('server_version_num')",
    )[0]
    if row[0]:
        path = Path(row[0])
        return path if path.is_absolute() else Path(row[1]) / path
    major = int(row[2]) // 10000
    debian = Path(f"/var/log/postgresql/postgresql-{major}-main.log")
    return debian if debian.exists() else None


def logged_statements(path: Path, offset: int, database: str) -> list[str]:
    """Statements logged for `database` since `offset` (log_statement=all)."""
    marker = re.compile(
        rf"@{re.escape(database)} LOG:  (?:statement|execute [^:]*): (.*)"
    )
    with open(path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return [m.group(1) for m in marker.finditer(text)]


def xact_count(admin_url: str, database: str) -> int:
    return admin_execute(
        admin_url,
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
        (database,),
    )[0][0]


# --- The run --------------------------------------------------------------------------


class Bench:
    def __init__(self) -> None:
        self.processes = Processes()
        self.started = time.perf_counter()
        self.admin_url = os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        )
        self.database = f"bench_{os.getpid()}"
        self.db_url = database_url(self.admin_url, self.database)
        self.results: dict[str, Any] = {"rounds": [], "notes": []}
        self.master_key = "sk-bench-" + secrets.token_hex(24)
        self.our_env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "MASTER_KEY": "sk-admin-" + secrets.token_hex(24),
            "VIRTUAL_KEY_PEPPER": secrets.token_urlsafe(48),
            "CREDENTIAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.db_url,
            "WEB_CONCURRENCY": str(WORKERS),
            "BIND": f"127.0.0.1:{PORT_OURS}",
            "PYTHONUNBUFFERED": "1",
        }
        self.our_env.pop("REDIS_URL", None)

    def remaining(self) -> float:
        return TIME_LIMIT - (time.perf_counter() - self.started)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PY, "manage.py", *args],
            cwd=ROOT,
            env=self.our_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # Setup ---------------------------------------------------------------------------

    def proxy_venv(self) -> Path:
        litellm = PROXY_VENV / "bin" / "litellm"
        if litellm.exists():
            return litellm
        log(f"creating {PROXY_VENV} from {PROXY_REQUIREMENTS.name} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(PROXY_VENV)], check=True)
        subprocess.run(
            [
                str(PROXY_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "-r",
                str(PROXY_REQUIREMENTS),
            ],
            check=True,
        )
        return litellm

    def database_create(self) -> None:
        admin_execute(self.admin_url, f'CREATE DATABASE "{self.database}"')
        done = self.manage("migrate", "--noinput")
        if done.returncode:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        done = subprocess.run(
            [
                PY,
                str(BENCH / "setup_bench.py"),
                *(str(port) for port in (PORT_FAKE, PORT_FAKE_SLOW, PORT_FAKE_LONG)),
            ],
            cwd=ROOT,
            env=self.our_env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.tenant = json.loads(done.stdout.strip().splitlines()[-1])

    def database_drop(self) -> None:
        try:
            admin_execute(
                self.admin_url,
                f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)',
            )
        except psycopg.Error as exc:
            log(f"could not drop {self.database}: {exc}")

    def providers_start(self) -> None:
        for name, port, latency in (
            ("fake-instant", PORT_FAKE, 0.0),
            ("fake-slow", PORT_FAKE_SLOW, SLOW_LATENCY),
        ):
            self.processes.start(
                name,
                [
                    PY,
                    str(BENCH / "fake_provider.py"),
                    "--port",
                    str(port),
                    "--latency",
                    str(latency),
                    "--chunks",
                    str(STREAM_CHUNKS),
                ],
                self.our_env,
            )
        # Scenario 8's provider: streams of LONG_STREAM_SECONDS, two processes so
        # that a thread per open stream is not what limits it.
        self.processes.start(
            "fake-long",
            [
                PY,
                str(BENCH / "fake_provider.py"),
                "--port",
                str(PORT_FAKE_LONG),
                "--chunks",
                str(int(LONG_STREAM_SECONDS / LONG_CHUNK_DELAY)),
                "--chunk-delay",
                str(LONG_CHUNK_DELAY),
                "--processes",
                "2",
            ],
            self.our_env,
        )
        for port in (PORT_FAKE, PORT_FAKE_SLOW, PORT_FAKE_LONG):
            wait_http_any(port)

    def ours_start(self) -> float:
        started = time.perf_counter()
        self.processes.start(
            "ours",
            [
                str(Path(PY).parent / "gunicorn"),
                "saas_litellm.asgi:application",
                "--config",
                "gunicorn.conf.py",
            ],
            self.our_env,
        )
        wait_http(PORT_OURS, "/health")
        return time.perf_counter() - started

    def proxy_start(self, litellm: Path) -> float:
        config = {
            "model_list": [
                {
                    "model_name": alias,
                    "litellm_params": {
                        "model": "openai/fake-echo",
                        "api_base": f"http://127.0.0.1:{port}/v1",
                        "api_key": "sk-fake-bench-provider-key",
                    },
                }
                for alias, port in (
                    ("bench", PORT_FAKE),
                    ("bench-slow", PORT_FAKE_SLOW),
                    ("bench-long", PORT_FAKE_LONG),
                )
            ]
            + [
                # Scenario 9: three deployments of one model name, as bench-pool.
                {
                    "model_name": "bench-pool",
                    "litellm_params": {
                        "model": "openai/fake-echo",
                        "api_base": f"http://127.0.0.1:{PORT_FAKE}/v1",
                        "api_key": "sk-fake-bench-provider-key",
                    },
                }
                for _ in range(3)
            ]
            + [
                # For /v1/responses: a provider litellm knows no Responses API of,
                # so the proxy answers it through chat completions, as ours does.
                {
                    "model_name": "bench-bridge",
                    "litellm_params": {
                        "model": "custom_openai/fake-echo",
                        "api_base": f"http://127.0.0.1:{PORT_FAKE}/v1",
                        "api_key": "sk-fake-bench-provider-key",
                    },
                }
            ],
            "general_settings": {"master_key": self.master_key},
            "litellm_settings": {"telemetry": False},
        }
        LOGS.mkdir(parents=True, exist_ok=True)
        path = LOGS / "proxy-config.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        env = {
            "PATH": f"{litellm.parent}:{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(Path.home())),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "PYTHONUNBUFFERED": "1",
        }
        started = time.perf_counter()
        self.processes.start(
            "proxy",
            [
                str(litellm),
                "--config",
                str(path),
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT_PROXY),
                "--num_workers",
                str(WORKERS),
            ],
            env,
            cwd=LOGS,
        )
        wait_http(PORT_PROXY, "/health/liveliness")
        return time.perf_counter() - started

    # Targets -------------------------------------------------------------------------

    def targets(self) -> tuple[Target, Target, Target]:
        team_id, key = self.tenant["team_id"], self.tenant["key"]
        if post_status(PORT_OURS, "/v1/chat/completions") != 404:
            self.results["ours_endpoint"] = "/v1/chat/completions"
            ours = Target(
                "ours",
                PORT_OURS,
                "/v1/chat/completions",
                "/v1/chat/completions",
                {"Authorization": f"Bearer {key}"},
                openai_body,
            )
        else:
            self.results["ours_endpoint"] = "/api/jobs/create-and-call(-stream)"
            ours = Target(
                "ours",
                PORT_OURS,
                "/api/jobs/create-and-call",
                "/api/jobs/create-and-call-stream",
                {"Authorization": f"Bearer {key}"},
                lambda alias, stream: {
                    "team_id": team_id,
                    "job_type": "bench",
                    "model": alias,
                    "messages": MESSAGES,
                },
            )
        proxy = Target(
            "proxy",
            PORT_PROXY,
            "/v1/chat/completions",
            "/v1/chat/completions",
            {"Authorization": f"Bearer {self.master_key}"},
            openai_body,
        )
        direct = Target(
            "direct",
            PORT_FAKE,
            "/v1/chat/completions",
            "/v1/chat/completions",
            {"Authorization": "Bearer sk-fake-bench-provider-key"},
            lambda alias, stream: openai_body("fake-echo", stream),
        )
        return ours, proxy, direct

    def endpoint_targets(self) -> dict[str, tuple[Target, Target, Target, bool]]:
        """The other endpoints, each as (ours, proxy, direct provider, streamed):
        embeddings, Responses and Anthropic Messages, the last two streamed. Both
        gateways answer the last two through the provider's chat completions."""
        ours_auth = {"Authorization": f"Bearer {self.tenant['key']}"}
        proxy_auth = {"Authorization": f"Bearer {self.master_key}"}
        anthropic = {"anthropic-version": "2023-06-01"}
        direct_auth = {"Authorization": "Bearer sk-fake-bench-provider-key"}
        text = MESSAGES[0]["content"]

        def embedding(alias: str) -> Any:
            return lambda _alias, _stream: {"model": alias, "input": text}

        def responses(alias: str) -> Any:
            return lambda _alias, _stream: {
                "model": alias,
                "input": text,
                "stream": True,
            }

        def messages(alias: str) -> Any:
            return lambda _alias, _stream: {
                "model": alias,
                "max_tokens": 256,
                "messages": MESSAGES,
                "stream": True,
            }

        markers = {  # the first token, and what ends a complete stream
            "/v1/responses": ('"response.output_text.delta"', '"response.completed"'),
            "/v1/messages": ('"text_delta"', '"message_stop"'),
        }

        def target(name: str, port: int, path: str, headers: Any, body: Any) -> Any:
            first, last = markers.get(path, ('"content"', "[DONE]"))
            return Target(name, port, path, path, headers, body, first, last)

        chat_direct = target(
            "direct",
            PORT_FAKE,
            "/v1/chat/completions",
            direct_auth,
            lambda _alias, stream: openai_body("fake-echo", stream),
        )
        return {
            "embeddings": (
                target(
                    "ours", PORT_OURS, "/v1/embeddings", ours_auth, embedding("bench")
                ),
                target(
                    "proxy",
                    PORT_PROXY,
                    "/v1/embeddings",
                    proxy_auth,
                    embedding("bench"),
                ),
                target(
                    "direct",
                    PORT_FAKE,
                    "/v1/embeddings",
                    direct_auth,
                    embedding("fake-echo"),
                ),
                False,
            ),
            "responses": (
                target(
                    "ours", PORT_OURS, "/v1/responses", ours_auth, responses("bench")
                ),
                target(
                    "proxy",
                    PORT_PROXY,
                    "/v1/responses",
                    proxy_auth,
                    responses("bench-bridge"),
                ),
                chat_direct,
                True,
            ),
            "messages": (
                target(
                    "ours",
                    PORT_OURS,
                    "/v1/messages",
                    {**ours_auth, **anthropic},
                    messages("bench"),
                ),
                target(
                    "proxy",
                    PORT_PROXY,
                    "/v1/messages",
                    {**proxy_auth, **anthropic},
                    messages("bench-bridge"),
                ),
                chat_direct,
                True,
            ),
        }

    # Phases --------------------------------------------------------------------------

    def round_trips(self) -> float:
        """Start ours with log_statement=all on the bench database; count statements."""
        path = pg_log_path(self.admin_url)
        readable = path is not None and os.access(path, os.R_OK)
        if readable:
            admin_execute(
                self.admin_url,
                f"ALTER DATABASE \"{self.database}\" SET log_statement = 'all'",
            )
        try:
            startup = self.ours_start()
            ours, _, _ = self.targets()
            load(ours, requests=5)
            load(ours, requests=2, stream=True)
            found: dict[str, Any] = {"method": "log_statement=all", "log": str(path)}
            if readable:
                assert path is not None
                for kind, stream in (("non_stream", False), ("stream", True)):
                    offset = path.stat().st_size
                    result = load(ours, requests=RT_CALLS, stream=stream)
                    time.sleep(0.5)
                    statements = logged_statements(path, offset, self.database)
                    found[kind] = len(statements) / max(1, result["ok"])
                    found[f"{kind}_statements_of_one_call"] = [
                        s[:160] for s in statements[: len(statements) // RT_CALLS]
                    ]
            else:
                found["method"] = f"PostgreSQL log not readable ({path})"
            self.results["db_round_trips"] = found
            self.ours_ok_before_main = ours.ok_total
            self.ours_5xx_before_main = ours.server_errors
        finally:
            self.processes.stop("ours")
            if readable:
                admin_execute(
                    self.admin_url,
                    f'ALTER DATABASE "{self.database}" RESET log_statement',
                )
        return startup

    def scenarios(self, ours: Target, proxy: Target, direct: Target) -> None:
        gateways = {"ours": ours, "proxy": proxy}
        roots = {
            "ours": self.processes.running["ours"].pid,
            "proxy": self.processes.running["proxy"].pid,
        }
        log("warm-up")
        for target in (ours, proxy, direct):
            load(target, requests=40, concurrency=4)
            load(target, requests=8, concurrency=2, stream=True)
        for target in (ours, proxy):
            load(target, alias="bench-slow", requests=64, concurrency=CONCURRENCY)
        endpoints = self.endpoint_targets()
        for mine, theirs, _, streamed in endpoints.values():
            for target in (mine, theirs):
                load(target, stream=streamed, requests=20, concurrency=2)
        per_round_cost = 5 * (2 * SECONDS + SECONDS / 2) + 3 * 1.5 * SECONDS + 30
        for number in range(ROUNDS):
            # What follows the rounds: scenario 8 on both gateways, then memory.
            after_rounds = 2 * (LONG_STREAM_SECONDS + LONG_STREAM_RAMP + 15) + 60
            if number and self.remaining() < per_round_cost + after_rounds:
                self.results["notes"].append(
                    f"stopped after {number} round(s) to stay within the time limit"
                )
                break
            order = ["ours", "proxy"] if number % 2 == 0 else ["proxy", "ours"]
            log(f"round {number + 1}/{ROUNDS} (order {' then '.join(order)})")
            entry: dict[str, Any] = {"order": order}
            # (1) non-streaming overhead at concurrency 1.
            base = load(direct, duration=SECONDS / 2)
            entry["direct_c1"] = summary(base)
            for name in order:
                result = load(gateways[name], duration=SECONDS)
                entry[f"{name}_c1"] = {
                    **summary(result),
                    "overhead_p50_ms": percentile(result["latencies_ms"], 0.5)
                    - percentile(base["latencies_ms"], 0.5),
                    "overhead_p99_ms": percentile(result["latencies_ms"], 0.99)
                    - percentile(base["latencies_ms"], 0.99),
                }
            # (2) concurrency 32, instant provider.
            entry["direct_c32"] = summary(
                load(direct, concurrency=CONCURRENCY, duration=SECONDS / 2)
            )
            for name in order:
                entry[f"{name}_c32"] = summary(
                    load(gateways[name], concurrency=CONCURRENCY, duration=SECONDS)
                )
            # (3) concurrency 32, 300 ms provider.
            for name in order:
                entry[f"{name}_c32_slow"] = summary(
                    load(
                        gateways[name],
                        alias="bench-slow",
                        concurrency=CONCURRENCY,
                        duration=max(SECONDS, 6),
                    )
                )
            # (4) streaming at concurrency 1: time to first token, CPU per chunk.
            base = load(direct, stream=True, duration=SECONDS / 2)
            chunks_per_stream = base["frames"] / max(1, base["ok"])
            entry["direct_stream"] = {
                **summary(base),
                "ttft_p50_ms": percentile(base["ttft_ms"], 0.5),
                "provider_frames_per_stream": chunks_per_stream,
            }
            for name in order:
                pids = descendants(roots[name])
                cpu_before = cpu_seconds(pids)
                result = load(gateways[name], stream=True, duration=SECONDS)
                cpu = cpu_seconds(pids) - cpu_before
                entry[f"{name}_stream"] = {
                    **summary(result),
                    "ttft_p50_ms": percentile(result["ttft_ms"], 0.5),
                    "ttft_overhead_p50_ms": percentile(result["ttft_ms"], 0.5)
                    - percentile(base["ttft_ms"], 0.5),
                    "cpu_s": cpu,
                    "cpu_per_chunk_us": cpu
                    / max(1, result["ok"] * chunks_per_stream)
                    * 1e6,
                    "cpu_per_stream_ms": cpu / max(1, result["ok"]) * 1e3,
                }
            # (5) the other endpoints at concurrency 1: overhead over the provider.
            for endpoint, (mine, theirs, base_target, streamed) in endpoints.items():
                base = load(base_target, stream=streamed, duration=SECONDS / 2)
                by_name = {"ours": mine, "proxy": theirs}
                for name in order:
                    result = load(by_name[name], stream=streamed, duration=SECONDS / 2)
                    measured = {
                        **summary(result),
                        "overhead_p50_ms": percentile(result["latencies_ms"], 0.5)
                        - percentile(base["latencies_ms"], 0.5),
                    }
                    if streamed:
                        measured["ttft_overhead_p50_ms"] = percentile(
                            result["ttft_ms"], 0.5
                        ) - percentile(base["ttft_ms"], 0.5)
                    entry[f"{name}_{endpoint}"] = measured
            # (9) routing: an alias over three deployments, c=1 and c=32.
            base = load(direct, duration=SECONDS / 2)
            for name in order:
                result = load(gateways[name], alias="bench-pool", duration=SECONDS)
                entry[f"{name}_pool_c1"] = {
                    **summary(result),
                    "overhead_p50_ms": percentile(result["latencies_ms"], 0.5)
                    - percentile(base["latencies_ms"], 0.5),
                }
                entry[f"{name}_pool_c32"] = summary(
                    load(
                        gateways[name],
                        alias="bench-pool",
                        concurrency=CONCURRENCY,
                        duration=SECONDS,
                    )
                )
            self.results["rounds"].append(entry)
        for mine, theirs, _, _ in endpoints.values():  # counted with the chat load
            for main, other in ((ours, mine), (proxy, theirs)):
                main.ok_total += other.ok_total
                main.server_errors += other.server_errors
                main.failures += other.failures
        for name in ("ours", "proxy"):
            self.results[f"{name}_memory"] = gateway_memory(roots[name])
        for name in ("ours", "proxy"):
            log(f"{LONG_STREAMS} streams at once: {name}")
            self.results[f"{name}_many_streams"] = many_streams(
                gateways[name], roots[name]
            )
        self.results["ours_added_worker"] = self.added_worker(ours, roots["ours"])

    def added_worker(self, ours: Target, root: int) -> dict[str, Any]:
        """What one more worker costs: the server's total PSS after the same load
        with 2 workers and with 3 (gunicorn adds one on SIGTTIN, removes it on
        SIGTTOU). PSS per worker divides the shared pages among the processes; the
        difference of the totals is the memory an additional worker adds."""
        load(ours, requests=300, concurrency=8)
        before = gateway_memory(root)["total_pss_mib"]
        os.kill(root, signal.SIGTTIN)
        try:
            workers_wait(root, WORKERS + 1)
            wait_http(PORT_OURS, "/health")
            load(ours, requests=450, concurrency=12)
            after = gateway_memory(root)["total_pss_mib"]
        finally:
            os.kill(root, signal.SIGTTOU)
        workers_wait(root, WORKERS)
        return {"total_pss_mib_before": before, "total_pss_mib_after": after}

    def routing_stage(self) -> dict[str, Any]:
        """bench/router_overhead.py, with Redis when one answers on 127.0.0.1:6379
        (as several machines would run), else process memory."""
        log("routing stage: litellm Router against our plan, in one process")
        env = dict(self.our_env)
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", 6379), timeout=1),
        ):
            env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
        done = subprocess.run(
            [PY, str(BENCH / "router_overhead.py"), "1000"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        lines = done.stdout.strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            self.results["notes"].append(
                f"routing stage failed ({done.returncode}): {done.stderr[-500:]}"
            )
            return {}

    def correctness(self, ours: Target) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as connection:
            calls = dict(
                connection.execute(
                    "SELECT status, count(*) FROM jobs_llmcall GROUP BY status"
                ).fetchall()
            )
            jobs = dict(
                connection.execute(
                    "SELECT status, count(*) FROM jobs_job GROUP BY status"
                ).fetchall()
            )
        reconcile = self.manage("reconcile_credits")
        self.results["correctness"] = {
            "ours_successful_responses": ours.ok_total,
            "llm_calls_by_status": calls,
            "jobs_by_status": jobs,
            "reconcile_exit_status": reconcile.returncode,
            "reconcile_output": (reconcile.stdout + reconcile.stderr).strip()[-2000:],
        }

    def run(self) -> None:
        litellm = self.proxy_venv()
        self.started = time.perf_counter()  # the clock starts once the venv exists
        signal.alarm(TIME_LIMIT)  # a hard stop: cleanup runs in `finally`
        self.results["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.results["load_average_before"] = os.getloadavg()
        self.results["cpus"] = os.cpu_count()
        self.results["import_litellm_s"] = import_time("litellm")
        log(f"database {self.database}")
        self.database_create()
        try:
            self.providers_start()
            log("database round trips (log_statement=all, our server alone)")
            startup_ours = [self.round_trips()]
            xacts_before = xact_count(self.admin_url, self.database)
            log("starting our server and LiteLLM's proxy")
            startup_ours.append(self.ours_start())
            startup_proxy = self.proxy_start(litellm)
            self.results["startup_s"] = {"ours": startup_ours, "proxy": [startup_proxy]}
            ours, proxy, direct = self.targets()
            ours.ok_total = self.ours_ok_before_main
            ours.server_errors = self.ours_5xx_before_main
            ok_before = ours.ok_total
            self.scenarios(ours, proxy, direct)
            self.results["load_average_after"] = os.getloadavg()
            self.processes.stop("ours")
            self.processes.stop("proxy")
            self.results["routing_stage"] = self.routing_stage()
            time.sleep(1)
            self.results["db_transactions_per_call"] = (
                xact_count(self.admin_url, self.database) - xacts_before
            ) / max(1, ours.ok_total - ok_before)
            self.correctness(ours)
            self.results["server_errors"] = {
                "ours": ours.server_errors,
                "proxy": proxy.server_errors,
                "direct": direct.server_errors,
            }
            self.results["failures"] = {
                "ours": ours.failures,
                "proxy": proxy.failures,
                "direct": direct.failures,
            }
        finally:
            self.processes.stop_all()
            self.database_drop()
        self.results["elapsed_s"] = time.perf_counter() - self.started


def import_time(module: str) -> float:
    """Seconds a fresh interpreter takes to import `module` (a floor for start-up)."""
    started = time.perf_counter()
    subprocess.run(
        [PY, "-c", f"import {module}"],
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def wait_http_any(port: int) -> None:
    """The fake provider answers 404 on GET /: any answer means it listens."""
    started = time.perf_counter()
    while time.perf_counter() - started < 30:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/models")
            connection.getresponse()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the fake provider on port {port} did not start")


def openai_body(alias: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": alias, "messages": MESSAGES}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def summary(result: dict[str, Any]) -> dict[str, Any]:
    latencies = result["latencies_ms"]
    return {
        "ok": result["ok"],
        "failed": result["failed"],
        "errors": result["errors"],
        "statuses": result["statuses"],
        "rps": result["rps"],
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


# --- Report ---------------------------------------------------------------------------


def report_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rounds = results["rounds"]

    def med(key: str, metric: str) -> float:
        return median([r[key][metric] for r in rounds if key in r])

    def row(
        scenario: str,
        metric: str,
        ours: float,
        proxy: float,
        target: str = "",
        passed: bool | None = None,
    ) -> dict[str, Any]:
        ratio = ours / proxy if proxy and not math.isnan(proxy) else math.nan
        return {
            "scenario": scenario,
            "metric": metric,
            "ours": ours,
            "proxy": proxy,
            "ratio": ratio,
            "target": target,
            "pass": passed,
        }

    rows = []
    o, p = med("ours_c1", "overhead_p50_ms"), med("proxy_c1", "overhead_p50_ms")
    rows.append(
        row("1 non-stream c=1", "overhead p50 ms", o, p, "<= 0.6 x proxy", o <= 0.6 * p)
    )
    rows.append(
        row(
            "1 non-stream c=1",
            "overhead p99 ms",
            med("ours_c1", "overhead_p99_ms"),
            med("proxy_c1", "overhead_p99_ms"),
        )
    )
    rows.append(
        row(
            "1 non-stream c=1",
            f"latency p50 ms (direct provider: {med('direct_c1', 'p50_ms'):.2f})",
            med("ours_c1", "p50_ms"),
            med("proxy_c1", "p50_ms"),
        )
    )
    o, p = med("ours_c32", "rps"), med("proxy_c32", "rps")
    rows.append(
        row(
            "2 c=32 instant",
            f"req/s (direct provider: {med('direct_c32', 'rps'):.0f})",
            o,
            p,
            ">= 1.4 x proxy",
            o >= 1.4 * p,
        )
    )
    rows.append(
        row(
            "2 c=32 instant",
            "p99 ms",
            med("ours_c32", "p99_ms"),
            med("proxy_c32", "p99_ms"),
        )
    )
    ideal = CONCURRENCY / SLOW_LATENCY
    o, p = med("ours_c32_slow", "rps"), med("proxy_c32_slow", "rps")
    rows.append(row("3 c=32 300 ms", f"req/s (ideal {ideal:.1f})", o, p))
    rows.append(row("3 c=32 300 ms", "% of ideal", 100 * o / ideal, 100 * p / ideal))
    rows.append(
        row(
            "3 c=32 300 ms",
            "p99 ms",
            med("ours_c32_slow", "p99_ms"),
            med("proxy_c32_slow", "p99_ms"),
        )
    )
    o = med("ours_stream", "ttft_overhead_p50_ms")
    rows.append(
        row(
            "4 stream c=1",
            "TTFT overhead p50 ms",
            o,
            med("proxy_stream", "ttft_overhead_p50_ms"),
            "<= 6",
            o <= 6,
        )
    )
    rows.append(
        row(
            "4 stream c=1",
            "CPU per chunk us",
            med("ours_stream", "cpu_per_chunk_us"),
            med("proxy_stream", "cpu_per_chunk_us"),
        )
    )
    rows.append(
        row(
            "4 stream c=1",
            "CPU per stream ms",
            med("ours_stream", "cpu_per_stream_ms"),
            med("proxy_stream", "cpu_per_stream_ms"),
        )
    )
    for endpoint, streamed in (
        ("embeddings", False),
        ("responses", True),
        ("messages", True),
    ):
        key = f"7 /v1/{endpoint}" + (" stream" if streamed else "") + " c=1"
        o = med(f"ours_{endpoint}", "overhead_p50_ms")
        p = med(f"proxy_{endpoint}", "overhead_p50_ms")
        rows.append(row(key, "overhead p50 ms", o, p, "<= proxy", o <= p))
        if streamed:
            rows.append(
                row(
                    key,
                    "TTFT overhead p50 ms",
                    med(f"ours_{endpoint}", "ttft_overhead_p50_ms"),
                    med(f"proxy_{endpoint}", "ttft_overhead_p50_ms"),
                )
            )
    many = {n: results.get(f"{n}_many_streams", {}) for n in ("ours", "proxy")}
    if many["ours"]:
        key = f"8 {LONG_STREAMS} streams at once"
        o = many["ours"].get("ok", 0)
        rows.append(
            row(
                key,
                f"completed of {LONG_STREAMS} ({LONG_STREAM_SECONDS:.0f} s each)",
                o,
                many["proxy"].get("ok", math.nan),
                "all",
                o == LONG_STREAMS,
            )
        )
        for metric, label in (
            ("kib_per_open_stream", "memory per open stream KiB (PSS)"),
            ("cpu_ms_per_stream", "CPU per stream ms"),
            ("p50_ms", "latency p50 ms"),
        ):
            rows.append(
                row(
                    key,
                    label,
                    many["ours"].get(metric, math.nan),
                    many["proxy"].get(metric, math.nan),
                )
            )
    if any("ours_pool_c1" in r for r in rounds):
        key = "9 routing, 3 deployments"
        one = med("ours_c1", "overhead_p50_ms")
        rows.append(
            row(
                key,
                f"overhead p50 ms c=1 (ours with 1 deployment: {one:.2f})",
                med("ours_pool_c1", "overhead_p50_ms"),
                med("proxy_pool_c1", "overhead_p50_ms"),
            )
        )
        rows.append(
            row(
                key,
                f"req/s c=32 (ours with 1 deployment: {med('ours_c32', 'rps'):.0f})",
                med("ours_pool_c32", "rps"),
                med("proxy_pool_c32", "rps"),
            )
        )
    stage = results.get("routing_stage", {})
    if stage:
        o, r = stage["ours_routing_p50_ms"], stage["router_routing_p50_ms"]
        rows.append(
            row(
                "9 routing stage in-process",
                f"ms added to a call, ours vs litellm Router ({stage['shared_state']} "
                "state); proxy column: Router",
                o,
                r,
                "Router unless > ours + 1 ms",
                None,
            )
        )
    memory = {name: results.get(f"{name}_memory", {}) for name in ("ours", "proxy")}
    pss = {n: max(m.get("worker_pss_mib") or [math.nan]) for n, m in memory.items()}
    rows.append(row("5 memory", "PSS per worker MiB (max)", pss["ours"], pss["proxy"]))
    added = results.get("ours_added_worker", {})
    grown = added.get("total_pss_mib_after", math.nan) - added.get(
        "total_pss_mib_before", math.nan
    )
    rows.append(
        row(
            "5 memory",
            "total PSS added by a 3rd worker MiB (ours: gunicorn TTIN)",
            grown,
            math.nan,
            "<= 150",
            grown <= 150,
        )
    )
    uss = {n: max(m.get("worker_uss_mib") or [math.nan]) for n, m in memory.items()}
    rows.append(
        row("5 memory", "private (USS) per worker MiB", uss["ours"], uss["proxy"])
    )
    rows.append(
        row(
            "5 memory",
            "total PSS MiB (master + workers)",
            memory["ours"].get("total_pss_mib", math.nan),
            memory["proxy"].get("total_pss_mib", math.nan),
        )
    )
    startup = results.get("startup_s", {})
    o = median(startup.get("ours", [math.nan]))
    rows.append(
        row(
            "5 start-up",
            "s to first 200 on health (python -c 'import litellm': "
            f"{results.get('import_litellm_s', math.nan):.2f})",
            o,
            median(startup.get("proxy", [math.nan])),
            "< 5",
            o < 5,
        )
    )
    errors = results.get("server_errors", {})
    rows.append(
        row(
            "6 after load",
            "5xx responses",
            errors.get("ours", math.nan),
            errors.get("proxy", math.nan),
            "0",
            errors.get("ours") == 0,
        )
    )
    correctness = results.get("correctness", {})
    calls = correctness.get("llm_calls_by_status", {})
    seen = correctness.get("ours_successful_responses", 0)
    recorded = calls.get("succeeded", 0)
    rows.append(
        row(
            "6 after load",
            f"successful responses {seen} / LLMCall succeeded {recorded}",
            seen - recorded,
            math.nan,
            "0 lost",
            seen == recorded and not calls.get("in_progress"),
        )
    )
    rows.append(
        row(
            "6 after load",
            "ledger reconciles (reconcile_credits exit)",
            correctness.get("reconcile_exit_status", math.nan),
            math.nan,
            "0",
            correctness.get("reconcile_exit_status") == 0,
        )
    )
    trips = results.get("db_round_trips", {})
    o = trips.get("non_stream", math.nan)
    rows.append(row("DB", "statements per call (non-stream)", o, math.nan))
    rows.append(
        row(
            "DB",
            "statements per call (stream)",
            trips.get("stream", math.nan),
            math.nan,
        )
    )
    rows.append(
        row(
            "DB",
            "transactions per call (pg_stat_database)",
            results.get("db_transactions_per_call", math.nan),
            math.nan,
        )
    )
    return rows


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    headers = [
        "scenario",
        "metric",
        "ours",
        "litellm proxy",
        "ours/proxy",
        "target",
        "",
    ]
    lines = [
        [
            r["scenario"],
            r["metric"],
            fmt(r["ours"]),
            fmt(r["proxy"]),
            fmt(r["ratio"]),
            r["target"],
            fmt(r["pass"]),
        ]
        for r in rows
    ]
    widths = [
        max(len(x) for x in column) for column in zip(headers, *lines, strict=True)
    ]
    out = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
        for line in lines
    ]
    return "\n".join(out)


def main() -> int:
    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell's background job inherits it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(signum, terminate)
    bench = Bench()
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted: every process stopped, database dropped")
        return 130
    results = bench.results
    rows = report_rows(results)
    results["table"] = rows
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(results, indent=2, default=str, allow_nan=True)
    )
    print()
    print(
        f"Ours ({results.get('ours_endpoint')}) vs LiteLLM proxy "
        f"(/v1/chat/completions), {WORKERS} workers each, medians of "
        f"{len(results['rounds'])} rounds; {results['cpus']} CPUs; load average "
        f"before {results['load_average_before'][0]:.2f}, after "
        f"{results.get('load_average_after', [math.nan])[0]:.2f}; "
        f"{results['elapsed_s']:.0f} s"
    )
    print(table(rows))
    trips = results.get("db_round_trips", {})
    print(
        "\nDB round trips: statements PostgreSQL logged for the bench database "
        f"(log_statement=all) over {RT_CALLS} sequential calls, divided by the calls; "
        "transactions: xact_commit + xact_rollback delta of pg_stat_database over the "
        "whole load, divided by our successful calls."
    )
    for note in results["notes"]:
        print(f"note: {note}")
    failures = results.get("failures", {})
    for name, items in failures.items():
        for item in items[:3]:
            print(f"{name} failures: {item}")
    print(f"\nDetails: {RESULTS / 'latest.json'}")
    if trips.get("non_stream_statements_of_one_call"):
        print("Statements of one non-streamed call:")
        for statement in trips["non_stream_statements_of_one_call"]:
            print(f"  {statement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
