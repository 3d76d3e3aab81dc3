"""Suspension and key expiry alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertEvent, EventType
from alerts.services import keys_expiring_alert
from teams.services import team_status_set, virtual_key_create, virtual_key_rotate

pytestmark = pytest.mark.django_db


def test_suspending_a_team_alerts_once_per_suspension(team):
    team_status_set(team=team, status="suspended", actor="t")
    team_status_set(team=team, status="suspended", actor="t")
    assert AlertEvent.objects.filter(event_type=EventType.TEAM_SUSPENDED).count() == 1
    team_status_set(team=team, status="active", actor="t")
    team_status_set(team=team, status="suspended", actor="t")
    assert AlertEvent.objects.filter(event_type=EventType.TEAM_SUSPENDED).count() == 2


def test_pausing_a_team_does_not_alert(team):
    team_status_set(team=team, status="paused", actor="t")
    assert not AlertEvent.objects.exists()


def test_a_key_expiring_within_7_days_alerts_once(team):
    soon = timezone.now() + timedelta(days=6)
    issued = virtual_key_create(team=team, actor="t", name="ci", expires_at=soon)
    virtual_key_create(team=team, actor="t", expires_at=soon + timedelta(days=30))
    assert keys_expiring_alert() == 1
    assert keys_expiring_alert() == 0
    event = AlertEvent.objects.get(event_type=EventType.KEY_EXPIRING)
    assert event.data["key_id"] == str(issued.key.key_id)
    assert event.data["key_prefix"] == issued.key.key_prefix


def test_a_key_being_rotated_out_does_not_alert(team, issued_team_key):
    virtual_key_rotate(team=team, key_id=issued_team_key.key.key_id, actor="t")
    assert keys_expiring_alert() == 0
