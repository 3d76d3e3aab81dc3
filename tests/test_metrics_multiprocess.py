"""Under gunicorn (PROMETHEUS_MULTIPROC_DIR set) each worker writes its figures to
files and /metrics, whichever worker answers, serves their sum; a dead worker's
open streams stop counting once gunicorn.conf.py's child_exit marks it dead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import multiprocess

ROOT = Path(__file__).resolve().parent.parent
SETUP = "import django, os\ndjango.setup()\nfrom saas_litellm import metrics\n"
WORKER = (
    SETUP
    + """
metrics.catalogue_cache_lookup("hit")
metrics.stream_opened()
print(os.getpid())
"""
)
SCRAPE = (
    SETUP
    + """
from django.conf import settings
from django.test import Client
response = Client(HTTP_HOST="localhost").get(
    "/metrics", HTTP_X_ADMIN_KEY=settings.MASTER_KEY
)
assert response.status_code == 200, response.content
print(response.content.decode())
"""
)


def run(script: str, metrics_dir: Path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "saas_litellm.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_a_scrape_sums_every_workers_figures(tmp_path):
    first = int(run(WORKER, tmp_path))
    run(WORKER, tmp_path)
    scraped = run(SCRAPE, tmp_path)
    assert 'saas_litellm_catalogue_cache_total{result="hit"} 2.0' in scraped
    assert "saas_litellm_streams_open 2.0" in scraped
    multiprocess.mark_process_dead(first, str(tmp_path))
    assert "saas_litellm_streams_open 1.0" in run(SCRAPE, tmp_path)
