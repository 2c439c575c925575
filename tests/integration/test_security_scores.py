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


def test_every_public_name_passes_testssl_with_only_tls_12_and_13(lab, ca_file):
    scans = security_scores.scan_gateway_tls(lab.stack, ca_file)
    assert {t.name for t in scans} == {site.name for site in lab.stack.derived.sites}
    failing = {t.name: t.failing for t in scans if t.failing}
    assert not failing, failing
    offered = {t.name: t.offered for t in scans if set(t.offered) != {"TLS1_2", "TLS1_3"}}
    assert not offered, f"protocols offered other than TLS 1.2 and 1.3: {offered}"


def test_every_tls_service_inside_the_zones_passes_testssl(lab, ca_file):
    scans = security_scores.scan_internal_tls(lab.stack, ca_file)
    assert {t.name for t in scans} == set(security_scores.internal_tls_endpoints(lab.stack))
    assert len(scans) >= 3, "LDAPS, the log collector and PostgreSQL are all scanned"
    bad = {t.name: (t.offered, t.failing) for t in scans if not t.ok}
    assert not bad, f"(offered protocols, findings rated MEDIUM or worse): {bad}"


def test_every_node_scores_lynis_85_or_more_with_no_unwaived_warning(lab):
    scores = security_scores.audit_lynis(lab.stack)
    assert {sc.node for sc in scores} == {n.name for n in lab.stack.nodes}
    bad = {sc.node: (sc.index, sc.warnings) for sc in scores if not sc.ok}
    assert not bad, f"(index, warnings not waived), {security_scores.LYNIS_MIN} needed: {bad}"
