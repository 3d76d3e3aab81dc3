"""Several `manage.py worker` processes on one database: each event reaches the
receiver once, a killed worker loses nothing, each schedule slot runs once."""

from __future__ import annotations

import signal
import time

import pytest
from django_tasks_db.models import DBTaskResult

from alerts.models import DeliveryStatus, RunStatus, ScheduleRun, WebhookDelivery
from alerts.services import SCHEDULES, webhook_deliveries_sweep
from alerts.signing import webhook_signature_valid
from alerts.tests.conftest import charge, run_worker, worker_process
from teams.services import team_status_set

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def finish(*processes) -> str:
    output = ""
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out
        output += out
    return output


def test_two_worker_processes_deliver_each_crossing_once(receiver, webhook, team):
    _, secret = webhook
    charge(team, 96)  # 50, 80 and 95 %
    team_status_set(team=team, status="suspended", actor="tests")
    output = finish(
        worker_process("--batch", "--verbosity", "1"),
        worker_process("--batch", "--verbosity", "1"),
    )
    ids = receiver.event_ids()
    assert len(ids) == 4
    assert len(set(ids)) == 4
    for request in receiver.received:
        assert webhook_signature_valid(
            secret=secret, header=request.headers["X-Signature"], body=request.body
        )
    assert secret not in output
    assert "webhook delivery" in output  # the workers did log their deliveries


def test_two_workers_run_each_scheduled_job_once_per_slot(db):
    finish(worker_process("--batch"), worker_process("--batch"))
    runs = ScheduleRun.objects.all()
    assert sorted(run.name for run in runs) == sorted(s.name for s in SCHEDULES)
    assert {run.status for run in runs} == {RunStatus.DONE}
    tasks = DBTaskResult.objects.filter(task_path__endswith="scheduled_job_run")
    assert tasks.count() == len(SCHEDULES)


def test_a_worker_killed_mid_delivery_loses_nothing(receiver, webhook, team, settings):
    receiver.hold = True
    team_status_set(team=team, status="suspended", actor="tests")
    worker = worker_process(ALERTS_WEBHOOK_TIMEOUT_SECONDS="1")
    try:
        assert receiver.arrived.wait(30), "the worker never POSTed"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
        worker.communicate()
    receiver.release.set()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SENDING
    deadline = time.monotonic() + 30
    while WebhookDelivery.objects.get().status != DeliveryStatus.DELIVERED:
        assert time.monotonic() < deadline, "never redelivered"
        webhook_deliveries_sweep()  # what the scheduled sweep does
        run_worker()
        time.sleep(0.2)
    assert len(receiver.received) == 2
    assert len(set(receiver.event_ids())) == 1  # the same event, de-duplicable
    assert WebhookDelivery.objects.get().attempts == 2
