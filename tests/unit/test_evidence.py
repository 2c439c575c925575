"""Verification evidence without a lab: every node check names known controls, the pytest
plugin records outcomes, evidence and controls (with and without xdist), the report groups
by control and shows controls without evidence, and the audit says when evidence is stale."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from egov import audit, evidence
from egov.cli import app
from egov.controls import catalogue
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "tests" / "nodes"
SPBE = {"SPBE-33-ZONES", "SPBE-33-PORTS", "SPBE-33-ADMIN-CHANGE", "SPBE-33-TLS",
        "SPBE-33-DB-INTERMEDIARY"}


def _node_checks():
    for path in sorted(NODES.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"nodes_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        marks = getattr(module, "pytestmark", [])
        marks = [m.mark for m in marks] if isinstance(marks, list) else [marks.mark]
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn):
                own = marks + list(getattr(fn, "pytestmark", []))  # Mark objects
                yield f"{path.name}::{name}", {c for m in own if m.name == "control"
                                               for c in m.args}


def test_catalogue_has_the_spbe_article_33_controls_and_platform_controls():
    controls = catalogue()
    assert SPBE <= set(controls)
    assert all("Pasal 33" in controls[c].source for c in SPBE)
    assert all(c.title and c.requirement for c in controls.values())


def test_every_node_check_names_known_controls():
    known = set(catalogue())
    checks = dict(_node_checks())
    assert len(checks) > 80
    without = [c for c, ids in checks.items() if not ids]
    unknown = {c: ids - known for c, ids in checks.items() if ids - known}
    assert not without, f"checks naming no control: {without}"
    assert not unknown, f"checks naming unknown controls: {unknown}"
    covered = set().union(*checks.values())
    assert SPBE <= covered, f"SPBE controls no check covers: {SPBE - covered}"


SAMPLE = '''
import pytest

pytestmark = pytest.mark.control("EGOV-DRIFT")

@pytest.fixture
def evidence(request):
    return lambda text: request.node.user_properties.append(("evidence", text))

def test_ok(evidence):
    """Something that holds."""
    evidence("observed 3 of 3")

@pytest.mark.control("SPBE-33-TLS")
def test_broken():
    assert 1 == 2, "node x: /etc/thing changed by hand"

def test_not_here():
    pytest.skip("x has no such role")
'''


@pytest.mark.parametrize("workers", [0, 2])
def test_plugin_records_outcomes_controls_and_evidence(tmp_path, workers):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    result, progress = tmp_path / "result.json", tmp_path / "progress.jsonl"
    cmd = [sys.executable, "-m", "pytest", str(tmp_path / "test_sample.py"), "-q",
           "-p", "egov.verify_report", "-p", "no:cacheprovider", "-o", "addopts=",
           "-W", "ignore::pytest.PytestUnknownMarkWarning", "--rootdir", str(tmp_path)]
    cmd += ["-n", str(workers)] if workers else ["-p", "no:xdist"]
    env = dict(os.environ, EGOV_VERIFY_RESULT=str(result), EGOV_VERIFY_PROGRESS=str(progress))
    subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=120)
    got = {r["check"].split("::")[1]: r for r in json.loads(result.read_text())["results"]}
    assert got["test_ok"]["outcome"] == "passed"
    assert got["test_ok"]["evidence"] == ["observed 3 of 3"]
    assert got["test_ok"]["doc"] == "Something that holds."
    assert got["test_broken"]["outcome"] == "failed"
    assert got["test_broken"]["message"] == "node x: /etc/thing changed by hand"
    assert got["test_broken"]["controls"] == ["EGOV-DRIFT", "SPBE-33-TLS"]
    assert got["test_not_here"]["outcome"] == "skipped"
    assert got["test_not_here"]["message"] == "x has no such role"
    events = [json.loads(line) for line in progress.read_text().splitlines()]
    assert events[0] == {"total": 3}
    assert sorted(e["outcome"] for e in events[1:]) == ["failed", "passed", "skipped"]


def _result(check, outcome, controls, node="app1", message="", ev=()):
    return {"id": f"test_x.py::{check}[ssh://{node}]", "node": node, "check": check,
            "doc": "", "controls": controls, "outcome": outcome, "evidence": list(ev),
            "message": message, "seconds": 0.1, "time": "2026-11-28T04:00:00Z"}


@pytest.fixture
def report():
    stack = load_stack(ROOT, "lab")
    raw = {"results": [
        _result("test_zones", "passed", ["SPBE-33-ZONES"], ev=["12 probes, all as the matrix"]),
        _result("test_drift", "failed", ["SPBE-33-ADMIN-CHANGE", "EGOV-DRIFT"],
                message="app1: drift in managed files:\n/etc/x: changed by hand"),
        _result("test_restore", "skipped", ["EGOV-RESTORE"], message="not here"),
    ]}
    t = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    return evidence.build(stack, ROOT, raw, started=t, finished=t, workers=4, returncode=1)


def test_report_groups_by_control_and_lists_controls_without_evidence(report):
    status = {c["id"]: c["status"] for c in report["controls"]}
    assert status["SPBE-33-ZONES"] == "passed"
    assert status["SPBE-33-ADMIN-CHANGE"] == status["EGOV-DRIFT"] == "failed"
    assert status["EGOV-RESTORE"] == "no evidence", "a skipped check is not evidence"
    assert status["SPBE-33-TLS"] == "no evidence"
    assert report["passed"] is False and report["totals"]["failed"] == 1
    assert len(report["definition"]["sha256"]) == 64


def test_html_report_shows_verdict_controls_and_failures(report, tmp_path):
    files = evidence.write(ROOT, report, tmp_path)
    html = files["html"].read_text()
    for marker in ('id="verdict" class="failed"', 'id="controls"', 'id="no-evidence"',
                   'id="node-app1"', "/etc/x: changed by hand", "SPBE-33-TLS",
                   "Peraturan BSSN Nomor 4 Tahun 2021, Pasal 33"):
        assert marker in html, marker
    assert json.loads(files["latest_json"].read_text()) == report


def test_audit_says_whether_evidence_is_current_stale_or_missing(report):
    stack = load_stack(ROOT, "lab")
    now = evidence.definition(stack, ROOT)
    assert audit.freshness(now, None)[0] == "missing"
    assert audit.freshness(now, report)[0] == "current"
    older = dict(report, definition=dict(report["definition"], sha256="0" * 64))
    state, note = audit.freshness(now, older)
    assert state == "stale" and "OLDER than the stack definition" in note


def test_audit_command_writes_markdown_and_html_offline(report, tmp_path):
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps(report))
    result = CliRunner().invoke(app, ["audit", "lab", "--out", str(tmp_path), "--evidence",
                                      str(ev)])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "audit-lab.md").read_text()
    html = (tmp_path / "audit-lab.html").read_text()
    assert "**Evidence: CURRENT.**" in md
    for section in ("## The stack in plain words", "### Who may reach what",
                    "## Offline plan and policies", "## Verification evidence by control",
                    "### Controls without evidence", "EGOV-RESTORE"):
        assert section in md, section
    assert 'id="freshness" class="current"' in html and "<svg" in html
