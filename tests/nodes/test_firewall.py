"""firewall role: nftables default-deny both ways, flows from the model's reachability matrix
(into the node's zone and out of it), SSH only from the bastion, the outside only from a zone
with egress; and, across nodes and to the outside, what the model forbids is really dropped."""

import ipaddress
import json
import re
import shlex
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from egov.model import PACKAGE_CACHE_PORT

pytestmark = pytest.mark.control("SPBE-33-ZONES")

ROLE = Path(__file__).resolve().parents[2] / "roles" / "firewall"
TABLE = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["firewall__table"]
RULES = f"/etc/nftables.d/{TABLE}.nft"
SSH = 22

# Connects to every target at once from the probing node; a SYN the firewall drops times
# out (between nodes on one engine an answer takes milliseconds), while "refused" means
# the packet got through to a closed port. Only SSH (the first argument) is read, for
# its banner.
PROBE = r"""
import concurrent.futures as cf, json, socket, sys
def probe(target):
    addr, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((addr, int(port)))
        if port != sys.argv[1]:
            return target, "open"
        try:
            return target, "open " + s.recv(32).decode(errors="replace").strip()
        except OSError:
            return target, "open"
    except ConnectionRefusedError:
        return target, "refused"
    except OSError as exc:
        return target, "dropped " + type(exc).__name__
    finally:
        s.close()
with cf.ThreadPoolExecutor(256) as ex:
    print(json.dumps(dict(ex.map(probe, sys.argv[2:]))))
"""


def _nft_json(host, what):
    with host.sudo():
        return json.loads(host.check_output(f"nft -j list {what}"))["nftables"]


@pytest.fixture(scope="module")
def applied(host):
    if not host.file(RULES).exists:
        pytest.fail(f"{host.backend.hostname}: the firewall role is not applied ({RULES} missing)")


def _bridge_gateways(stack, node):
    return {str(stack.zone(a.zone).subnet.network_address + 1)
            for a in stack.derived.attachments[node.name]}


def _ssh_sources(stack, node):
    if node.name == stack.bastion.name:
        return _bridge_gateways(stack, node)
    return {a.address for a in stack.derived.attachments[stack.bastion.name] if a.zone == node.zone}


def _zone_addresses(stack, zone):
    return {a.address for n in stack.nodes if n.zone == zone
            for a in stack.derived.attachments[n.name]}


def _accepts(host, chain="input"):
    """The chain's port rules as {(address set, protocol, port)}: the source set of the input
    chain's rules, the destination set of the output chain's."""
    address = "saddr" if chain == "input" else "daddr"
    found = set()
    for item in _nft_json(host, f"chain inet {TABLE} {chain}"):
        rule = item.get("rule")
        if not rule or not any("accept" in e for e in rule["expr"]):
            continue
        peer, proto, port = None, None, None
        for e in rule["expr"]:
            m = e.get("match")
            if not m or "payload" not in m["left"]:
                continue
            field = m["left"]["payload"]
            if field.get("field") == address:
                peer = m["right"]
            elif field.get("field") == "dport":
                proto, port = field["protocol"], m["right"]
        if port is not None:
            found.add((peer, proto, port))
    return found


def test_nftables_enabled_running_and_files(host, name, applied):
    assert host.package("nftables").is_installed, f"{name}: nftables is not installed"
    svc = host.service("nftables")
    assert svc.is_enabled and svc.is_running, f"{name}: nftables.service not enabled and active"
    for path, mode in ((RULES, 0o640), ("/etc/nftables.conf", 0o755)):
        f = host.file(path)
        assert f.user == "root" and f.mode == mode, f"{name}: {path} is {oct(f.mode)} by {f.user}"
    conf = host.file("/etc/nftables.conf").content_string
    assert "flush ruleset" not in conf.replace('"flush ruleset"', ""), \
        f"{name}: /etc/nftables.conf flushes the whole ruleset"
    stop = host.check_output("systemctl show -p ExecStop nftables")
    assert "flush" not in stop and f"delete table inet {TABLE}" in stop, \
        f"{name}: stopping nftables.service would not just delete {TABLE}: {stop}"


