"""The stock path: Ansible's own `linear` strategy, which egov falls back to when the
installed ansible-core and Mitogen are not the pair it was tested with, and which a
sysadmin may always choose (EGOV_ANSIBLE_STRATEGY=linear).

The lab was converged on the default path (Mitogen's strategy); converging it again on
the stock path must succeed and find nothing to change: the same roles give the same
result on either path. Every node runs the baseline, certificate, hardening, firewall and
node-exporter plays; NODES add the roles monitoring, logging, dns and pki (monitoring),
directory and identity (identity), database, and app (app1). Left out for time: bastion,
gateway and backup. Runs before the destructive drills, on the lab as the bring-up left
it.
"""

from __future__ import annotations

import time

import pytest

from .conftest import egov

pytestmark = pytest.mark.lab

NODES = ("monitoring", "identity", "database", "app1")
ROLES = {"monitoring", "logging", "dns", "pki", "directory", "identity", "database", "app"}


def test_the_stock_strategy_changes_nothing_the_default_path_converged(lab):
    covered = {r.value for n in lab.stack.nodes if n.name in NODES for r in n.roles}
    assert covered == ROLES, f"NODES carry the roles {covered}, the docstring says {ROLES}"
    started = time.monotonic()
    res = egov("converge", "lab", "--limit", ",".join(NODES), "--verbose",
               env={"EGOV_ANSIBLE_STRATEGY": "linear"})
    seconds = time.monotonic() - started
    assert res.returncode == 0, f"converge on linear failed:\n{res.stdout[-4000:]}\n" \
                                f"{res.stderr[-4000:]}"
    assert "strategy linear (log: " in res.stdout, f"not run on linear:\n{res.stdout[-2000:]}"
    assert " 0 changed task(s)" in res.stdout, \
        f"the stock path changed what the default path converged:\n{res.stdout[-4000:]}"
    recap = [line.split() for line in res.stdout.splitlines() if line.startswith("  ")]
    assert {row[0] for row in recap[1:]} == set(NODES), f"recap per node:\n{res.stdout}"
    print(f"stock-path converge of {len(NODES)} nodes: {seconds:.0f} s")

    checked = egov("verify", "lab")
    assert checked.returncode == 0, f"verify after the stock path failed:\n" \
                                    f"{checked.stdout[-4000:]}\n{checked.stderr[-3000:]}"
