"""The firewall role alone on a node that is its own bastion, in a one-zone matrix whose zone
has egress: the lab's checks that need no stack (tests/nodes/test_firewall.py), and the
rules and sets the scenario's matrix asks for, both ways, as nftables reports them."""

import pytest

from tests.nodes.test_firewall import (  # noqa: F401 (collected here)
    SSH,
    TABLE,
    _accepts,
    _nft_json,
    applied,
    test_default_deny_both_ways,
    test_nftables_enabled_running_and_files,
)


def _router(host) -> str:
    return host.check_output("ip -4 route show default").split()[2]


def _elements(host, set_name) -> set:
    found = next(i["set"] for i in _nft_json(host, f"set inet {TABLE} {set_name}") if "set" in i)
    return set(found.get("elem", []))


@pytest.mark.usefixtures("applied")
def test_rules_follow_the_matrix(host, name):
    # The matrix's own SSH entry is replaced by the SSH sources' rule.
    want = {("@ssh_sources", "tcp", SSH), ("@zone_test", "tcp", 9100)}
    got = _accepts(host)
    assert got == want, f"{name}: nft input accepts {sorted(got, key=str)}, not {want}"


@pytest.mark.usefixtures("applied")
def test_output_follows_the_matrix_and_reaches_the_outside(host, name):
    # The bastion opens SSH to its zone; the matrix's metrics flow leaves too.
    want = {("@zone_test", "tcp", SSH), ("@zone_test", "tcp", 9100)}
    got = _accepts(host, "output")
    assert got == want, f"{name}: nft output accepts {sorted(got, key=str)}, not {want}"
    with host.sudo():
        chain = host.check_output(f"nft list chain inet {TABLE} output")
    assert "ip daddr != @stack_subnets accept" in chain, \
        f"{name}: zone test has egress, yet its output chain does not reach the outside"


@pytest.mark.usefixtures("applied")
def test_sets_hold_the_router_and_the_zone(host, name):
    assert _elements(host, "ssh_sources") == {_router(host)}, \
        f"{name}: nft set ssh_sources is {_elements(host, 'ssh_sources')}"
    address = host.interface("eth0").addresses[0]
    assert _elements(host, "zone_test") == {address}, \
        f"{name}: nft set zone_test is {_elements(host, 'zone_test')}"

