"""Steps of one run executing at once, each in a thread of the run's process.

What users schedule is many tables in one run. A sync step spends its time in native code
that releases the GIL (the source's COPY reader, Arrow, DuckDB, delta-rs, the target's bulk
load), so threads run steps in parallel without the cost of a process per step: Dagster's
multiprocess executor, even forking from a forkserver with the code location preloaded,
took about 1 s to start each step here (40 small tables: 45 s with 2 processes against 27 s
one after another), where a thread starts in milliseconds.

The scheduling is Dagster's own (`ActiveExecution`, as its multiprocess executor uses): step
order, retries, `max_concurrent`, and the pools, whose one slot per target keeps one writer
per table or DuckDB file. Each step runs through `execute_plan_iterator` on a plan of that
one step, which logs its events to the instance as a step process would; the executor
forwards them to the run's orchestration. A step cannot be killed from outside its thread:
on termination no new step starts, and the running ones finish (each writes atomically).

Dagster captures a process's stdout/stderr by redirecting its file descriptors, once per
plan it executes; steps in threads would redirect one process's descriptors at once (runs
hung, and steps were lost, when they did). So the run's output is captured once, around all
its steps, as the in-process executor does, and the steps' own captures are no-ops.
Likewise each plan's log manager asks the instance for its dagster.yaml `python_logs`
handlers, which runs `logging.config.dictConfig`: it takes the logging module's lock, then
each handler's, while a step emitting an event holds its handler's lock and asks for the
module's (a deadlock seen here within seconds). The handlers are built once, before the
steps start, and handed to every step.
"""

from __future__ import annotations

import queue
import sys
import threading
from contextlib import ExitStack

from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.base import Executor
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._utils.error import serializable_error_info_from_exc_info

_DONE = object()
# how long the orchestration waits for a step's next event before it looks at the plan again
_POLL_S = 0.05


class ThreadedExecutor(Executor):
    """Up to `max_concurrent` steps at once, each in a thread."""

    def __init__(
        self,
        retries: RetryMode,
        max_concurrent: int,
        step_dependency_config: StepDependencyConfig | None = None,
    ):
        self._retries = retries
        self._max_concurrent = max_concurrent
        self._step_dependency_config = step_dependency_config or StepDependencyConfig.default()

    @property
    def retries(self) -> RetryMode:
        return self._retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._step_dependency_config

    def execute(self, plan_context, execution_plan):
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing up to {self._max_concurrent} steps at once, in threads",
            EngineEventData(),
        )
        instance = plan_context.instance
        manager = instance.compute_log_manager
        log_key = manager.build_log_key_for_run(plan_context.run_id, create_compute_log_file_key())
        steps = [s.key for s in execution_plan.get_steps_to_execute_in_topo_order()]
        with manager.capture_logs(log_key) as log_context:
            yield DagsterEvent.capture_logs(plan_context, steps, log_key, log_context)
            handlers = instance.get_yaml_python_handlers()
            # for the steps' threads only, undone below (see the module's doc)
            instance._compute_log_manager = NoOpComputeLogManager()  # noqa: SLF001
            instance.get_yaml_python_handlers = lambda: handlers
            try:
                yield from self._execute(plan_context, execution_plan)
            finally:
                del instance.get_yaml_python_handlers
                instance._compute_log_manager = manager  # noqa: SLF001

    def _execute(self, plan_context, execution_plan):
        events: queue.Queue = queue.Queue()
        running: dict[str, threading.Thread] = {}
        with ExitStack() as stack:
            concurrency = stack.enter_context(
                InstanceConcurrencyContext(plan_context.instance, plan_context.dagster_run)
            )
            active = stack.enter_context(
                ActiveExecution(
                    execution_plan,
                    retry_mode=self.retries,
                    max_concurrent=self._max_concurrent,
                    instance_concurrency_context=concurrency,
                    step_dependency_config=self._step_dependency_config,
                )
            )
            stopping = False
            while (not stopping and not active.is_complete) or running:
                if not stopping and active.check_for_interrupts():
                    stopping = True
                    active.mark_interrupted()
                    yield DagsterEvent.engine_event(
                        plan_context,
                        f"Interrupted: no new step starts; waiting for {sorted(running)}",
                        EngineEventData.interrupted(list(running)),
                    )
                while not stopping:
                    steps = active.get_steps_to_execute(self._max_concurrent - len(running))
                    yield from active.concurrency_event_iterator(plan_context)
                    if not steps:
                        break
                    for step in steps:
                        running[step.key] = self._start(
                            plan_context, execution_plan, active, step, events
                        )
                yield from self._forward(plan_context, active, running, events)
                yield from active.plan_events_iterator(plan_context)

    def _start(self, plan_context, execution_plan, active, step, events) -> threading.Thread:
        known_state = active.get_known_state()
        thread = threading.Thread(
            target=_run_step,
            args=(plan_context, execution_plan, step.key, known_state, self.retries, events),
            name=f"step {step.key}",
            daemon=True,
        )
        thread.start()
        return thread

    def _forward(self, plan_context, active, running, events):
        """The next event of any running step (or nothing within _POLL_S)."""
        try:
            key, item = events.get(timeout=_POLL_S)
        except queue.Empty:
            return
        if item is _DONE:
            running.pop(key).join()
            active.verify_complete(plan_context, key)
            return
        if isinstance(item, BaseException):
            # the step's machinery itself failed (its own errors are failure events)
            step_context = plan_context.for_step(active.get_step_by_key(key))
            error = serializable_error_info_from_exc_info((type(item), item, item.__traceback__))
            failed = self.log_failure_or_retry_event_after_error(
                step_context, error, active.get_known_state()
            )
            active.handle_event(failed)
            yield failed
            return
        active.handle_event(item)
        yield item


def _run_step(plan_context, execution_plan, step_key, known_state, retries, events) -> None:
    """One step, as a step process runs it: a plan of that step, its events logged."""
    try:
        job = plan_context.job
        plan = create_execution_plan(
            job=job,
            run_config=plan_context.run_config,
            step_keys_to_execute=[step_key],
            known_state=known_state,
            repository_load_data=execution_plan.repository_load_data,
        )
        for event in execute_plan_iterator(
            plan,
            job,
            plan_context.dagster_run,
            run_config=plan_context.run_config,
            retry_mode=retries.for_inner_plan(),
            instance=plan_context.instance,
        ):
            events.put((step_key, event))
    except BaseException:  # reported as the step's failure by the orchestration
        events.put((step_key, sys.exc_info()[1]))
    finally:
        events.put((step_key, _DONE))
