"""Write every task result of a playbook run as a JSON line, for `egov` to show progress
and to report exactly which tasks changed or failed on which node.

Writes to the file named by EGOV_EVENTS_FILE; does nothing when it is unset.
"""

from __future__ import annotations

import json
import os
import time

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: egov_events
type: notification
short_description: task results as JSON lines for the egov command
description:
  - Appends one JSON object per playbook event to the file named by EGOV_EVENTS_FILE.
"""


FILE_ACTIONS = {"template", "copy"}
UNIT_ACTIONS = {"systemd", "systemd_service", "service"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "egov_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        path = os.environ.get("EGOV_EVENTS_FILE")
        self._out = open(path, "a", buffering=1, encoding="utf-8") if path else None
        # host -> when its current task started: a node runs one task at a time on the
        # linear strategies, so each result's duration is measured from it.
        self._started: dict[str, float] = {}

    def _emit(self, **event):
        if self._out:
            event["time"] = round(time.time(), 3)
            self._out.write(json.dumps(event, default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        # The play's host pattern: the hosts it matches are known to the inventory only,
        # which a callback reaches through private attributes alone.
        self._emit(event="play", name=play.get_name(), pattern=play.hosts,
                   strategy=play.strategy)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit(event="task", name=task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._emit(event="task", name=task.get_name(), handler=True)

    def v2_runner_on_start(self, host, task):
        self._started[host.get_name()] = time.monotonic()

    def _result(self, status, result):
        res = result.result
        msg = ""
        if status in ("failed", "unreachable"):
            # For a loop, the first failed item says more than "One or more items failed".
            failed = [r for r in res.get("results", []) if r.get("failed")]
            first = failed[0] if failed else res
            msg = first.get("msg") or first.get("stderr") or ""
            if failed and "item" in first:
                msg = f"(item {first.get('_ansible_item_label', first['item'])}) {msg}"
        host = result.host.get_name()
        started = self._started.pop(host, None)
        self._emit(event="result", status=status, host=host, task=result.task.get_name(),
                   msg=msg, seconds=round(time.monotonic() - started, 3) if started else 0.0)

    def v2_runner_on_ok(self, result):
        self._result("changed" if result.result.get("changed") else "ok", result)
        self._managed(result)
        self._handlers(result)

    def _handlers(self, result):
        """Which handlers a change notified and which ran, by play and host: egov keeps
        those a killed or failed run left pending and hands them to the next run."""
        task = result.task
        host = result.host.get_name()
        play = task.get_play().get_name() if task.get_play() else ""
        if isinstance(task, Handler):
            self._emit(event="handled", play=play, host=host,
                       names=[task.name, *(task.listen or [])])
        if result.result.get("changed") and task.notify:
            notify = [task.notify] if isinstance(task.notify, str) else list(task.notify)
            self._emit(event="notified", play=play, host=host, handlers=notify)

    def _managed(self, result):
        """What a converge leaves in place, as the baseline drift is measured against:
        each file a template or copy task wrote (path, sha1) and each long-running unit a
        task started. Delegated tasks act on another machine and are left out."""
        task = result.task
        if task.delegate_to or task.check_mode:
            return
        action = task.action.rsplit(".", 1)[-1]
        host = result.host.get_name()
        res = result.result
        for item in res.get("results") or [res]:
            if item.get("skipped") or item.get("failed"):
                continue
            if action in FILE_ACTIONS and item.get("checksum"):
                path = item.get("dest") or item.get("path")
                if path:
                    self._emit(event="managed", host=host, kind="file", name=path,
                               checksum=item["checksum"], task=task.get_name())
            elif action in UNIT_ACTIONS and item.get("state") in ("started", "running"):
                status = item.get("status") or {}
                lasting = status.get("Type", "simple") != "oneshot" \
                    or status.get("RemainAfterExit") == "yes"
                if lasting and item.get("name"):
                    self._emit(event="managed", host=host, kind="unit", name=item["name"],
                               task=task.get_name())

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)
        self._handlers(result)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        self._emit(event="stats", hosts={h: stats.summarize(h) for h in hosts})
