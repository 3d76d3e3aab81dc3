from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User

from jobs.tests.conftest import llm_call


@pytest.fixture
def staff_client(client, db):
    user = User.objects.create_superuser("op", "op@example.com", "pw-123456789")
    client.force_login(user)
    return client


def test_the_admin_lists_jobs_and_calls_read_only(staff_client, team_client, job_id):
    llm_call(team_client, job_id)
    jobs_page = staff_client.get("/admin/jobs/job/")
    calls_page = staff_client.get("/admin/jobs/llmcall/")
    assert jobs_page.status_code == calls_page.status_code == HTTPStatus.OK
    assert job_id in jobs_page.content.decode()
    assert "openai/fake-echo" in calls_page.content.decode()
    assert staff_client.get("/admin/jobs/job/add/").status_code == HTTPStatus.FORBIDDEN