def test_default_deny_both_ways(host, name, applied):
    chains = {c["chain"]["name"]: c["chain"] for c in _nft_json(host, f"table inet {TABLE}")
              if "chain" in c}
    for chain, policy in (("input", "drop"), ("forward", "drop"), ("output", "drop")):
        got = chains.get(chain, {}).get("policy")
        assert got == policy, f"{name}: nft chain {TABLE}/{chain} policy is {got}, not {policy}"


def test_docker_dns_rules_untouched(host, name, stack, applied):
    with host.sudo():
        tables = host.check_output("nft list tables")
    assert f"table inet {TABLE}" in tables, f"{name}: no table inet {TABLE}"
    peer = next((n for n in stack.nodes if n.name != name and n.zone == stack.node(name).zone),
                stack.bastion)
    assert host.run(f"getent hosts {stack.fqdn(peer)}").rc == 0, \
        f"{name}: Docker's embedded DNS no longer answers (tables: {tables.split()})"


def test_rules_follow_the_matrix(host, name, node, stack, applied):
    want = {("@ssh_sources", "tcp", SSH)}
    for src, targets in stack.derived.matrix.items():
        for flow in targets[node.zone]:
            if (flow.port, flow.protocol) != (SSH, "tcp"):
                want.add((f"@zone_{src}", flow.protocol, flow.port))
    published = [p for p in stack.derived.published[name] if p.container_port != SSH]
    want |= {("@docker_host", p.protocol, p.container_port) for p in published}
    got = _accepts(host)
    missing, extra = sorted(want - got, key=str), sorted(got - want, key=str)
    assert got == want, \
        f"{name}: nft input accepts differ from the matrix; missing {missing}, extra {extra}"


def test_output_follows_the_matrix(host, name, node, stack, applied):
    """The node opens connections along the flows out of its zone only; SSH only from the
    bastion, to every node (the matrix's SSH entries open nothing)."""
    want = {(f"@zone_{dst}", flow.protocol, flow.port)
            for dst, flows in stack.derived.matrix[node.zone].items() for flow in flows
            if (flow.port, flow.protocol) != (SSH, "tcp")}
    if name == stack.bastion.name:
        want |= {(f"@zone_{zone.name}", "tcp", SSH) for zone in stack.zones}
    got = _accepts(host, "output")
    missing, extra = sorted(want - got, key=str), sorted(got - want, key=str)
    assert got == want, \
        f"{name}: nft output accepts differ from the matrix; missing {missing}, extra {extra}"


def test_sets_hold_the_right_addresses(host, name, node, stack, applied):
    def elements(set_name) -> list:
        # addresses come as strings, prefixes as {"prefix": {"addr", "len"}}
        s = next(i["set"] for i in _nft_json(host, f"set inet {TABLE} {set_name}") if "set" in i)
        return list(s.get("elem", []))

    assert set(elements("ssh_sources")) == _ssh_sources(stack, node), \
        f"{name}: nft set ssh_sources is {elements('ssh_sources')}"
    for zone in stack.zones:
        got = set(elements(f"zone_{zone.name}"))
        assert got == _zone_addresses(stack, zone.name), \
            f"{name}: nft set zone_{zone.name} is {got}"
    subnets = {f"{e['prefix']['addr']}/{e['prefix']['len']}" if isinstance(e, dict) else e
               for e in elements("stack_subnets")}
    assert subnets == {str(zone.subnet) for zone in stack.zones}, \
        f"{name}: nft set stack_subnets is {subnets}"


def _sockets(listing: str):
    """(protocol, address, port, line) of each socket in the output of `ss -H`."""
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        address, _, port = parts[4].rpartition(":")
        yield parts[0], address.strip("[]").split("%")[0], int(port), " ".join(parts)


