"""The dns role alone: unbound answers the stack's zone on the node's leg and forwards the
rest to Docker's resolver; asked with the lab's query helper (tests/nodes/test_dns.py)."""

import pytest

from tests.nodes.test_dns import query

DOMAIN = "roletest.invalid"


@pytest.fixture(scope="module")
def address(host) -> str:
    return host.interface("eth0").addresses[0]


def test_unbound_runs_and_listens_on_the_leg(host, name, address):
    unbound = host.service("unbound")
    assert unbound.is_running and unbound.is_enabled, f"{name}: unbound not running and enabled"
    with host.sudo():
        check = host.run("unbound-checkconf")
    assert check.rc == 0, f"{name}: unbound-checkconf fails: {check.stdout}{check.stderr}"
    for where in (address, "127.0.0.1"):
        assert host.socket(f"udp://{where}:53").is_listening, \
            f"{name}: unbound does not listen on {where}:53"
    assert not host.socket("udp://0.0.0.0:53").is_listening, \
        f"{name}: unbound listens on every address"
    assert "127.0.0.11" in host.file("/etc/resolv.conf").content_string, \
        f"{name}: /etc/resolv.conf is no longer Docker's"


def test_the_zone_is_answered_on_the_leg(host, name, address):
    fqdn = host.check_output("hostname") + "." + DOMAIN
    public, unknown = f"portal.{DOMAIN}", f"no-such-node.{DOMAIN}"
    answers = query(host, address, fqdn, public, unknown)
    assert answers[fqdn].get("addresses") == [address], \
        f"{name}: unbound answers {answers[fqdn]} for {fqdn}"
    assert answers[public].get("addresses") == [address], \
        f"{name}: unbound answers {answers[public]} for {public}, not the gateway"
    assert answers[unknown].get("rcode") == 3, \
        f"{name}: unbound does not answer NXDOMAIN inside {DOMAIN}: {answers[unknown]}"


def test_other_names_are_forwarded_to_dockers_resolver(host, name):
    # Docker's resolver knows the container's own name: a name outside the stack's zone.
    target = name
    got = query(host, "127.0.0.1", target)[target]
    assert got.get("rcode") == 0 and got.get("addresses"), \
        f"{name}: unbound does not forward {target} to Docker's resolver: {got}"
