"""Drill: break the lab by hand the way it happens in a data centre (open a port the model
forbids, remove a firewall rule, stop a service, edit a managed file), see `egov verify`
fail on exactly the checks that watch those things, naming the node and the resource,
then see `egov up` repair all of it and verify pass again. Runs before the other drills:
it needs the lab as the stack file in the project describes it."""

from __future__ import annotations

import json
import re

import pytest

from egov import evidence
from egov.lab import baseline_file
from egov.model import Role

from .conftest import egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE = "egov_filter"


def _sudo(lab, node, command):
    res = lab.ssh(node, f"sudo -n {command}")
    assert res.returncode == 0, f"{node}: {command}: {res.stderr}"
    return res.stdout


def _failed(report) -> dict[tuple[str, str], str]:
    return {(r["check"].split("::")[1], r["node"]): r["message"] for r in report["results"]
            if r["outcome"] in ("failed", "error")}


def test_verify_names_what_was_broken_and_up_repairs_it(lab):
    stack = lab.stack
    app, other_app = [n.name for n in stack.nodes_with(Role.app)][:2]
    database = stack.nodes_with(Role.database)[0].name
    gateway_zone = stack.nodes_with(Role.gateway)[0].zone
    app_zone = stack.node(app).zone
    used = {f.port for t in stack.derived.matrix.values() for fl in t.values() for f in fl}
    forbidden = next(p for p in range(18990, 19990) if p not in used)
    listened = {s.port for s in stack.services}
    unused_rule = max(f.port for f in stack.derived.matrix[gateway_zone][app_zone]
                      if f.protocol == "tcp" and f.port not in listened)
    managed = json.loads(baseline_file(stack).read_text())[other_app]["files"]
    edited = next(p for p in sorted(managed) if p.startswith("/etc/ssh/sshd_config.d/"))

    # 1. a port opened by hand that no flow allows
    _sudo(lab, app, f"nft insert rule inet {TABLE} input tcp dport {forbidden} accept")
    # 2. a rule of the matrix removed by hand
    listing = _sudo(lab, app, f"nft -a list chain inet {TABLE} input")
    handle = re.search(rf"ip saddr @zone_{gateway_zone} tcp dport {unused_rule} accept.*"
                       r"# handle (\d+)", listing).group(1)
    _sudo(lab, app, f"nft delete rule inet {TABLE} input handle {handle}")
    # 3. a service stopped
    _sudo(lab, database, "systemctl stop chrony")
    # 4. a managed file edited
    _sudo(lab, other_app, f"sh -c 'echo \"# changed by hand\" >> {edited}'")

    res = egov("verify", "lab")
    assert res.returncode == 1, res.stdout[-3000:]
    broken = evidence.latest("lab")
    assert broken["passed"] is False
    failed = _failed(broken)
    assert set(failed) == {
        ("test_rules_follow_the_matrix", app),
        ("test_matrix_is_enforced_between_nodes", "(stack)"),
        ("test_chrony_runs_and_syncs_from_the_stack", database),
        ("test_managed_units_are_active", database),
        ("test_managed_files_are_as_the_last_converge_left_them", other_app),
    }, json.dumps(failed, indent=1)
    rules = failed[("test_rules_follow_the_matrix", app)]
    assert f"'tcp', {forbidden})" in rules and f"'tcp', {unused_rule})" in rules, rules
    matrix = failed[("test_matrix_is_enforced_between_nodes", "(stack)")]
    # The port opened by hand on one node is not reached from the others: their firewalls'
    # output chains let no undeclared connection leave. The rule removed by hand is missed.
    assert f":{forbidden}" not in matrix and f":{unused_rule}" in matrix, matrix
    assert "chrony: inactive" in failed[("test_managed_units_are_active", database)]
    assert f"{edited}: changed by hand" in \
        failed[("test_managed_files_are_as_the_last_converge_left_them", other_app)]
    drift = next(c for c in broken["controls"] if c["id"] == "EGOV-DRIFT")
    assert drift["status"] == "failed"

    res = egov("up", "lab")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    repaired = evidence.latest("lab")
    assert repaired["passed"] is True, json.dumps(_failed(repaired), indent=1)
    changed = json.loads((baseline_file(stack).parent / "last-up.json").read_text())
    changed = changed["converge"]["changed"]
    assert any("differs" in t or "by hand" in t for t in changed.get(app, [])), changed
