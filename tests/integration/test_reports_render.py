"""The verification report and the auditor's document render in headless Chromium, with
their key elements: verdict, summary, controls (SPBE and platform), the controls without
evidence, every node; and the audit's freshness, stack in words and network picture."""

from __future__ import annotations

import pytest

from egov import evidence
from egov.controls import catalogue

from .chromium import HEIGHT, WIDTH, png_size_and_colours, render
from .conftest import egov

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def verified(lab):
    report = evidence.latest("lab")
    if report is None or not report["passed"] or report["definition"]["sha256"] != \
            evidence.definition(lab.stack, lab.root)["sha256"]:
        res = egov("verify", "lab")
        assert res.returncode == 0, res.stdout[-3000:]
        report = evidence.latest("lab")
    return report


def _screenshot_ok(png):
    width, height, colours = png_size_and_colours(png)
    assert (width, height) == (WIDTH, HEIGHT), f"{png}: {width}x{height}"
    assert colours > 20, f"{png} looks blank ({colours} distinct values)"


def test_verify_report_renders_with_its_key_elements(lab, verified, tmp_path):
    page = evidence.reports_dir("lab") / "verify-lab-latest.html"
    png, dom = render(page, tmp_path)
    _screenshot_ok(png)
    assert "Every check passed" in dom.ids["verdict"]
    summary = dom.ids["summary"]
    assert "lab" in summary and verified["definition"]["sha256"][:12] in summary
    assert dom.classes.get("control") == len(catalogue())
    for control in catalogue():
        assert f"control-{control}" in dom.ids
    assert "EGOV-RESTORE" in dom.ids["no-evidence"]
    for node in lab.stack.nodes:
        assert f"node-{node.name}" in dom.ids, f"no section for node {node.name}"
    assert "Pasal 33" in dom.ids["controls"]


def test_audit_document_renders_with_its_key_elements(lab, verified, tmp_path):
    res = egov("audit", "lab", "--out", str(tmp_path / "audit"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "evidence: current" in res.stdout
    png, dom = render(tmp_path / "audit" / "audit-lab.html", tmp_path)
    _screenshot_ok(png)
    assert "current" in dom.ids["freshness"]
    for zone in lab.stack.zones:
        assert zone.name in dom.ids["zones"]
    for svc in lab.stack.services:
        assert svc.title in dom.ids["services"]
    assert "may open" in dom.ids["flows"] and dom.tags.get("svg", 0) >= 1
    assert "passed" in dom.ids["policies"]
    assert "EGOV-RESTORE" in dom.ids["no-evidence"]
