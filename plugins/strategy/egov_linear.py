"""Mitogen's linear strategy, with the work that never reaches a node done in the
controller instead of in a forked worker.

Ansible forks a worker for every task on every node: about 25 ms of a 2-core machine's
time before the task does anything. Two kinds of task never needed it:

- A task the node skips. The worker's first step is to evaluate the task's `when`; here
  the controller evaluates it first, with the same variables, and a false one gives the
  node the skipped result the worker would have sent. A task with a loop (its condition is
  evaluated per item), a delegated task, a handler, a condition that does not evaluate
  (the worker reports the error) and a true condition go to a worker as before.
- A task whose action runs in the controller anyway and sends nothing to the node: the
  roles' checks of their inputs (assert, and the argument specs Ansible validates at each
  role's start), set_fact, debug and fail. Ansible's own task executor runs it here, on a
  copy of the task as a worker would, and its result takes the worker's path from there.
"""

from __future__ import annotations

import ansible_mitogen.strategy
from ansible._internal import _task
from ansible._internal._templating._engine import TemplateEngine
from ansible.executor.task_executor import TaskExecutor
from ansible.executor.task_result import _RawTaskResult
from ansible.playbook.handler import Handler
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import strategy_loader

DOCUMENTATION = """
name: egov_linear
short_description: Mitogen's linear strategy, with skipped tasks and controller-side
  actions decided without forking a worker
description:
  - Evaluates a task's `when` in the controller before forking a worker for a node; when
    it is false, the node gets the skipped result a worker would have given.
  - Runs the actions that never reach a node (assert, validate_argument_spec, set_fact,
    debug, fail) in the controller.
"""

# Actions whose plugin works in the controller alone: no module, no connection used.
CONTROLLER_ACTIONS = frozenset(
    f"ansible.{collection}.{name}" for collection in ("builtin", "legacy")
    for name in ("assert", "validate_argument_spec", "set_fact", "debug", "fail"))

Base = strategy_loader.get("linear", class_only=True)


def skipped_in_controller(task, task_vars) -> dict | None:
    """The result a worker would give for `task` on a node whose variables are `task_vars`
    when its condition is false; None when a worker must decide."""
    if (not task.when or task.loop is not None or task.loop_with or task.delegate_to
            or isinstance(task, Handler)):
        return None
    context: dict = {}
    try:
        if task._resolve_conditional(task.when, task_vars, result_context=context):
            return None
    except Exception:
        return None  # the worker raises it, with its context
    result = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
              **context}
    task.update_result_no_log(TemplateEngine(loader=task._loader, variables=task_vars), result)
    return result


def runs_in_controller(task) -> bool:
    """Whether the task's action never reaches the node, so that the controller can run it
    as a worker would: not delegated, not retried (its delays would hold every node)."""
    return (task.resolved_action in CONTROLLER_ACTIONS and not task.delegate_to
            and not task.until and not task.async_val)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def _queue_task(self, host, task, task_vars, play_context):
        result = skipped_in_controller(task, task_vars)
        if result is not None:
            self._start(host, task, task_vars, play_context)
            return self._give_result(host, task, result)
        if runs_in_controller(task):
            # The worker's own steps without the fork, on a copy of the task (the executor
            # squashes and post-validates it). The task is cached first: a loop's items
            # come back through the results queue while the executor runs.
            self._start(host, task, task_vars, play_context)
            own = task.copy()
            with _task.TaskContext(own):
                result = TaskExecutor(host, own, task_vars, play_context, self._loader,
                                      plugin_loader.get_plugin_loader_namespace(),
                                      self._final_q, self._variable_manager).run()
            return self._give_result(host, own, result)
        return super()._queue_task(host, task, task_vars, play_context)

    def _start(self, host, task, task_vars, play_context) -> None:
        """What the worker path does before a worker starts."""
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)

    def _give_result(self, host, ran, result) -> None:
        """The result on the worker's path: through the results queue, after the loop items'
        callbacks the executor sent there (the strategy forgets the task once it has
        processed the result)."""
        self._final_q.send_task_result(_RawTaskResult(host=host, task=ran, return_data=result,
                                                      task_fields=ran.dump_attrs()))
        self._pending_results += 1