def _listening(host) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP and bound UDP socket."""
    return {(p, a, port) for p, a, port, _ in _sockets(host.check_output("ss -ltunH"))}


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _opened(stack, node) -> set[tuple[str, int]]:
    """(protocol, port) the stack opens into the node: its zone's flows, SSH, published."""
    opened = {("tcp", SSH)}
    for targets in stack.derived.matrix.values():
        opened |= {(f.protocol, f.port) for f in targets.get(node.zone, [])}
    opened |= {(p.protocol, p.container_port) for p in stack.derived.published.get(node.name, [])}
    return opened


@pytest.mark.control("SPBE-33-PORTS")
def test_only_ports_the_stack_opens_are_listening(host, name, node, stack, evidence):
    """Unused ports are closed: every socket listening beyond loopback is on a port a flow
    of the stack opens into this node (or SSH, or a port Docker publishes)."""
    opened = _opened(stack, node)
    exposed = {(p, a, port) for p, a, port in _listening(host) if not _loopback(a)}
    unopened = {(p, a, port) for p, a, port in exposed if (p, port) not in opened}
    extra = sorted(f"{p}/{port} on {a or '*'}" for p, a, port in unopened)
    evidence("listening beyond loopback: " + ", ".join(
        sorted({f"{p}/{port}" for p, _, port in exposed})))
    assert not extra, f"{name}: listening on ports no flow of the stack opens: " \
        f"{', '.join(extra)}; their sockets: {_owners(host, {port for _, _, port in unopened})}"


def _owners(host, ports) -> list[str]:
    """The `ss` lines, with the owning processes, of the sockets on `ports` (for a failure)."""
    with host.sudo():
        listing = host.run("ss -ltunpH").stdout
    return [line for _, _, port, line in _sockets(listing) if port in ports]


def _probe_port(stack):
    """A port no flow opens anywhere, probed on every node."""
    used = {f.port for t in stack.derived.matrix.values() for fl in t.values() for f in fl}
    return next(p for p in range(18990, 19990) if p not in used)


def _target_address(stack, src, dst):
    """dst's address as src reaches it directly, or its home address (routed by Docker)."""
    legs = {a.zone: a.address for a in stack.derived.attachments[dst.name]}
    src_zones = {a.zone for a in stack.derived.attachments[src.name]}
    if dst.zone in src_zones:
        return legs[dst.zone], True
    for zone in src_zones:
        if zone in legs:
            return legs[zone], True
    return legs[dst.zone], False


@pytest.mark.slow
@pytest.mark.control("SPBE-33-ZONES", "SPBE-33-DB-INTERMEDIARY")
def test_matrix_is_enforced_between_nodes(node_hosts, stack, evidence):
    """Runs once: from every node, connect to every port every other node listens on
    (TCP), to every port the matrix opens to it from the prober's zone, to SSH and to a
    throwaway port no flow opens; exactly what the matrix (and SSH from the bastion)
    allows gets through (answered or refused), everything else is dropped."""
    hosts = {n.name: node_hosts[n.name] for n in stack.nodes}

    def sockets(host) -> set[int] | None:
        # A node's session starts here: one node at a time would add up to seconds.
        if not host.file(RULES).exists:
            return None
        return {p for proto, a, p in _listening(host) if proto == "tcp" and not _loopback(a)}

    with ThreadPoolExecutor(len(hosts)) as pool:
        found = dict(zip(hosts, pool.map(sockets, hosts.values()), strict=True))
    unapplied = sorted(n for n, ports in found.items() if ports is None)
    if unapplied:
        pytest.fail(f"the firewall role is not applied on {', '.join(unapplied)}")
    # Nothing listens on the throwaway port: a packet the firewall lets through is refused,
    # one it drops times out.
    port = _probe_port(stack)
    listening = {n: ports | {SSH, port} for n, ports in found.items()}
    expected = {}
    for src in stack.nodes:
        expect = expected[src.name] = {}
        for dst in stack.nodes:
            if dst.name == src.name:
                continue
            addr, direct = _target_address(stack, src, dst)
            allowed = {f.port for f in stack.derived.matrix[src.zone][dst.zone]
                       if f.protocol == "tcp" and f.port != SSH}
            for p in sorted(listening[dst.name] | allowed):
                if p == SSH:
                    through = src.name == stack.bastion.name and direct
                elif p in allowed and not direct:
                    continue  # allowed, but no shared network: Docker's routing decides
                else:
                    through = p in allowed
                expect[f"{addr}:{p}"] = (dst.name, through)

    def run(src: str) -> dict:
        probe = f"python3 -c {shlex.quote(PROBE)} {SSH} {' '.join(expected[src])}"
        return json.loads(hosts[src].check_output(probe))

    with ThreadPoolExecutor(len(hosts)) as pool:
        observed = dict(zip(expected, pool.map(run, expected), strict=True))
    failures, counts = [], {"through": 0, "dropped": 0}
    for src, results in observed.items():
        for target, result in results.items():
            dst, should_pass = expected[src][target]
            passed = not result.startswith("dropped")
            counts["through" if passed else "dropped"] += 1
            if passed != should_pass:
                failures.append(f"{src} -> {dst} ({target}): {result}, "
                                f"the matrix says {'through' if should_pass else 'dropped'}")
            elif should_pass and target.endswith(f":{SSH}") and "SSH-2.0" not in result:
                failures.append(f"{src} -> {dst} ({target}): no SSH banner ({result})")
    evidence(f"{counts['through'] + counts['dropped']} probes between {len(hosts)} nodes: "
             f"{counts['through']} through, {counts['dropped']} dropped; "
             f"{len(failures)} differ from the matrix")
    assert not failures, "firewall matrix violations:\n" + "\n".join(failures)


