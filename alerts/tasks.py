"""Background tasks (django-tasks, database backend): interfaces that call one
service each. They are enqueued inside the transaction that makes them necessary,
so a task exists exactly when its delivery row or schedule slot does.

Services import this module lazily (it imports them), to enqueue.
"""

from __future__ import annotations

from django_tasks import task

from alerts import services


@task()
def webhook_deliver(delivery_id: int) -> str:
    return services.webhook_delivery_run(delivery_id=delivery_id)


@task()
def scheduled_job_run(run_id: int) -> str:
    return services.schedule_run_execute(run_id=run_id)
