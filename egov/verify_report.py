"""pytest plugin of `egov verify` (loaded with `-p egov.verify_report`): for every check it
keeps the node, the controls it gives evidence for, the outcome, what was observed and when,
writes a progress line per finished check (EGOV_VERIFY_PROGRESS) and, at the end, every
result as JSON (EGOV_VERIFY_RESULT). Works with and without pytest-xdist: the workers attach
what they know to their reports, the controller writes."""

from __future__ import annotations

import json
import os
import time

import pytest

PROGRESS = "EGOV_VERIFY_PROGRESS"
RESULT = "EGOV_VERIFY_RESULT"
STACK_WIDE = "(stack)"


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _emit(event: dict) -> None:
    path = os.environ.get(PROGRESS)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(event) + "\n")


def _node_of(item) -> str:
    callspec = getattr(item, "callspec", None)
    host = callspec.params.get("_testinfra_host") if callspec else None
    return host.backend.hostname if host is not None else STACK_WIDE


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    doc = " ".join((getattr(item.function, "__doc__", None) or "").split())
    controls = sorted({c for mark in item.iter_markers("control") for c in mark.args})
    item.user_properties.extend([
        ("node", _node_of(item)), ("check", f"{item.module.__name__}::{item.originalname}"),
        ("doc", doc), ("controls", controls)])


def pytest_collection_finish(session):
    if not _is_worker(session.config) and not getattr(session.config.option, "numprocesses", 0):
        _emit({"total": len(session.items)})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    config = node.config
    if not getattr(config, "_egov_total_sent", False):
        config._egov_total_sent = True
        _emit({"total": len(ids)})


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    # keep the check's own message, not pytest's re-evaluation of the assert
    text = text.split("\nassert ")[0]
    for prefix in ("AssertionError: ", "Failed: "):
        text = text.removeprefix(prefix)
    return text.strip()[:4000]


class Collector:
    def __init__(self):
        self.results: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        props: dict = {}
        evidence: list[str] = []
        for key, value in report.user_properties:
            if key == "evidence":
                evidence.append(value)
            else:
                props[key] = value
        rec = self.results.setdefault(report.nodeid, {
            "id": report.nodeid, "node": props.get("node", STACK_WIDE),
            "check": props.get("check", report.nodeid.split("[")[0]),
            "doc": props.get("doc", ""), "controls": props.get("controls", []),
            "outcome": "passed", "evidence": [], "message": "", "seconds": 0.0,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                  time.gmtime(getattr(report, "start", time.time())))})
        rec["seconds"] = round(rec["seconds"] + report.duration, 3)
        rec["evidence"].extend(e for e in evidence if e not in rec["evidence"])
        if report.skipped:
            rec["outcome"] = "skipped"
            longrepr = report.longrepr
            rec["message"] = (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))\
                .removeprefix("Skipped: ")
        elif report.failed:
            rec["outcome"] = "failed" if report.when == "call" else "error"
            rec["message"] = _message(report)
        if report.when == "teardown":
            _emit({"done": report.nodeid, "node": rec["node"], "outcome": rec["outcome"]})

    def pytest_sessionfinish(self, session, exitstatus):
        path = os.environ.get(RESULT)
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump({"exitstatus": int(exitstatus),
                           "results": sorted(self.results.values(),
                                             key=lambda r: (r["node"], r["id"]))}, out, indent=1)


def pytest_configure(config):
    if not _is_worker(config):
        config.pluginmanager.register(Collector(), "egov-verify-collector")
