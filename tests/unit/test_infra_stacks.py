"""The Pulumi program of every stack, run under Pulumi's mock runtime (no CLI, no Docker).

The program runs once per stack (module fixture); each test reads what it registered and
compares it with the stack model, naming the stack and resource that differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.model import LABEL_NODE, LABEL_ROLE, LABEL_STACK, LABEL_ZONE, Role, load_stack
from egov.node_roles import node_roles
from egov.plan import (
    CONTAINER,
    IMAGE,
    NETWORK,
    PROVIDER,
    VOLUME,
    ProgramRun,
    check_policies,
    run_program,
)

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("lab", "staging", "prod")


@pytest.fixture(scope="module", params=STACKS)
def planned(request):
    stack = load_stack(ROOT, request.param)
    return stack, run_program(ROOT, request.param)


def containers(run: ProgramRun) -> dict[str, dict]:
    return {r.props["name"]: r for r in run.of_type(CONTAINER)}


def test_resource_counts_follow_the_model(planned):
    stack, run = planned
    d = stack.derived
    hosts = {stack.docker_host(n).name for n in stack.nodes}
    zones_per_host = {h: {a.zone for n in stack.nodes if stack.docker_host(n).name == h
                          for a in d.attachments[n.name]} for h in hosts}
    # per host: the node image, and a role image per set of roles with packages to bake
    kinds = {h: {frozenset(r for r in n.roles if node_roles()[r].bake) for n in stack.nodes
                 if stack.docker_host(n).name == h} - {frozenset()} for h in hosts}
    images_count = sum(1 + len(k) for k in kinds.values())
    expected = {
        CONTAINER: len(stack.nodes),
        NETWORK: sum(len(z) for z in zones_per_host.values()),
        VOLUME: sum(len(n.volumes) for n in stack.nodes),
        IMAGE: images_count,
        PROVIDER: len(hosts),
        "egov:node:Node": len(stack.nodes),
        "egov:zone:ZoneNetwork": sum(len(z) for z in zones_per_host.values()),
        "egov:image:NodeImage": images_count,
        "egov:datacentre:DataCentre": 1,
    }
    got = {t: len(run.of_type(t)) for t in expected}
    assert got == expected, f"stack {stack.name}: resource counts differ from the model"


def test_one_provider_per_docker_host(planned):
    stack, run = planned
    providers = {r.urn: r.props["host"] for r in run.of_type(PROVIDER)}
    assert sorted(providers.values()) == sorted(
        {stack.docker_host(n).url for n in stack.nodes}), f"stack {stack.name}: providers"
    for r in run.resources:
        if r.custom and r.type != PROVIDER:
            assert r.provider in providers, f"{r.urn} has no Docker host provider"
    for c in containers(run).values():
        node = stack.node(c.props["hostname"])
        assert providers[c.provider] == stack.docker_host(node).url, \
            f"{c.urn}: runs on the wrong Docker host"


def test_every_resource_has_a_parent_and_a_prefixed_name(planned):
    stack, run = planned
    by_urn = {r.urn: r for r in run.resources}
    for r in run.resources:
        if r.type == "egov:datacentre:DataCentre":
            assert r.name == stack.name
            continue
        parent = by_urn.get(r.parent)
        assert parent is not None, f"{r.urn} has no component parent"
        assert r.name.startswith(f"{parent.name}-"), f"{r.urn}: not named after {parent.name}"
    for r in run.resources:
        if not r.custom:
            assert r.type.startswith("egov:"), f"{r.urn}: component type token"


def test_addresses_and_networks_per_container(planned):
    stack, run = planned
    d = stack.derived
    got = containers(run)
    for node in stack.nodes:
        c = got[stack.container_name(node)]
        legs = [(e["name"], e["ipv4Address"]) for e in c.props["networksAdvanced"]]
        want = [(a.network, a.address) for a in d.attachments[node.name]]
        assert legs == want, f"{c.urn}: networks/addresses {legs}, model says {want}"
        assert c.props["networkMode"] == stack.network_name(node.zone), \
            f"{c.urn}: must start on its home network, not Docker's default bridge"
        # Only the home zone and the zones its zone may open connections to.
        mgmt = stack.management_zone.name
        allowed = ({z.name for z in stack.zones} if node.zone == mgmt else
                   {node.zone} | {t for t, ports in d.matrix[node.zone].items() if ports})
        zones = {e["name"].removeprefix(f"{stack.name}-") for e in c.props["networksAdvanced"]}
        assert zones <= allowed, f"{c.urn}: on zones {zones - allowed} its zone does not reach"
        assert c.props["hostname"] == node.name and c.props["domainname"] == stack.domain


def test_networks_match_the_zones(planned):
    stack, run = planned
    for r in run.of_type(NETWORK):
        zone = stack.zone(r.props["name"].removeprefix(f"{stack.name}-"))
        host_url = run.docker_host_url(r)
        host = next(h for h in stack.docker_hosts if h.url == host_url)
        ipam = r.props["ipamConfigs"][0]
        assert ipam["subnet"] == str(zone.subnet), f"{r.urn}: subnet"
        assert ipam["gateway"] == str(zone.subnet.network_address + 1), f"{r.urn}: gateway"
        assert r.props["driver"] == host.network_driver, f"{r.urn}: driver"
        # macvlan zones are never internal: the firewalls keep a zone without egress in
        assert r.props["internal"] == (not zone.egress and host.network_driver == "bridge"), \
            f"{r.urn}: internal"
        if host.network_driver == "macvlan":
            assert r.props["options"] == {"parent": f"{host.parent_interface}.{zone.vlan}"}, \
                f"{r.urn}: macvlan parent must be the zone's VLAN on the trunk"


def test_no_forbidden_published_ports(planned):
    stack, run = planned
    for c in containers(run).values():
        node = stack.node(c.props["hostname"])
        ports = {(p["internal"], p["external"], p["ip"]) for p in c.props.get("ports") or []}
        host_ip = str(stack.docker_host(node).public_address)
        want = set()
        if Role.bastion in node.roles:
            want.add((22, stack.access.bastion_port, host_ip))
        if Role.gateway in node.roles:
            want |= {(80, stack.gateway.http_port, host_ip), (443, stack.gateway.https_port,
                                                             host_ip)}
        assert ports == want, f"{c.urn}: publishes {ports}, only {want or 'nothing'} allowed"


def test_limits_labels_and_systemd_settings(planned):
    stack, run = planned
    for c in containers(run).values():
        node = stack.node(c.props["hostname"])
        p = c.props
        where = f"{c.urn} (stack {stack.name}, node {node.name})"
        assert p["memory"] > 0, f"{where}: no memory limit"
        assert p["memory"] * 1024 * 1024 == {"k": 1024, "m": 1024**2, "g": 1024**3}[
            node.memory[-1]] * int(node.memory[:-1]), f"{where}: memory limit"
        assert float(p["cpus"]) == node.cpus, f"{where}: cpus"
        labels = {lb["label"]: lb["value"] for lb in p["labels"]}
        assert labels[LABEL_STACK] == stack.name, f"{where}: stack label"
        assert labels[LABEL_NODE] == node.name, f"{where}: node label"
        assert labels[LABEL_ZONE] == node.zone, f"{where}: zone label"
        assert labels[LABEL_ROLE] == ",".join(r.value for r in node.roles), f"{where}: roles"
        assert p["privileged"] is False, f"{where}: privileged"
        assert p["restart"] == "unless-stopped", f"{where}: restart policy"
        assert p["stopSignal"] == "SIGRTMIN+3", f"{where}: systemd stops on SIGRTMIN+3"
        assert {"/run", "/run/lock"} <= set(p["tmpfs"]), f"{where}: tmpfs for systemd"
        for tmp in ("/tmp", "/var/tmp"):
            assert {"nosuid", "nodev", "noexec"} <= set(p["tmpfs"].get(tmp, "").split(",")), \
                f"{where}: {tmp} is not a nosuid, nodev, noexec tmpfs"
        sysctls = p.get("sysctls") or {}
        assert sysctls.get("net.ipv4.conf.all.rp_filter") == "1" \
            and sysctls.get("net.ipv4.conf.all.accept_redirects") == "0", \
            f"{where}: the network namespace's hardening settings are not set"
        assert not any(k.endswith("forwarding") for k in sysctls), \
            f"{where}: forwarding is Docker's"
        assert {"hostPath": "/sys/fs/cgroup", "containerPath": "/sys/fs/cgroup",
                "readOnly": True} in p["volumes"], f"{where}: cgroup bind read-only"
        mounts = {v["volumeName"]: v["containerPath"] for v in p["volumes"] if "volumeName" in v}
        want = {stack.volume_name(node, v): path for v, path in node.volumes.items()}
        assert mounts == want, f"{where}: volumes {mounts}, model says {want}"
    for r in run.of_type(NETWORK) + run.of_type(VOLUME):
        labels = {lb["label"]: lb["value"] for lb in r.props["labels"]}
        assert labels.get(LABEL_STACK) == stack.name, f"{r.urn}: stack label"


def test_images_are_built_locally_from_the_rendered_context(planned):
    stack, run = planned
    for r in run.of_type(IMAGE):
        assert r.props["skipPush"] is True, f"{r.urn}: must not push (no registry)"
        assert "registry" not in r.props, f"{r.urn}: no registry"
        assert (Path(r.props["build"]["context"]) / "Dockerfile").is_file(), \
            f"{r.urn}: build context not written"
    names = {r.props["imageName"] for r in run.of_type(IMAGE)}
    for c in run.of_type(CONTAINER):
        assert c.props["image"] in names, f"{c.urn}: image is not the planned node image"


def test_exports_what_the_inventory_needs(planned):
    stack, run = planned
    nodes = run.outputs["nodes"]
    assert set(nodes) == {n.name for n in stack.nodes}
    for n in stack.nodes:
        assert nodes[n.name]["address"] == stack.derived.address[n.name], n.name
        assert nodes[n.name]["container"] == stack.container_name(n), n.name
    host, port = stack.ssh_endpoint(stack.bastion)
    bastion = run.outputs["bastion"]
    assert (bastion["host"], int(bastion["port"])) == (host, port)
    assert bastion["user"] == stack.access.admin_user


def test_every_stack_passes_the_mandatory_policies(planned):
    stack, run = planned
    violations = check_policies(stack, run)
    assert not violations, "\n".join(str(v) for v in violations)


def test_prod_describes_the_real_data_centre():
    stack = load_stack(ROOT, "prod")
    assert len(stack.docker_hosts) >= 3
    assert all(h.url.startswith("ssh://") and h.network_driver == "macvlan"
               and h.parent_interface for h in stack.docker_hosts)
    assert {z.purpose.value for z in stack.zones} == {
        "management", "dmz", "application", "data", "identity"}
    assert all(z.vlan for z in stack.zones)
    for role in (Role.gateway, Role.app):
        nodes = stack.nodes_with(role)
        assert len({stack.docker_host(n).name for n in nodes}) >= 2, \
            f"{role.value} nodes must run on at least two Docker hosts"
    services = {s.name: s.relation.value for s in stack.services}
    assert services == {"slawe": "G2C", "sipanse": "G2B", "spcp": "G2G", "eabsen": "G2E"}
    # Room for more: gateway-to-app ports beyond those the four services use.
    open_ports = {a.port for a in stack.derived.matrix["dmz"]["app"]}
    assert len(open_ports - {s.port for s in stack.services}) >= 4
    lab = load_stack(ROOT, "lab")
    assert not {str(z.subnet) for z in lab.zones} & {str(z.subnet) for z in stack.zones}
