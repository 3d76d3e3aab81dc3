"""Each 4xx is logged once, with its code; nothing else logs it again."""

from __future__ import annotations

import logging
from http import HTTPStatus


def test_a_refused_request_is_logged_once(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/api/teams/verify", HTTP_AUTHORIZATION="Bearer sk-bad")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    lines = [r for r in caplog.records if "/api/teams/verify" in r.getMessage()]
    assert len(lines) == 1
    assert "invalid_api_key" in lines[0].getMessage()
    assert "sk-bad" not in caplog.text
