"""Security scores measured from outside the nodes, as an auditor's tool sees them."""

from __future__ import annotations

import pytest

from egov import security_scores
from egov.images import SUITE
from egov.model import Role

pytestmark = pytest.mark.lab

# A package of the drill's own at 1.0 on the node, and its 1.1 in a local archive that
# calls itself Debian's security archive: a security update the node has not installed.
PLANT_SECURITY_UPDATE = r"""set -eu
# The nodes' umask (027) would leave DEBIAN/ at 0750, which dpkg-deb refuses.
umask 022
d=/var/lib/egov-patch-drill
rm -rf "$d"; mkdir -p "$d/build" "$d/repo"
for v in 1.0 1.1; do
    r="$d/build/$v"; mkdir -p "$r/DEBIAN"
    printf 'Package: egov-patch-drill\nVersion: %s\nArchitecture: all\n%s\n%s\n %s\n' "$v" \
        'Maintainer: egov <root@localhost>' 'Description: security patch drill of egov' \
        'Installs nothing; its later version stands for a security update.' > "$r/DEBIAN/control"
    dpkg-deb --root-owner-group -b "$r" "$d/build/egov-patch-drill_${v}_all.deb" >/dev/null
done
dpkg -i "$d/build/egov-patch-drill_1.0_all.deb" >/dev/null
deb=egov-patch-drill_1.1_all.deb
cp "$d/build/$deb" "$d/repo/"
{ grep -v '^ \|^Description' "$d/build/1.1/DEBIAN/control"
  echo "Filename: ./$deb"
  echo "Size: $(stat -c %s "$d/repo/$deb")"
  echo "SHA256: $(sha256sum "$d/repo/$deb" | cut -d' ' -f1)"
  grep '^ \|^Description' "$d/build/1.1/DEBIAN/control"; } > "$d/repo/Packages"
printf '%s\n' 'Origin: Debian' 'Label: Debian-Security' 'Suite: stable-security' \
    'Codename: @SUITE@-security' 'Version: 12' "Date: $(date -uR)" 'SHA256:' \
    " $(sha256sum "$d/repo/Packages" | cut -d' ' -f1) $(stat -c %s "$d/repo/Packages") Packages" \
    > "$d/repo/Release"
echo "deb [trusted=yes] file:$d/repo ./" > /etc/apt/sources.list.d/egov-patch-drill.list
""".replace("@SUITE@", SUITE)
REMOVE_SECURITY_UPDATE = """set -eu
dpkg --purge egov-patch-drill >/dev/null
rm -rf /var/lib/egov-patch-drill /etc/apt/sources.list.d/egov-patch-drill.list \
    /var/lib/apt/lists/_var_lib_egov-patch-drill_repo_*
dpkg-query -W egov-patch-drill 2>/dev/null && exit 1 || true
"""


@pytest.fixture
def unpatched_node(lab):
    """An application node with a pending security update, removed after the test."""
    node = lab.stack.nodes_with(Role.app)[0].name
    planted = lab.ssh(node, "sudo -n sh -s", stdin=PLANT_SECURITY_UPDATE)
    assert planted.returncode == 0, planted.stderr
    yield node
    removed = lab.ssh(node, "sudo -n sh -s", stdin=REMOVE_SECURITY_UPDATE)
    assert removed.returncode == 0, removed.stderr


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


def test_every_node_scores_lynis_85_or_more_with_no_unwaived_warning(lab, unpatched_node):
    scores = security_scores.audit_lynis(lab.stack)
    assert {sc.node for sc in scores} == {n.name for n in lab.stack.nodes}
    bad = {sc.node: (sc.index, sc.warnings) for sc in scores if not sc.ok}
    assert not bad, f"(index, warnings not waived), {security_scores.LYNIS_MIN} needed: {bad}"
    # The node's own unattended-upgrades installed the pending security update first.
    patched = {sc.node: sc.patched for sc in scores}
    assert "egov-patch-drill" in patched[unpatched_node], patched
    version = lab.ssh(unpatched_node, "dpkg-query -W -f '${Version}' egov-patch-drill")
    assert version.stdout == "1.1", version
