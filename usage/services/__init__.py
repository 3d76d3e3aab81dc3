"""Usage: rollups kept by the hot path, checked and rebuilt from the raw tables,
exported; and retention of the raw call rows.

- `record`: the upserts run where a call's outcome is recorded or a job charged;
- `rollups`: the recount from calls and ledger (`rollups_rebuild`, `--check`);
- `exports`: the rollups of a period, grouped, for the export endpoints;
- `retention`: `prune_calls`.

Callers import from `usage.services`; the modules are its layout, not its interface.
"""

from __future__ import annotations

from usage.services.exports import (
    COST_COLUMNS,
    GROUP_NAMES,
    MAX_DAYS,
    UsageExport,
    calls_export,
    usage_export,
    usage_export_group_by,
    usage_export_period_check,
)
from usage.services.record import (
    day_of,
    usage_job_record,
    usage_one_call_job_record,
    usage_record,
)
from usage.services.retention import PruneResult, calls_prune
from usage.services.rollups import (
    RollupDifference,
    rollups_check,
    rollups_default_start,
    rollups_rebuild,
)

__all__ = [
    "COST_COLUMNS",
    "GROUP_NAMES",
    "MAX_DAYS",
    "PruneResult",
    "RollupDifference",
    "UsageExport",
    "calls_export",
    "calls_prune",
    "day_of",
    "rollups_check",
    "rollups_default_start",
    "rollups_rebuild",
    "usage_export",
    "usage_export_group_by",
    "usage_export_period_check",
    "usage_job_record",
    "usage_one_call_job_record",
    "usage_record",
]
