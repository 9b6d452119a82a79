"""The asset factory: one SyncObject in, one partitioned AssetsDefinition out.

The spec (key, group, kinds, tags, partitions, code version, lineage) is a value from
`specs.spec_for`; execution plans the sync against the source and the target's stored state
and hands a lazy SyncBatch to the target connection's IO manager.
"""

# no `from __future__ import annotations` here: Dagster reads the `context` annotation
# of the asset function at definition time
import dataclasses
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg

from sync_assets import schema_change
from sync_assets.automation import STRATEGY_TAG
from sync_assets.checks import check_specs, run_checks
from sync_assets.config.models import ProjectConfig, SyncObject
from sync_assets.connection_types import make_source
from sync_assets.faults import crashpoint
from sync_assets.io_managers import SyncIOManager, sync_error
from sync_assets.partitions import keys_window
from sync_assets.retries import retry_policy_for
from sync_assets.secrets import connection_secrets, redact
from sync_assets.specs import backfill_policy_for, pool_for, source_label, spec_for
from sync_assets.state import WHOLE, SyncState
from sync_assets.strategies import SyncBatch, Window, plan_sync


class SyncRunConfig(dg.Config):
    """Run config of a sync asset (the launchpad, or `sync-assets materialize --dry-run`)."""

    # plan and count what the run would do, report it in the metadata, write nothing
    dry_run: bool = False
    # which of the object's `strategies` runs (default: the run's sync/strategy tag, else
    # the first strategy)
    strategy: str | None = None
    # replace the run's partitions (or the table) with everything the source holds, whatever
    # the stored state says (`sync-assets materialize --full-refresh`)
    full_refresh: bool = False


def io_manager_key(connection_name: str) -> str:
    return f"sync_io_{connection_name}"


def build_asset(obj: SyncObject, project: ProjectConfig, base_dir: str) -> dg.AssetsDefinition:
    """The Dagster asset that keeps `obj`'s target in sync with its source."""
    source_conn = project.connections[obj.source.connection]
    target_conn = project.connections[obj.target.connection]
    io_key = io_manager_key(obj.target.connection)
    spec = spec_for(obj, project).with_io_manager_key(io_key)
    checks = check_specs(obj, spec.key, spec.partitions_def)
    schema_check = schema_change.spec(spec.key, spec.partitions_def)

    @dg.multi_asset(
        name=obj.object_id,
        specs=[spec],
        check_specs=[*checks, schema_check],
        backfill_policy=backfill_policy_for(obj),
        required_resource_keys={io_key},
        pool=pool_for(obj, project),
        retry_policy=retry_policy_for(obj),
    )
    def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig):
        iom: SyncIOManager = getattr(context.resources, io_key)
        run_obj = _strategy_variant(obj, config.strategy or context.run.tags.get(STRATEGY_TAG))
        target = iom.target_for(run_obj)
        window = None
        if obj.partition:
            keys = tuple(context.partition_keys)
            window = Window(*keys_window(obj.partition, keys), keys)
        secrets = connection_secrets(source_conn) + connection_secrets(target_conn)
        run = _Run(obj, run_obj, config, context, target, window, secrets)
        # one writer from reading the state to the commit, across processes (locks.py); the
        # batch holds the lock, and the IO manager releases it when it closes the batch
        held = ExitStack()
        with _naming_failures(obj, window, "waiting for the target's writer lock", secrets):
            held.enter_context(target.writer_lock())
        try:
            # what the last materialization recorded, read under the lock: before this write
            columns_before = schema_change.previous(context.instance, spec.key)
            batch = run.plan(source_conn, base_dir)
        except BaseException:
            held.close()
            raise
        batch.resources.enter_context(held)
        crashpoint("planned")
        # the IO manager writes the batch when the output is yielded; checks read the result
        yield dg.Output(batch, output_name=spec.key.to_python_identifier())
        yield schema_change.result(columns_before, batch.column_schema)
        if checks:
            with _naming_failures(obj, window, "running the asset checks", secrets):
                results = list(
                    run_checks(
                        run_obj,
                        make_source(source_conn, base_dir),
                        target,
                        window,
                        batch.plan.window,
                        batch.latest_watermark(),
                    )
                )
            yield from results

    return _sync


class _Run:
    """One run of one object: what it plans from (the stored state, the source)."""

    def __init__(self, obj, run_obj, config, context, target, window, secrets):
        self.obj, self.run_obj, self.config, self.context = obj, run_obj, config, context
        self.target, self.window, self.secrets = target, window, secrets

    def plan(self, source_conn, base_dir: str) -> SyncBatch:
        obj, config, window, tags = self.obj, self.config, self.window, self.context.run.tags
        with _naming_failures(obj, window, "reading the target's sync state", self.secrets):
            state = SyncState.from_dict(self.target.read_state())
        with _naming_failures(obj, window, "reading the source", self.secrets):
            source = make_source(source_conn, base_dir)
            rejects = Path(base_dir) / "rejects" / obj.object_id
            refresh = _refresh_reason(config, state, window.keys if window else (WHOLE,))
            stale = _stale_hash(obj, self.run_obj)
            batch = plan_sync(
                self.run_obj, source, state, window, self.target, rejects, bool(refresh), stale
            )
            if refresh:
                batch.notes["sync/full_refresh_reason"] = refresh
        # the commit refuses if another run committed after this read (locks.py)
        batch.plan = dataclasses.replace(batch.plan, state_seen=self.target.seen_state)
        if obj.strategies:
            batch.strategy = config.strategy or tags.get(STRATEGY_TAG) or obj.default_strategy
        if config.dry_run:
            batch.plan = dataclasses.replace(batch.plan, dry_run=True)
        self.context.log.info(
            batch.skip_reason
            or f"{obj.object_id}: {batch.plan.mode} from {source_label(obj)}"
            + (f" (strategy {batch.strategy})" if batch.strategy else "")
        )
        return batch


def _stale_hash(obj: SyncObject, run_obj: SyncObject) -> str | None:
    """The hash column a run of another strategy leaves stale (None: no hash strategy)."""
    hashes = any(s.sync_type == "hash" for s in obj.strategies or [])
    return run_obj.hash_key if hashes and run_obj.sync_type != "hash" else None


def _refresh_reason(config: SyncRunConfig, state: SyncState, keys) -> str | None:
    """Why this run is a full refresh (None: it is not)."""
    if config.full_refresh:
        return "run config full_refresh"
    if state.needs_refresh(keys):
        return "the state was reset (sync-assets reset)"
    return None


def _strategy_variant(obj: SyncObject, strategy: str | None) -> SyncObject:
    """The object as the run's strategy syncs it; an unknown name fails the run at once."""
    try:
        return obj.variant(strategy or obj.default_strategy)
    except ValueError as exc:
        raise dg.Failure(f"object_id '{obj.object_id}': {exc}", allow_retries=False) from None


@contextmanager
def _naming_failures(obj: SyncObject, window, step: str, secrets):
    """Re-raise any error as a SyncError naming the object, the partitions and the step."""
    try:
        yield
    except Exception as exc:
        where = f", partitions {window.keys[0]}...{window.keys[-1]}" if window else ""
        message = f"object_id '{obj.object_id}'{where}: {step} failed: {type(exc).__name__}: {exc}"
        raise sync_error(redact(message, secrets), exc) from exc
