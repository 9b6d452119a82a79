"""The executor of sync runs, and freeing the pool slots of runs whose process was killed.

A sync step holds its pool's one slot (one writer per target) from its start to its end. A
run killed with kill -9 never ends: Dagster keeps it STARTED and its slot claimed, and every
later run of the asset waited forever for the slot. Dagster frees the slots of *finished*
runs, and run monitoring marks a run failed when its launcher can check the worker's health;
the default launcher (and `dagster asset materialize`, which has none) cannot.

So each sync run says where it runs (the run tag `sync/worker`: host, pid and the process's
start time, written before any step claims a slot), and while a run executes it looks, at its
start and every REAP_INTERVAL_S seconds, for runs of this instance that hold slots while
their process on this host is gone: it marks them failed (naming the dead process) and frees
their slots. A run elsewhere, or one whose tag is missing, is never touched; a pid reused by
a new process is told apart by the start time.
"""

from __future__ import annotations

import os
import socket
import threading

import dagster as dg
import psutil
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG
from dagster._core.executor.base import Executor
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRunStatus

WORKER_TAG = "sync/worker"
REAP_INTERVAL_S = float(os.environ.get("SYNC_ASSETS_REAP_INTERVAL_S", "10"))


def worker_id(pid: int | None = None) -> str:
    """`host:pid:start time` of a process (default: this one)."""
    process = psutil.Process(pid or os.getpid())
    return f"{socket.gethostname()}:{process.pid}:{process.create_time():.2f}"


def is_gone(worker: str) -> bool:
    """Whether the process named by a `sync/worker` tag has ended (False when it ran on
    another host: it cannot be checked from here)."""
    host, pid, started = worker.rsplit(":", 2)
    if host != socket.gethostname():
        return False
    try:
        return worker_id(int(pid)) != worker
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True


def free_dead_runs(instance: dg.DagsterInstance, log=None) -> list[str]:
    """Mark runs that hold pool slots but whose process is gone as failed and free their
    slots (and free the slots finished runs still hold); returns the freed run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for run_id in storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED_STATUSES:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
            continue
        worker = run.tags.get(WORKER_TAG)
        if run.status != DagsterRunStatus.STARTED or not worker or not is_gone(worker):
            continue
        message = (
            f"the process of this run ({worker}) is gone (killed?): marked failed, and its "
            "pool slots freed for the next sync of its assets"
        )
        instance.report_run_failed(run, message)
        storage.free_concurrency_slots_for_run(run_id)
        freed.append(run_id)
        if log:
            log.warning(f"run {run_id}: {message}")
    return freed


class FreeingDeadSlots(Executor):
    """Dagster's in-process executor, plus the worker tag and the dead-run check above."""

    def __init__(self, inner: Executor):
        self.inner = inner

    @property
    def retries(self):
        return self.inner.retries

    @property
    def step_dependency_config(self):
        return self.inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        instance = plan_context.instance
        instance.add_run_tags(plan_context.run_id, {WORKER_TAG: worker_id()})
        stop = threading.Event()
        watcher = threading.Thread(
            target=_watch, args=(instance, stop, plan_context.log), daemon=True
        )
        free_dead_runs(instance, plan_context.log)
        watcher.start()
        try:
            yield from self.inner.execute(plan_context, execution_plan)
        finally:
            stop.set()


def _watch(instance, stop: threading.Event, log) -> None:
    """While the run executes, free dead runs' slots (a run waiting for a slot whose holder
    is killed meanwhile gets it)."""
    while not stop.wait(REAP_INTERVAL_S):
        try:
            free_dead_runs(instance, log)
        except Exception as exc:  # never fail the run for it; the next pass tries again
            log.warning(f"checking for killed runs holding pool slots failed: {exc}")


def default_parallel_steps() -> int:
    """Steps of one run at a time: $SYNC_ASSETS_MAX_CONCURRENT (default 1)."""
    value = os.environ.get(PARALLEL_ENV, "1")
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{PARALLEL_ENV}={value!r}: give a whole number of steps") from None


PARALLEL_ENV = "SYNC_ASSETS_MAX_CONCURRENT"
EXECUTOR_CONFIG = {
    **IN_PROC_CONFIG.config_type.fields,
    "max_concurrent": dg.Field(
        dg.Int,
        is_required=False,
        description=(
            "Steps of one run executing at once, in threads of the run's process (default "
            "$SYNC_ASSETS_MAX_CONCURRENT, else 1); each asset's pool still admits one writer "
            "per target."
        ),
    ),
}


@dg.executor(name="sync_executor", config_schema=EXECUTOR_CONFIG)
def sync_executor(init_context):
    """Steps in the run's own process: one after another, or up to `max_concurrent` at once
    in threads (threaded_executor.py); either way freeing the pool slots of killed runs."""
    from dagster._core.execution.retries import RetryMode
    from dagster._core.execution.step_dependency_config import StepDependencyConfig
    from dagster._core.executor.init import InitExecutorContext

    from sync_assets.threaded_executor import ThreadedExecutor

    config = dict(init_context.executor_config)
    parallel = config.pop("max_concurrent", None) or default_parallel_steps()
    if parallel <= 1:
        inner_context = InitExecutorContext(
            job=init_context.job,
            executor_def=dg.in_process_executor,
            executor_config=config,
            instance=init_context.instance,
        )
        return FreeingDeadSlots(dg.in_process_executor.executor_creation_fn(inner_context))
    return FreeingDeadSlots(
        ThreadedExecutor(
            retries=RetryMode.from_config(config["retries"]),
            max_concurrent=parallel,
            step_dependency_config=StepDependencyConfig.from_config(
                config.get("step_dependency_config")
            ),
        )
    )
