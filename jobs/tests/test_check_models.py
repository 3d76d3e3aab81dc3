"""Testing deployments: `manage.py check_models` and the admin's action send one
tiny request through each deployment and report ok / latency / the sanitized
error (jobs/services/checks.py)."""

from __future__ import annotations

from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from jobs.models import LLMCall
from teams.services import model_alias_update


@pytest.fixture
def pool(make_alias, fake_provider):
    """`pool`: a deployment that answers, one whose key is refused (401)."""
    alias = make_alias("pool")
    model_alias_update(
        alias=alias,
        actor="tests",
        deployments=[
            {"actual_model": "openai/fake-echo", "api_base": fake_provider.api_base},
            {
                "actual_model": "openai/fake-fail-401",
                "api_base": fake_provider.api_base,
            },
        ],
    )
    return alias


def test_check_models_reports_each_deployment_and_fails_when_one_does(
    pool, fake_provider
):
    before = fake_provider.request_count
    output = StringIO()
    with pytest.raises(CommandError, match="1 of 2 deployment"):
        call_command("check_models", "pool", stdout=output)
    lines = output.getvalue().splitlines()
    assert lines[0].startswith("ok")
    assert "pool#0" in lines[0]
    assert lines[1].startswith("FAILED")
    assert "pool#1" in lines[1]
    assert "AuthenticationError status=401" in lines[1]
    assert "fake-openai" in lines[0]  # the credential it went with
    assert "Incorrect API key" not in output.getvalue()  # the provider's words
    assert fake_provider.request_count == before + 2  # one each, no retry
    assert not LLMCall.objects.exists()  # nothing recorded or billed


def test_check_models_passes_when_every_deployment_answers(make_alias):
    make_alias("chat")
    output = StringIO()
    call_command("check_models", stdout=output)
    assert "1 deployment(s) answered." in output.getvalue()


def test_check_models_refuses_an_unknown_alias(db):
    with pytest.raises(CommandError, match="Unknown model alias"):
        call_command("check_models", "nope")


def test_the_admin_action_tests_the_selected_aliases(pool):
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("admin:teams_modelalias_changelist"),
        {"action": "deployments_test", "_selected_action": [pool.pk]},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    shown = [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]
    assert shown[0][0] == "success"
    assert "pool#0" in shown[0][1]
    assert shown[1][0] == "error"
    assert "status=401" in shown[1][1]
