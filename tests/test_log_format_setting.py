"""LOG_FORMAT=json turns every log line into JSON and the app's access log on; the
default stays human-readable, without an access log of the app's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost")
client.get("/api/nothing?token=s3cr3t", HTTP_X_REQUEST_ID="sub-1")
"""


def stderr_lines(**env: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", REQUEST],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "saas_litellm.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stderr.splitlines()


def test_json_lines_with_an_access_line_under_log_format_json():
    records = [json.loads(line) for line in stderr_lines(LOG_FORMAT="json")]
    access = [r for r in records if r["logger"] == "saas_litellm.access"]
    assert {r["request_id"] for r in records} == {"sub-1"}
    assert len(access) == 1
    assert access[0]["path"] == "/api/nothing"
    assert (access[0]["status"], access[0]["code"]) == (404, "not_found")
    assert not any("s3cr3t" in json.dumps(r) for r in records)


def test_human_readable_lines_and_no_access_line_by_default():
    lines = stderr_lines(LOG_FORMAT="plain")
    assert lines
    assert not any(line.startswith("{") for line in lines)
    assert not any("saas_litellm.access" in line for line in lines)
