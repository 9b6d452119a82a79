"""The run history's Dagster side: a sensor that replicates after sync runs, and a job that
replicates on demand (also `sync-assets history sync`).

The sensor is an interval sensor that replicates when the event log moved past what the
tables hold, rather than a run-status sensor: a run-status sensor's cursor moves on past a
run even when replicating it failed, while this one simply finds the same gap on its next
tick. A failure to replicate is a warning in the sensor's log, never a failed or delayed
sync run (the replication runs in the daemon, not in the sync's run).
"""

# no `from __future__ import annotations` here: Dagster reads the op's `config` annotation
# at definition time
import enum

import dagster as dg

from sync_assets.automation import sensor_status
from sync_assets.config.models import ProjectConfig
from sync_assets.history import history_target, replicate, stored_cursor
from sync_assets.secrets import connection_secrets, redact

JOB = "sync_history"
SENSOR = "sync_history_after_runs"


class HistoryMode(enum.Enum):
    incremental = "incremental"
    full = "full"


class HistoryRunConfig(dg.Config):
    """Run config of the `sync_history` job."""

    # default: the config's mode; full replaces the tables
    mode: HistoryMode | None = None


def history_definitions(project: ProjectConfig, base_dir: str) -> tuple[list, list]:
    """([the sync_history job], [its sensor]), or nothing without `run_history:`."""
    spec = project.run_history
    if spec is None:
        return [], []
    secrets = connection_secrets(project.connections[spec.connection])

    @dg.op(name="replicate_run_history")
    def replicate_op(context: dg.OpExecutionContext, config: HistoryRunConfig):
        mode = config.mode.value if config.mode else None
        for done in replicate(context.instance, project, base_dir, mode):
            context.log.info(f"{done.table}: {done.rows} rows, up to event {done.cursor}")

    @dg.job(name=JOB, description="Replicate Dagster's run history to the run_history tables")
    def history_job():
        replicate_op()

    @dg.sensor(
        name=SENSOR,
        minimum_interval_seconds=spec.interval_s,
        default_status=sensor_status(spec.enabled),
        description=f"Replicates run history to {spec.connection}: {spec.schema_} after runs",
    )
    def after_runs(context: dg.SensorEvaluationContext):
        newest = context.instance.event_log_storage.get_maximum_record_id()
        try:
            behind = [
                t
                for t in spec.tables
                if (stored_cursor(history_target(project, base_dir, t)) or 0) < (newest or 0)
            ]
            if not behind:
                return dg.SkipReason("the history tables hold every event")
            done = replicate(context.instance, project, base_dir, tables=behind)
        except Exception as exc:  # never a failed sync: retried on the next tick
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
            context.log.warning(f"replicating the run history failed (retried next tick): {error}")
            return dg.SkipReason(f"replication failed, retried next tick: {error}")
        summary = ", ".join(f"{d.table} +{d.rows}" for d in done)
        return dg.SkipReason(f"replicated: {summary}")

    return [history_job], [after_runs]
