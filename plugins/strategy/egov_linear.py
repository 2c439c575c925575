"""Mitogen's linear strategy, with the tasks a node skips decided in the controller.

Ansible forks a worker for every task on every node, and the worker's first step is to
evaluate the task's `when`; a task the node skips still costs the fork and the worker's
start (about a fifth of a second for eight nodes on a 2-core machine). Here the controller
evaluates the condition first, with the same variables the worker would get, and a false
one gives the node the skipped result the worker would have sent, without a fork.

Anything the controller cannot decide the same way goes to a worker as before: a task
with a loop (its condition is evaluated per item), a delegated task, a handler, a
condition that does not evaluate (an undefined variable, say: the worker reports it), and
a condition that is true.
"""

from __future__ import annotations

import ansible_mitogen.strategy
from ansible._internal._templating._engine import TemplateEngine
from ansible.executor.task_result import _RawTaskResult
from ansible.playbook.handler import Handler
from ansible.plugins.loader import strategy_loader

DOCUMENTATION = """
name: egov_linear
short_description: Mitogen's linear strategy, skipping in the controller the tasks whose
  condition is false
description:
  - Evaluates a task's `when` in the controller before forking a worker for a node; when
    it is false, the node gets the skipped result a worker would have given.
"""

Base = strategy_loader.get("linear", class_only=True)


def skipped_in_controller(task, task_vars, templar) -> dict | None:
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
    task.update_result_no_log(templar, result)
    return result


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def _queue_task(self, host, task, task_vars, play_context):
        templar = TemplateEngine(loader=self._loader, variables=task_vars)
        result = skipped_in_controller(task, task_vars, templar)
        if result is None:
            return super()._queue_task(host, task, task_vars, play_context)
        # What the worker path does around a result: the task cached for the result's
        # processing, the start callback, then the result through the results queue.
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)
        raw = _RawTaskResult(host=host, task=task, return_data=result,
                             task_fields=task.dump_attrs())
        converted = self._convert_wire_task_result_to_raw(raw.as_wire_task_result())
        with self._results_lock:
            self._results.append(converted)
        self._pending_results += 1