# --- Egress: the outside is reached from a zone with egress only ---------------------------

# Run as root on the node: a UDP datagram and a TCP connection to an address outside the
# stack. A datagram the node's own firewall drops fails at once with EPERM, whatever lies
# beyond. A node with no route out at all (a Docker `internal` network) is lent a host route
# through its zone's router for the probe, so that its firewall, not the missing route, is
# what answers; the route is removed again before the probe ends.
EGRESS_PROBE = r"""
import errno, json, socket, subprocess, sys
addr, port, router = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def why(exc):
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
lent = subprocess.run(["ip", "route", "get", addr], capture_output=True).returncode != 0
if lent:
    subprocess.run(["ip", "route", "add", addr + "/32", "via", router], check=True)
out = {"route": "lent through " + router if lent else "the node's own"}
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"egov egress probe", (addr, port))
        out["udp"] = "sent"
    except OSError as exc:
        out["udp"] = why(exc)
    finally:
        u.close()
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((addr, port))
        out["tcp"] = "open"
    except ConnectionRefusedError:
        out["tcp"] = "refused"
    except OSError as exc:
        out["tcp"] = "not connected (" + why(exc) + ")"
    finally:
        s.close()
finally:
    if lent:
        subprocess.run(["ip", "route", "del", addr + "/32", "via", router])
print(json.dumps(out))
"""

# A rule of the output chain that lets a node reach the outside.
EGRESS_RULE = re.compile(r"^\s*ip daddr != @stack_subnets accept\b", re.M)
# What may stand in an accept rule of a zone without egress: loopback, replies, ICMP
# essentials, or a destination set inside the stack.
INSIDE = re.compile(r'oif "lo"|ct state|icmpv6 type|icmp type|ip daddr @(zone_\S+|stack_subnets) ')


def _control_address(stack) -> str:
    """An IPv4 address of this machine (the control machine) outside every subnet of the
    stack: the source of its default route, which the nodes reach through their router."""
    subnets = [zone.subnet for zone in stack.zones]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: connecting a UDP socket sends nothing
        address = probe.getsockname()[0]
    except OSError as exc:
        pytest.fail(f"the control machine has no default route to take an outside address "
                    f"from: {exc}")
    finally:
        probe.close()
    if any(ipaddress.ip_address(address) in net for net in subnets) or address.startswith("127."):
        pytest.fail(f"the control machine's address {address} is not outside the stack")
    return address


