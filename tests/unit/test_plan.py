"""`egov plan <stack>`: offline plan, policies and report, without Docker or the Pulumi CLI."""

from __future__ import annotations

import html as html_lib
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from egov.cli import app
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def prod_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = runner.invoke(app, ["plan", "prod", "--out", str(out)])
    return result, out


def test_plan_prod_succeeds_and_prints_the_resource_table(prod_report):
    result, _ = prod_report
    assert result.exit_code == 0, result.output
    assert "planned Docker objects" in result.output
    assert "prod-db1" in result.output and "every policy passed" in result.output


def test_plan_prod_writes_markdown_html_and_picture(prod_report):
    _, out = prod_report
    stack = load_stack(ROOT, "prod")
    files = {ext: out / f"plan-prod.{ext}" for ext in ("md", "html", "svg", "png")}
    for path in files.values():
        assert path.is_file() and path.stat().st_size > 0, f"{path} was not written"
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    svg = html_lib.unescape(files["svg"].read_text())
    md = files["md"].read_text()
    html = files["html"].read_text()
    assert "<svg" in html and "</html>" in html
    assert "](plan-prod.svg)" in md
    for node in stack.nodes:
        address = stack.derived.address[node.name]
        for name, text in (("svg", svg), ("md", md), ("html", html)):
            assert node.name in text and address in text, f"{name} lacks {node.name} {address}"
    for zone in stack.zones:
        assert str(zone.subnet) in svg and f"VLAN {zone.vlan}" in svg, zone.name
    # Allowed flows from the reachability matrix: gateway to the services' port range.
    assert "tcp 8000-8019" in svg and "| dmz | app | tcp 8000-8019 |" in md
    assert "all 6 passed" in md
    # Where the secrets are, never what they are.
    assert "stacks/secrets/prod.vault.yml" in md and "stacks/secrets/prod.vault.yml" in html


def test_plan_of_an_unknown_stack_is_bad_input(tmp_path):
    result = runner.invoke(app, ["plan", "nosuch", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert not any(tmp_path.iterdir())


def test_plan_exits_1_when_a_policy_fails(tmp_path, monkeypatch):
    if str(ROOT) not in sys.path:  # `infra` is a package of the project tree
        sys.path.insert(0, str(ROOT))
    from infra.policy import policies

    def everything_fails(resources, allowed):
        """A rule no container passes."""
        return [policies.Violation("test-rule", r.urn, "fails on purpose")
                for r in resources if r.type == policies.CONTAINER]

    monkeypatch.setitem(policies.RULES, "test-rule", everything_fails)
    result = runner.invoke(app, ["plan", "lab", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "urn:pulumi:lab::egov-dc::" in result.output and "fails on purpose" in result.output
    md = (tmp_path / "plan-lab.md").read_text()
    assert "| test-rule | **FAILED** |" in md and "fails on purpose" in md
