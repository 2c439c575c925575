"""Mitogen's linear strategy, with every task run on a thread of the controller's process
instead of in a forked worker, and the work that never reaches a node done without one.

Ansible forks a worker for every task on every node. On a 2-core machine that was the
largest cost of a warm converge: the fork of an 80 MB process, its page tables copied and
torn down, its pages copied on write as the worker touches them; about half of the
controller's CPU was kernel time. A worker of a Mitogen strategy does little besides: it
renders the task and sends the module to the node's interpreter through the connection
mux, and waits. Here that same work (Ansible's own task executor, on a copy of the task
as a worker would hold it) runs on one of `forks` threads, and its result and its loop
items' callbacks reach the strategy as a worker's would, without being pickled through the
results queue. The threads share one router per Mitogen mux for the whole play; a worker
made and closed its own for each task. A warm converge of the lab took 25-26 s, against
41-42 s with a worker forked per task (three runs each, alternating).

Two kinds of task need no thread either:

- A task the node skips. The executor's first step is to evaluate the task's `when`; here
  the controller evaluates it first, with the same variables, and a false one gives the
  node the skipped result the executor would have given. A task with a loop (its condition
  is evaluated per item), a delegated task, a handler, a condition that does not evaluate
  (the executor reports the error) and a true condition go to a thread as before.
- A task whose action runs in the controller anyway and sends nothing to the node: the
  roles' checks of their inputs (assert, and the argument specs Ansible validates at each
  role's start), set_fact, debug and fail. It runs at once, in the strategy's own thread.

`EGOV_ANSIBLE_STRATEGY=mitogen_linear` (egov/ansible_run.py) forks a worker for every task
as Mitogen does.
"""

from __future__ import annotations

import queue
import threading
import traceback

import ansible_mitogen.process
import ansible_mitogen.strategy
import mitogen.fork
import mitogen.unix
from ansible._internal import _task
from ansible._internal._templating._engine import TemplateEngine
from ansible.errors import AnsibleError
from ansible.executor.task_executor import TaskExecutor
from ansible.executor.task_result import _RawTaskResult
from ansible.playbook.handler import Handler
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import PluginLoader, strategy_loader

DOCUMENTATION = """
name: egov_linear
short_description: Mitogen's linear strategy, with tasks run on threads of the
  controller instead of forked workers
description:
  - Runs each task on a node on one of `forks` threads of the controller's process, through
    one router per Mitogen mux shared for the whole play.
  - Evaluates a task's `when` in the controller before giving the task to a thread; when
    it is false, the node gets the skipped result the task's executor would have given.
  - Runs the actions that never reach a node (assert, validate_argument_spec, set_fact,
    debug, fail) in the controller.
"""

# Actions whose plugin works in the controller alone: no module, no connection used.
CONTROLLER_ACTIONS = frozenset(
    f"ansible.{collection}.{name}" for collection in ("builtin", "legacy")
    for name in ("assert", "validate_argument_spec", "set_fact", "debug", "fail"))

Base = strategy_loader.get("linear", class_only=True)

# Ansible loads a plugin's file by hand: the module goes into sys.modules before its code
# has run, so a second thread asking for the same plugin then gets it half made ("has no
# attribute 'LookupModule'"). A forked worker was alone in its process; threads load one
# plugin file at a time.
_plugin_file_lock = threading.RLock()
_load_module_source = PluginLoader._load_module_source


def _load_module_source_alone(self, **kwargs):
    with _plugin_file_lock:
        return _load_module_source(self, **kwargs)


PluginLoader._load_module_source = _load_module_source_alone


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


class KeptBinding:
    """A task connection's binding to its mux, left open when the connection closes: the
    router behind it serves every task of the play."""

    def __init__(self, parent):
        self.parent = parent

    def get_service_context(self):
        return self.parent

    get_child_service_context = get_service_context

    def close(self):
        pass


class SharedMuxes:
    """Mitogen's worker model for tasks on threads: Mitogen's own classic model starts the
    mux processes and picks a node's mux; this one keeps a broker and one router per mux,
    made at a play's first connection and closed when the play ends (a forked worker makes
    and closes its own for each task)."""

    def __init__(self, classic):
        self._classic = classic
        self._lock = threading.Lock()
        self._broker = None
        self._parents: dict[str, object] = {}

    def on_strategy_start(self):
        self._classic.on_strategy_start()

    def on_strategy_complete(self):
        with self._lock:
            if self._broker is not None:
                self._broker.shutdown()
                self._broker.join()
                # As Mitogen does when a router closes in this process: no latch or
                # service state outlives it.
                mitogen.fork.on_fork()
            self._broker, self._parents = None, {}
        self._classic.on_strategy_complete()

    def get_binding(self, inventory_name):
        path = self._classic._listener_for_name(inventory_name)
        with self._lock:
            if self._broker is None:
                self._broker = ansible_mitogen.process.Broker()
            if path not in self._parents:
                try:
                    router, parent = mitogen.unix.connect(path=path, broker=self._broker)
                except mitogen.unix.ConnectError as e:
                    raise AnsibleError(ansible_mitogen.process.shutting_down_msg % (e,)) from e
                router.max_message_size = ansible_mitogen.process.MAX_MESSAGE_SIZE
                self._parents[path] = parent
            return KeptBinding(self._parents[path])


