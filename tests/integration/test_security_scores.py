"""Security scores measured from outside the nodes, as an auditor's tool sees them."""

from __future__ import annotations

import pytest

from egov import security_scores

pytestmark = pytest.mark.lab


def test_every_sshd_passes_ssh_audit_and_the_hardened_debian_policy(lab):
    results = security_scores.audit_sshd(lab.stack)
    assert {r.node for r in results} == {n.name for n in lab.stack.nodes}
    bad = {r.node: r.failures + r.warnings + r.cves + r.policy_errors
           for r in results if not r.ok}
    assert not bad, bad
    # Only the documented difference from the policy, on every node.
    assert all(w.startswith("Key exchanges:") for r in results for w in r.waived)
