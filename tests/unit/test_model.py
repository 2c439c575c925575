"""The stack model on valid stacks: the lab stack and small variants of it, no Docker."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml

from egov.model import (
    LABEL_STACK,
    Published,
    Role,
    Stack,
    StackError,
    load_stack,
    memory_bytes,
    parse_stack,
)

ROOT = Path(__file__).resolve().parents[2]
LAB_DOC = yaml.safe_load((ROOT / "stacks" / "Pulumi.lab.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lab() -> Stack:
    return load_stack(ROOT, "lab")


def lab_config() -> dict:
    return copy.deepcopy(LAB_DOC["config"])


def parse(config: dict) -> Stack:
    return parse_stack({"config": config}, name="lab", file="stacks/Pulumi.lab.yaml")


def node_entry(config: dict, name: str) -> dict:
    return next(n for n in config["egov-dc:nodes"] if n["name"] == name)


def test_lab_loads(lab):
    assert lab.name == "lab"
    assert lab.file == "stacks/Pulumi.lab.yaml"
    assert lab.environment == "lab"
    assert [z.name for z in lab.zones] == ["mgmt", "dmz", "app", "data", "idm"]
    assert lab.bastion.name == "bastion"
    assert lab.management_zone.name == "mgmt"
    assert [n.name for n in lab.nodes_with(Role.app)] == ["app1", "app2"]


def test_names_labels_and_host_names(lab):
    node = lab.node("database")
    assert lab.container_name(node) == "lab-database"
    assert lab.network_name("data") == "lab-data"
    assert lab.volume_name(node, "pgdata") == "lab-database-pgdata"
    assert lab.fqdn(node) == "database.lab.bengkulukota.go.id"
    assert lab.labels(node="database") == {
        LABEL_STACK: "lab", f"{LABEL_STACK.rsplit('.', 1)[0]}.node": "database"}
    assert memory_bytes(node.memory) == 1024**3
    assert memory_bytes("256m") == 256 * 1024**2


def test_addresses_are_deterministic(lab):
    again = load_stack(ROOT, "lab")
    assert again.derived.address == lab.derived.address
    assert again.derived.attachments == lab.derived.attachments


def test_auto_addresses_start_at_ten_in_file_order(lab):
    assert lab.derived.address == {
        "bastion": "10.210.0.10", "monitoring": "10.210.0.11", "backup": "10.210.0.12",
        "gateway": "10.210.1.10", "app1": "10.210.2.10", "app2": "10.210.2.11",
        "database": "10.210.3.10", "identity": "10.210.4.10",
    }


def test_auto_allocation_skips_explicit_addresses():
    config = lab_config()
    node_entry(config, "app2")["address"] = "10.210.2.10"
    node_entry(config, "backup")["address"] = "10.210.0.2"
    s = parse(config)
    assert s.derived.address["app2"] == "10.210.2.10"
    assert s.derived.address["app1"] == "10.210.2.11"
    assert s.derived.address["backup"] == "10.210.0.2"
    assert s.derived.address["bastion"] == "10.210.0.10"
    assert s.derived.address["monitoring"] == "10.210.0.11"


def test_every_address_is_unique_and_inside_its_zone(lab):
    seen: dict[str, set[str]] = {}
    for node in lab.nodes:
        for leg in lab.derived.attachments[node.name]:
            subnet = lab.zone(leg.zone).subnet
            addr = ipaddress.IPv4Address(leg.address)
            assert addr in subnet
            assert addr not in (subnet.network_address, subnet.network_address + 1,
                                subnet.broadcast_address)
            assert leg.address not in seen.setdefault(leg.zone, set()), leg
            seen[leg.zone].add(leg.address)


def test_management_nodes_have_a_leg_in_every_zone(lab):
    every = [z.name for z in lab.zones]
    for name in ("bastion", "monitoring", "backup"):
        legs = lab.derived.attachments[name]
        assert [a.zone for a in legs] == every
        assert legs[0].address == lab.derived.address[name]
        assert all(a.network == f"lab-{a.zone}" for a in legs)


def test_other_nodes_join_their_zone_and_the_zones_they_open_flows_to(lab):
    zones = {n: [a.zone for a in legs] for n, legs in lab.derived.attachments.items()}
    assert zones["gateway"] == ["dmz", "app", "idm"]
    assert zones["app1"] == zones["app2"] == ["app", "data", "idm"]
    assert zones["database"] == ["data"]
    assert zones["identity"] == ["idm"]
    # The same rule, stated from the matrix: own zone, then every other non-management
    # zone this node's zone may open a port in.
    mgmt = lab.management_zone.name
    for node in lab.nodes:
        if node.zone == mgmt:
            continue
        reach = [t for t, allowed in lab.derived.matrix[node.zone].items()
                 if allowed and t not in (node.zone, mgmt)]
        assert zones[node.name] == [node.zone, *reach]


def test_every_node_asks_the_dns_nodes_in_its_own_zone(lab):
    dns = lab.nodes_with(Role.dns)
    assert [n.name for n in dns] == ["monitoring"]
    assert lab.derived.resolvers["monitoring"] == []  # the engine's resolver, never itself
    for node in lab.nodes:
        if node.name == "monitoring":
            continue
        [server] = lab.derived.resolvers[node.name]
        leg = next(a for a in lab.derived.attachments["monitoring"] if a.address == server)
        assert leg.zone == node.zone, (node.name, server)


def test_a_stack_without_dns_nodes_keeps_the_engines_resolver():
    config = lab_config()
    for node in config["egov-dc:nodes"]:
        node["roles"] = [r for r in node["roles"] if r != "dns"]
    s = parse(config)
    assert all(servers == [] for servers in s.derived.resolvers.values())


def test_flows_into_management_add_no_leg():
    config = lab_config()
    config.pop("egov-dc:services")  # their ports need the flows removed here
    config["egov-dc:flows"] = [
        {"from": "data", "to": "mgmt", "ports": [514], "purpose": "logs"},
    ]
    s = parse(config)
    assert [a.zone for a in s.derived.attachments["database"]] == ["data"]
    assert any(a.port == 514 for a in s.derived.matrix["data"]["mgmt"])


def test_matrix_has_ssh_from_the_bastion_zone_to_every_zone(lab):
    for zone in lab.zones:
        assert any(a.port == 22 and a.protocol == "tcp"
                   for a in lab.derived.matrix["mgmt"][zone.name]), zone.name
    # No other zone gets SSH that no flow gave it.
    for src in ("dmz", "app", "data", "idm"):
        for dst, allowed in lab.derived.matrix[src].items():
            assert 22 not in [a.port for a in allowed], (src, dst)


def test_matrix_holds_the_declared_flows(lab):
    m = lab.derived.matrix
    assert [a.port for a in m["dmz"]["app"]] == [8000, 8001, 8002, 8003, 8004]
    assert [a.port for a in m["app"]["data"]] == [5432]
    assert [(a.port, a.protocol) for a in m["app"]["mgmt"]] == [
        (53, "udp"), (123, "udp"), (53, "tcp"), (6514, "tcp")]
    assert m["data"]["app"] == []
    assert m["dmz"]["data"] == []


def test_ssh_goes_through_the_bastion(lab):
    assert lab.ssh_path("bastion") == ["bastion"]
    for node in lab.nodes:
        if node.name != "bastion":
            assert lab.ssh_path(node) == ["bastion", node.name]
    assert lab.ssh_endpoint("bastion") == ("127.0.0.1", 2222)
    assert lab.ssh_endpoint("app1") == ("10.210.2.10", 22)
    assert lab.ssh_endpoint(lab.node("database")) == ("10.210.3.10", 22)


def test_published_ports(lab):
    published = lab.derived.published
    assert published["bastion"] == [Published("127.0.0.1", 2222, 22)]
    assert published["gateway"] == [Published("127.0.0.1", 8080, 80),
                                    Published("127.0.0.1", 8443, 443)]
    assert all(published[n.name] == [] for n in lab.nodes
               if n.name not in ("bastion", "gateway"))


def test_same_ports_on_two_docker_hosts_do_not_clash():
    config = lab_config()
    config["egov-dc:dockerHosts"].append(
        {"name": "edge", "url": "ssh://admin@edge", "publicAddress": "192.0.2.10"})
    for entry in config["egov-dc:nodes"]:
        entry["host"] = "local"
    node_entry(config, "gateway")["host"] = "edge"
    config["egov-dc:gateway"] = {"httpPort": 2222, "httpsPort": 8443}
    s = parse(config)
    assert s.derived.published["gateway"][0] == Published("192.0.2.10", 2222, 80)
    assert s.ssh_endpoint("bastion") == ("127.0.0.1", 2222)


def test_missing_stack_file_names_the_known_stacks(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.lab.yaml").write_text("config: {}\n")
    with pytest.raises(StackError) as caught:
        load_stack(tmp_path, "prod")
    assert caught.value.render() == (
        "stacks/Pulumi.prod.yaml: (file): no such stack file\n"
        "  fix: use one of the stacks lab, or create stacks/Pulumi.prod.yaml")


def test_stack_name_must_be_dns_safe():
    with pytest.raises(StackError) as caught:
        load_stack(ROOT, "../lab")
    assert caught.value.problems[0].path == "(stack name)"


def test_the_state_paths_the_model_keeps_on_volumes_are_the_roles_own():
    from egov.model import ROLE_STATE
    from egov.paths import role_defaults, role_vars

    roles = {
        Role.pki: role_defaults("pki")["pki__ca_dir"],
        Role.backup: role_defaults("backup")["backup__repository"],
        Role.directory: role_vars("directory")["__directory_data_dir"],
        # the data folder is <this>/<version>/<cluster>
        Role.database: role_vars("database")["database__data_dir"].split("/{{")[0],
        Role.package_cache: role_defaults("package_cache")["package_cache__dir"],
    }
    assert ROLE_STATE == roles, f"model {ROLE_STATE} != roles {roles}"