@pytest.fixture(scope="session")
def outside(stack):
    """(address, port) of a TCP listener on the control machine, outside the stack: a node
    that reaches it is "open", one that does not times out or is refused by its firewall."""
    server = socket.create_server((_control_address(stack), 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    stop.set()
    thread.join(5)
    server.close()


def test_output_reaches_the_outside_only_with_egress(host, name, node, stack, applied):
    """The loaded output chain: the outside is accepted for a zone with egress; for a zone
    without, every accept names loopback, a reply, ICMP or a destination inside the stack."""
    egress = stack.zone(node.zone).egress
    with host.sudo():
        chain = host.check_output(f"nft list chain inet {TABLE} output")
    assert bool(EGRESS_RULE.search(chain)) == egress, \
        f"{name}: zone {node.zone} {'has' if egress else 'has no'} egress, yet the output " \
        f"chain {'lacks' if egress else 'has'} the rule to the outside:\n{chain}"
    if not egress:
        loose = [line.strip() for line in chain.splitlines()
                 if re.search(r"\baccept\b", line) and not INSIDE.search(line)]
        assert not loose, f"{name}: zone {node.zone} has no egress, yet its output chain " \
            f"accepts beyond the stack: {loose}"


@pytest.mark.slow
@pytest.mark.control("SPBE-33-ZONES")
def test_egress_as_the_zone_says(host, name, node, stack, outside, evidence, applied):
    """A node of a zone without egress cannot open a connection to an address outside the
    stack (its firewall refuses the packet itself); a node of a zone with egress can (a
    listener on the control machine answers)."""
    address, port = outside
    egress = stack.zone(node.zone).egress
    router = str(stack.zone(node.zone).router)
    with host.sudo():
        res = host.run(f"python3 -c {shlex.quote(EGRESS_PROBE)} {address} {port} {router}")
    assert res.rc == 0, f"{name}: the egress probe failed: {res.stderr.strip()[-300:]}"
    got = json.loads(res.stdout)
    evidence(f"zone {node.zone} ({'egress' if egress else 'no egress'}) to {address}:{port} "
             f"(route {got['route']}): TCP {got['tcp']}, UDP {got['udp']}")
    if egress:
        assert got["udp"] == "sent" and got["tcp"] == "open", \
            f"{name}: zone {node.zone} has egress, yet {address}:{port} on the control " \
            f"machine is out of reach (route {got['route']}): TCP {got['tcp']}, UDP " \
            f"{got['udp']} (does the control machine's own firewall drop it?)"
    else:
        assert got["udp"] == "EPERM", \
            f"{name}: zone {node.zone} has no egress, yet its firewall let a datagram to " \
            f"{address} leave ({got['udp']}, route {got['route']})"
        assert got["tcp"] not in ("open", "refused"), \
            f"{name}: zone {node.zone} has no egress, yet it reached {address}:{port} " \
            f"({got['tcp']})"


@pytest.mark.slow
def test_a_node_without_egress_installs_through_the_cache(host, name, node, stack, evidence):
    """Without egress, apt still fetches the package indexes, through the stack's cache."""
    if stack.zone(node.zone).egress:
        pytest.skip(f"{name}: zone {node.zone} has egress")
    caches = stack.derived.package_caches[name]
    if not caches:
        pytest.skip(f"stack {stack.name} has no package cache: {name} installs only what "
                    f"its image carries")
    proxy = f"http://{caches[0]}:{PACKAGE_CACHE_PORT}"
    conf = host.file("/etc/apt/apt.conf.d/01egov-package-cache").content_string
    assert f'Proxy "{proxy}"' in conf, f"{name}: apt does not go through {proxy}: {conf}"
    with host.sudo():
        res = host.run("apt-get update --error-on=any")
    evidence(f"apt-get update through {proxy}: exit {res.rc}")
    assert res.rc == 0, f"{name}: apt-get update through {proxy} fails: " \
        f"{(res.stdout + res.stderr).strip()[-500:]}"
