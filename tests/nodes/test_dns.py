"""DNS: unbound on the dns nodes answers the stack's zone on every leg, to every zone, and
forwards other names; every node can ask it from its own zone."""

import json
import shlex

import pytest

from egov.model import Role

pytestmark = pytest.mark.control("EGOV-DNS")

# A query over UDP for each name, from the node (python3 is on every node, dig is not), all
# in one command; prints {name: {"rcode": n, "addresses": [...]} or {"error": "..."}}.
# The socket is connected: an unconnected one (sendto) is bound on 0.0.0.0 and, while it
# waits, looks like a listener to the firewall check on the same node.
QUERY = r"""
import json, random, socket, struct, sys
def ask(server, port, name):
    qid = random.randint(0, 65535)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        s.connect((server, port))
        s.send(packet)
        data = s.recv(4096)
    except OSError as e:
        return {"error": str(e)}
    rcode, count = struct.unpack(">H", data[2:4])[0] & 0xF, struct.unpack(">H", data[6:8])[0]
    i = len(packet)
    addresses = []
    for _ in range(count):
        i += 2 if data[i] & 0xC0 == 0xC0 else data.index(b"\0", i) - i + 1
        rtype, _, _, length = struct.unpack(">HHIH", data[i:i + 10])
        if rtype == 1:
            addresses.append(socket.inet_ntoa(data[i + 10:i + 14]))
        i += 10 + length
    return {"rcode": rcode, "addresses": addresses}
server, port = sys.argv[1], int(sys.argv[2])
print(json.dumps({name: ask(server, port, name) for name in sys.argv[3:]}))
"""


def query(host, server: str, *names: str, port: int = 53) -> dict:
    """The answers of `server` for each name, asked from the node in one command."""
    command = " ".join(shlex.quote(a) for a in ["python3", "-c", QUERY, server, str(port), *names])
    return json.loads(host.check_output(command))


def dns_nodes(stack):
    nodes = stack.nodes_with(Role.dns)
    if not nodes:
        pytest.skip(f"stack {stack.name} has no dns node")
    return nodes


def test_unbound_runs_on_the_dns_nodes(host, name, node, stack):
    dns_nodes(stack)
    if Role.dns not in node.roles:
        pytest.skip(f"{name} has no dns role")
    unbound = host.service("unbound")
    assert unbound.is_running and unbound.is_enabled, f"{name}: unbound not running and enabled"
    with host.sudo():
        check = host.run("unbound-checkconf")
    assert check.rc == 0, f"{name}: unbound-checkconf fails: {check.stdout}{check.stderr}"
    for leg in stack.derived.attachments[name]:
        assert host.socket(f"udp://{leg.address}:53").is_listening, \
            f"{name}: unbound does not listen on {leg.zone} leg {leg.address}"
    assert "127.0.0.11" in host.file("/etc/resolv.conf").content_string, \
        f"{name}: /etc/resolv.conf is no longer Docker's"


def test_every_node_resolves_the_stack_through_its_zone(host, name, node, stack):
    for server_node in dns_nodes(stack):
        server = next(leg.address for leg in stack.derived.attachments[server_node.name]
                      if leg.zone == node.zone)
        unknown = f"no-such-node.{stack.domain}"
        answers = query(host, server, *(stack.fqdn(o) for o in stack.nodes),
                        *(site.name for site in stack.derived.sites), unknown)
        for other in stack.nodes:
            fqdn = stack.fqdn(other)
            got = answers[fqdn]
            assert got.get("addresses") == [stack.derived.address[other.name]], \
                f"{name}: {server_node.name} ({server}) answers {got} for {fqdn}"
        gateways = sorted(stack.derived.address[g.name] for g in stack.nodes_with(Role.gateway))
        for site in stack.derived.sites:
            got = answers[site.name]
            assert sorted(got.get("addresses", [])) == gateways, \
                f"{name}: {server_node.name} ({server}) answers {got} for {site.name}"
        got = answers[unknown]
        assert got.get("rcode") == 3, \
            f"{name}: {server_node.name} does not answer NXDOMAIN inside {stack.domain}: {got}"


def test_other_names_are_forwarded(host, name, node, stack):
    # Docker's resolver knows the containers' names: a name outside the stack's zone.
    for server_node in dns_nodes(stack):
        if server_node.name != name:
            continue
        target = stack.container_name(stack.bastion)
        got = query(host, "127.0.0.1", target)[target]
        assert got.get("rcode") == 0 and got.get("addresses"), \
            f"{name}: unbound does not forward {target} to Docker's resolver: {got}"
    if Role.dns not in node.roles:
        pytest.skip(f"{name} has no dns role")


def test_the_node_resolves_names_through_the_dns_nodes(host, name, node, stack):
    # The node's own resolver (Docker's, which asks the dns nodes): what every program uses.
    dns_nodes(stack)
    if Role.dns in node.roles:
        pytest.skip(f"{name} is a dns node: it asks the engine's resolver, never itself")
    # Docker answers for nodes that share a network with this one (their address there);
    # the dns nodes answer the rest (their home address): either is one of the node's legs.
    for other in stack.nodes:
        fqdn = stack.fqdn(other)
        legs = {leg.address for leg in stack.derived.attachments[other.name]}
        got = host.run(f"getent ahostsv4 {shlex.quote(fqdn)}")
        addresses = {line.split()[0] for line in got.stdout.splitlines()}
        assert got.rc == 0 and addresses and addresses <= legs, \
            f"{name}: its resolver answers {sorted(addresses)} for {fqdn}, " \
            f"none of {other.name}'s addresses {sorted(legs)}"
    gateways = {stack.derived.address[g.name] for g in stack.nodes_with(Role.gateway)}
    for site in stack.derived.sites:
        got = host.run(f"getent ahostsv4 {shlex.quote(site.name)}")
        addresses = {line.split()[0] for line in got.stdout.splitlines()}
        assert got.rc == 0 and addresses == gateways, \
            f"{name}: its resolver answers {sorted(addresses)} for {site.name}, not the gateways"
