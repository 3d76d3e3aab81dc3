"""Signals sent by `teams.services` inside the transaction of a change.

`teams` imports no other app: apps that react to a team's change (alerts) connect
here. Receivers run in the sender's transaction, under its lock of the team row.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `team_status_set` after the new status is saved: kwargs `team` (the locked
# Team), `before` and `after` (status values).
team_status_changed = Signal()
