"""Settings for SaaS LiteLLM.

Everything comes from the environment (or a `.env` file beside manage.py) through one
`environ.Env()`. With nothing set, a fresh checkout runs on SQLite with DEBUG on and
development secrets generated once into `.dev-secrets.env`. With DEBUG off every secret
must be given and strong, or start-up stops with a message that names what is missing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# --- Mode ---------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Secrets --------------------------------------------------------------------------
# SECRET_KEY signs sessions; MASTER_KEY (and MASTER_KEY_NEXT during a switch) is the
# operator's admin key; VIRTUAL_KEY_PEPPER keys the HMAC that stores team keys; the
# CREDENTIAL_ENCRYPTION_KEYS encrypt provider API keys at rest (Fernet, newest first).

DEV_SECRETS_FILE = BASE_DIR / ".dev-secrets.env"
SECRET_NAMES = (
    "SECRET_KEY",
    "MASTER_KEY",
    "VIRTUAL_KEY_PEPPER",
    "CREDENTIAL_ENCRYPTION_KEYS",
)


def _dev_secrets() -> dict[str, str]:
    """Development secrets, generated once per checkout so keys survive restarts."""
    if not DEV_SECRETS_FILE.exists():
        generated = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "MASTER_KEY": "sk-admin-" + secrets.token_hex(24),
            "VIRTUAL_KEY_PEPPER": secrets.token_urlsafe(32),
            "CREDENTIAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
        body = "".join(f"{name}={value}\n" for name, value in generated.items())
        try:
            # O_EXCL: when several workers start at once only one writes the file.
            fd = os.open(DEV_SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
    values = {}
    for line in DEV_SECRETS_FILE.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


_dev = (
    _dev_secrets()
    if DEBUG and not all(os.environ.get(name) for name in SECRET_NAMES)
    else {}
)


def _secret(name: str) -> str:
    return env.str(name, default="") or _dev.get(name, "")


SECRET_KEY = _secret("SECRET_KEY")
MASTER_KEY = _secret("MASTER_KEY")
MASTER_KEY_NEXT = env.str("MASTER_KEY_NEXT", default="")
VIRTUAL_KEY_PEPPER = _secret("VIRTUAL_KEY_PEPPER")
CREDENTIAL_ENCRYPTION_KEYS = [
    key.strip()
    for key in _secret("CREDENTIAL_ENCRYPTION_KEYS").split(",")
    if key.strip()
]

# Lets the development server treat requests from this machine that carry no admin key
# as the operator, so the published guide's curl examples run exactly as written.
# Refused at start-up with DEBUG off.
ADMIN_LOOPBACK_TRUST = env.bool("ADMIN_LOOPBACK_TRUST", default=False)


def _secret_problems() -> list[str]:
    problems = []
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        problems.append("SECRET_KEY must be set to a random value of 50+ characters")
    for name, value in (
        ("MASTER_KEY", MASTER_KEY),
        ("MASTER_KEY_NEXT", MASTER_KEY_NEXT),
    ):
        if (value or name == "MASTER_KEY") and len(value) < 32:
            problems.append(f"{name} must be set to a random value of 32+ characters")
    if len(VIRTUAL_KEY_PEPPER) < 32:
        problems.append("VIRTUAL_KEY_PEPPER must be a random value of 32+ characters")
    if VIRTUAL_KEY_PEPPER and VIRTUAL_KEY_PEPPER == SECRET_KEY:
        problems.append("VIRTUAL_KEY_PEPPER must differ from SECRET_KEY")
    if not CREDENTIAL_ENCRYPTION_KEYS:
        problems.append("CREDENTIAL_ENCRYPTION_KEYS must hold at least one Fernet key")
    for key in CREDENTIAL_ENCRYPTION_KEYS:
        try:
            Fernet(key)
        except ValueError:
            problems.append(
                "CREDENTIAL_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
            break
    if ADMIN_LOOPBACK_TRUST:
        problems.append("ADMIN_LOOPBACK_TRUST is for the development server only")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must name the hosts this server answers for")
    return problems


if not DEBUG and (problems := _secret_problems()):
    raise ImproperlyConfigured(
        "Refusing to start with DEBUG off:\n  - " + "\n  - ".join(problems)
    )

# --- Applications ---------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files for /api/docs/, served with the admin's (no CDN).
    "drf_spectacular_sidecar",
    "teams",
    "credits",
    "jobs",
    "django_tasks",
    "django_tasks_db",
    "alerts",
    "usage",
    "saas_litellm.apps.SaasLitellmConfig",
]

# Django's usual stack, through subclasses that spare the API thread hops under
# ASGI (see saas_litellm/middleware.py).
MIDDLEWARE = [
    # X-Request-Id, the access log and HTTP metrics: first, so it sees every answer.
    "saas_litellm.middleware.RequestContextMiddleware",
    "saas_litellm.middleware.SecurityMiddleware",
    # Oversized bodies (413) and an unreachable database (503) as JSON.
    "saas_litellm.middleware.RequestGuardMiddleware",
    "saas_litellm.middleware.AsyncWhiteNoiseMiddleware",
    "saas_litellm.middleware.SessionMiddleware",
    "saas_litellm.middleware.CommonMiddleware",
    "saas_litellm.middleware.CsrfViewMiddleware",
    "saas_litellm.middleware.AuthenticationMiddleware",
    "saas_litellm.middleware.MessageMiddleware",
    "saas_litellm.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "saas_litellm.urls"
WSGI_APPLICATION = "saas_litellm.wsgi.application"
ASGI_APPLICATION = "saas_litellm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite by default; DATABASE_URL=postgres://… switches to PostgreSQL through psycopg 3
# with its connection pool (Django's pool replaces persistent connections).
#
# With the database away, requests fail fast, as a JSON 503 `database_unavailable`
# (saas_litellm.middleware.RequestGuardMiddleware), and /ready as a 503:
# - DATABASE_CONNECT_TIMEOUT (seconds, default 2; libpq's minimum is 2): how long one
#   connection attempt may take. A query parameter of DATABASE_URL wins.
# - DATABASE_POOL_TIMEOUT (seconds, default 1.5): how long a request waits for a
#   pooled connection. The pool connects in the background, so with the database
#   down every request waits this long.
# - DATABASE_POOL_BUSY_TIMEOUT (seconds, default 30): how long a request may queue in
#   all while the pool's connections are lent out (the database answers, the
#   process is busy: a burst), or, for an LLM request's admission, for one of the
#   worker's database threads. Past it, the same 503.

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a pool wait that tells a busy pool from a database down
    # (saas_litellm/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "saas_litellm.postgresql"
    db_options = DATABASES["default"].setdefault("OPTIONS", {})
    db_options.setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2)
    )
    if env.bool("DATABASE_POOL", default=True):
        db_options["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=1),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=1.5),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Parameters bound by the server, and a statement run DATABASE_PREPARE_THRESHOLD
    # times on a connection prepared by psycopg (Django turns that off unless asked):
    # the hot path's statements then skip parsing and planning. Set it to -1 behind
    # a pooler in transaction mode (PgBouncer before 1.21), which cannot keep them.
    db_options.setdefault(
        "server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    )
    prepare_threshold = env.int("DATABASE_PREPARE_THRESHOLD", default=2)
    if db_options["server_side_binding"] and prepare_threshold >= 0:
        db_options.setdefault("prepare_threshold", prepare_threshold)
else:
    # SQLite: wait for the write lock instead of failing at once under concurrency.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

# (Above, under Database; read on SQLite too, by the database threads' queue.)
DATABASE_POOL_BUSY_TIMEOUT = env.float("DATABASE_POOL_BUSY_TIMEOUT", default=30.0)

# The threads each server worker runs the API's database work on (admission, the
# call's outcome and settlement; jobs/pipeline.py, database_threads_start): so
# many transactions of a worker at once. Few is faster on a small machine: at c=32
# on 2 cores, requests/s went 124-133 with 20, 154-159 with 8, 174-215 with 4,
# 184-199 with 2 (other requests queue for a thread, in order); on another 2-core
# machine, once a transaction waited for the server once less, 141-187 with 8,
# 175-211 with 4, 218-266 with 2. A call's database work is 6 round trips: with
# the database on another host, each leaves its thread waiting, and more threads
# (DATABASE_THREADS) keep the CPU busy.
DATABASE_THREADS = env.int("DATABASE_THREADS", default=2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits) --------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Internationalisation -------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (admin) -------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's assets from the process itself: no CDN, works offline.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (production) ------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# /metrics too: Prometheus scrapes each instance directly, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Joining the browsers' HSTS preload list is hard to undo: an operator's choice, so the
# deploy check's nudge towards it is silenced rather than the list joined by default.
# W001-W003 look for Django's middleware by path; MIDDLEWARE lists subclasses, and
# saas_litellm/checks.py runs those checks (and the ones that depend on them).
SILENCED_SYSTEM_CHECKS = [
    "security.W021",
    "security.W001",
    "security.W002",
    "security.W003",
]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API -------------------------------------------------------------------------

# Bodies over this are a JSON 413 on every path (saas_litellm.middleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One JSON reader for the API: no NaN, NUL, lone surrogates or deep nesting.
    "DEFAULT_PARSER_CLASSES": ["saas_litellm.json_input.StrictJSONParser"],
    "EXCEPTION_HANDLER": "saas_litellm.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SaaS LiteLLM API",
    "DESCRIPTION": (
        "Team API (Authorization: Bearer sk-…) and operator API (X-Admin-Key) of "
        "SaaS LiteLLM."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Our PATCH endpoints validate their whole body (required fields stay required),
    # so no "Patched…" request components with every field optional.
    "COMPONENT_SPLIT_PATCH": False,
    # /api/docs/ loads Swagger UI from this server's static files (WhiteNoise), not
    # from a CDN: the docs work offline and the page makes no third-party request.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The async LLM endpoints are plain Django views: the first hook documents them;
    # the others document, once, the errors of each kind of operation and how DRF
    # reads input.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.schema.llm_endpoints_add",
        "jobs.schema.error_responses_add",
        "jobs.schema.input_rules_add",
    ],
}

# --- LLM gateway ----------------------------------------------------------------------

# litellm must never fetch its price table from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=60.0)
LLM_MAX_TOKENS_LIMIT = env.int("LLM_MAX_TOKENS_LIMIT", default=128_000)
JOB_HOLD_TTL_SECONDS = env.int("JOB_HOLD_TTL_SECONDS", default=24 * 3600)

# Routing across an alias's deployments (jobs/routing.py, jobs/deployment_health.py):
# a deployment that fails ROUTER_ALLOWED_FAILS times within ROUTER_FAILURE_WINDOW
# seconds (or answers 429 with Retry-After) is left out for ROUTER_COOLDOWN seconds
# (Retry-After's own time, at most ROUTER_COOLDOWN_MAX); shared through Redis with
# REDIS_URL. When every deployment of an alias failed, the request retries them
# ROUTER_RETRIES times, waiting ROUTER_RETRY_BACKOFF doubling (or the provider's
# Retry-After) but never more than ROUTER_RETRY_WAIT_MAX, then tries the fallbacks.
ROUTER_ALLOWED_FAILS = env.int("ROUTER_ALLOWED_FAILS", default=3)
ROUTER_FAILURE_WINDOW_SECONDS = env.int("ROUTER_FAILURE_WINDOW_SECONDS", default=60)
ROUTER_COOLDOWN_SECONDS = env.float("ROUTER_COOLDOWN_SECONDS", default=30)
ROUTER_COOLDOWN_MAX_SECONDS = env.float("ROUTER_COOLDOWN_MAX_SECONDS", default=300)
ROUTER_RETRIES = env.int("ROUTER_RETRIES", default=1)
ROUTER_RETRY_BACKOFF_SECONDS = env.float("ROUTER_RETRY_BACKOFF_SECONDS", default=0.25)
ROUTER_RETRY_WAIT_MAX_SECONDS = env.float("ROUTER_RETRY_WAIT_MAX_SECONDS", default=5)

# --- Usage retention (usage/) ---------------------------------------------------------
# `manage.py prune_calls` deletes the raw call rows (and closed holds) of closed jobs
# older than this many days by default; usage rollups and the ledger are kept.
CALL_RETENTION_DAYS = env.int("CALL_RETENTION_DAYS", default=400)

# --- Alerts, webhooks and the worker (alerts/) ---------------------------------------
# Background work is django-tasks with its database backend: a task is a row written
# in the transaction that needs it, on SQLite and PostgreSQL alike. `manage.py worker`
# runs the tasks and the maintenance schedule (seconds between runs below). Webhook
# deliveries are retried with exponential backoff and jitter (BASE, doubling, at most
# MAX seconds apart) for RETRY_WINDOW seconds, then marked failed.

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERTS_WEBHOOK_TIMEOUT_SECONDS", default=10)
ALERTS_WEBHOOK_RETRY_BASE_SECONDS = env.float(
    "ALERTS_WEBHOOK_RETRY_BASE_SECONDS", default=30
)
ALERTS_WEBHOOK_RETRY_MAX_SECONDS = env.float(
    "ALERTS_WEBHOOK_RETRY_MAX_SECONDS", default=3600
)
ALERTS_WEBHOOK_RETRY_WINDOW_SECONDS = env.float(
    "ALERTS_WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 3600
)
# A pending delivery this late is re-enqueued by the sweep (its task was lost).
ALERTS_WEBHOOK_SWEEP_GRACE_SECONDS = env.float(
    "ALERTS_WEBHOOK_SWEEP_GRACE_SECONDS", default=60
)
WORKER_SCHEDULER_TICK_SECONDS = env.float("WORKER_SCHEDULER_TICK_SECONDS", default=15)
WORKER_EXPIRE_JOBS_OLDER_THAN_SECONDS = env.int(
    "WORKER_EXPIRE_JOBS_OLDER_THAN_SECONDS", default=2 * 3600
)
WORKER_SCHEDULE = {
    "expire_jobs": env.int("WORKER_EXPIRE_JOBS_EVERY", default=300),
    "expire_holds": env.int("WORKER_EXPIRE_HOLDS_EVERY", default=300),
    "reconcile_credits": env.int("WORKER_RECONCILE_EVERY", default=86400),
    "keys_expiring": env.int("WORKER_KEYS_EXPIRING_EVERY", default=3600),
    "webhooks_sweep": env.int("WORKER_WEBHOOKS_SWEEP_EVERY", default=60),
    "prune_worker_rows": env.int("WORKER_PRUNE_EVERY", default=86400),
}
# Finished task rows and schedule runs older than this are deleted (daily).
WORKER_KEEP_FINISHED_DAYS = env.int("WORKER_KEEP_FINISHED_DAYS", default=14)

# --- Tracing --------------------------------------------------------------------------
# OpenTelemetry, off by default (saas_litellm/tracing.py). TRACING_EXPORTER: `otlp`
# (OTLP over HTTP, configured by the standard OTEL_EXPORTER_OTLP_* variables) or
# `console` (spans as JSON on standard output).
TRACING = env.bool("TRACING", default=False)
TRACING_EXPORTER = env.str("TRACING_EXPORTER", default="otlp")
if TRACING_EXPORTER not in ("otlp", "console"):
    raise ImproperlyConfigured("TRACING_EXPORTER must be otlp or console")
TRACING_SERVICE_NAME = env.str("TRACING_SERVICE_NAME", default="saas-litellm")

# --- Logging --------------------------------------------------------------------------
# LOG_FORMAT=json: every record is one JSON line with the request's id, and the app
# writes one access line per request (saas_litellm/logs.py). `plain` (the default):
# human-readable lines and no access log of the app's own (gunicorn's: ACCESS_LOG).

LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "saas_litellm.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # Each 4xx is logged once, by saas_litellm.exceptions (with its code);
        # Django's request log keeps the 5xx.
        "django.request": {"level": "ERROR"},
        "saas_litellm.access": {"level": "INFO" if LOG_FORMAT == "json" else "WARNING"},
    },
}
if LOG_FORMAT == "json":
    # Python's warnings as records (logger py.warnings), not bare lines on stderr.
    logging.captureWarnings(True)

# --- Metrics (GET /metrics, saas_litellm/metrics.py) ---------------------------------
# Served to the admin key, or without one to these addresses or networks (e.g.
# "10.0.0.0/8,127.0.0.1": the connecting address, not X-Forwarded-For). A process
# labels at most METRICS_MAX_TEAMS teams by name; the others count as `other`.

METRICS_ALLOW_IPS = env.list("METRICS_ALLOW_IPS", default=[])
for _allowed in METRICS_ALLOW_IPS:
    try:
        ipaddress.ip_network(_allowed, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOW_IPS: {_allowed!r} is not an address or network"
        ) from None
METRICS_MAX_TEAMS = env.int("METRICS_MAX_TEAMS", default=100)