class TaskThreads:
    """Daemon threads running queued calls, as many as the most `forks` asked for, kept for
    every play of the run: a task still running when ansible-playbook exits (interrupted)
    does not hold the exit."""

    def __init__(self):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0

    def _serve(self):
        while True:
            call, args = self._calls.get()
            call(*args)

    def submit(self, size: int, call, *args):
        while self._count < size:
            threading.Thread(target=self._serve, name=f"egov-task-{self._count}",
                             daemon=True).start()
            self._count += 1
        self._calls.put((call, args))


TASK_THREADS = TaskThreads()


class InProcessResults:
    """The results queue as a task on a thread sees it: what a worker pickles into the
    queue for the strategy's results thread is handed over within the process. Loop items'
    callbacks go out one at a time, as the results thread sent them."""

    def __init__(self, strategy):
        self._strategy = strategy
        self._callbacks = threading.Lock()

    def send_task_result(self, raw: _RawTaskResult) -> None:
        strategy = self._strategy
        result = strategy._convert_wire_task_result_to_raw(raw.as_wire_task_result())
        with strategy._results_lock:
            strategy._results.append(result)

    def send_callback(self, method_name: str, raw: _RawTaskResult) -> None:
        strategy = self._strategy
        result = strategy._convert_wire_task_result_to_raw(raw.as_wire_task_result())
        with self._callbacks:
            strategy._tqm.send_callback(method_name, result)

    def __getattr__(self, name):  # display and prompts take the queue
        return getattr(self._strategy._final_q, name)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def _get_worker_model(self):
        return SharedMuxes(super()._get_worker_model())

    def run(self, iterator, play_context, result=0):
        self._throttles: dict[str, threading.BoundedSemaphore] = {}
        self._in_process = InProcessResults(self)
        return super().run(iterator, play_context)

    def _queue_task(self, host, task, task_vars, play_context):
        # The task is cached first: the executor calls back a loop's items while it runs,
        # and each is matched to its task there.
        self._start(host, task, task_vars, play_context)
        result = skipped_in_controller(task, task_vars)
        if result is not None:
            self._give_result(host, task, result)
        elif runs_in_controller(task):
            self._execute(host, task, task_vars, play_context)
        else:
            TASK_THREADS.submit(max(1, len(self._workers)), self._execute, host, task,
                                task_vars, play_context, self._throttle(task, task_vars))
        self._pending_results += 1

    def _throttle(self, task, task_vars) -> threading.BoundedSemaphore | None:
        """The gate of a task with `throttle`: at most that many nodes run it at once, as
        Ansible's strategy allows that many workers."""
        if not task.throttle:  # the default, 0: nothing to template
            return None
        throttle = int(TemplateEngine(loader=self._loader, variables=task_vars)
                       .template(task.throttle))
        if throttle <= 0 or task.run_once:
            return None
        return self._throttles.setdefault(task._uuid, threading.BoundedSemaphore(throttle))

    def _execute(self, host, task, task_vars, play_context, gate=None) -> None:
        """A worker's own steps, without the fork: Ansible's task executor on a copy of the
        task (the executor squashes and post-validates it) and of its variables, its result
        handed to the strategy as a worker's."""
        # its blocks without their lists of tasks: the executor reads their attributes only
        own = task.copy(exclude_tasks=True)
        try:
            if gate is not None:
                gate.acquire()
            try:
                # The executor writes loop, search-path and registered variables into its
                # variables; a worker's changes stayed in the worker, and the strategy still
                # reads these.
                with _task.TaskContext(own):
                    result = TaskExecutor(host, own, dict(task_vars), play_context, self._loader,
                                          plugin_loader.get_plugin_loader_namespace(),
                                          self._in_process, self._variable_manager).run()
            finally:
                if gate is not None:
                    gate.release()
        except BaseException as e:  # the strategy waits for a result whatever happens
            result = {"failed": True, "msg": f"the task's executor raised {e!r}",
                      "exception": traceback.format_exc()}
        self._give_result(host, own, result)

    def _start(self, host, task, task_vars, play_context) -> None:
        """What Ansible's strategy does before a worker starts."""
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)

    def _give_result(self, host, ran, result) -> None:
        """The result on the worker's path, after the loop items' callbacks the executor sent
        (the strategy forgets the task once it has processed the result)."""
        self._in_process.send_task_result(_RawTaskResult(
            host=host, task=ran, return_data=result, task_fields=ran.dump_attrs()))
