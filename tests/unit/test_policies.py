"""Each mandatory policy: an input that passes and one that fails, naming the URN.

Inputs are written by hand in the wire form the policy engine sees (camelCase properties),
for nodes of the lab stack; the last tests run the rules through pulumi-policy's own
StackValidationPolicy objects and over a deliberately altered planned lab.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from egov.model import LABEL_NODE, LABEL_ROLE, LABEL_STACK, LABEL_ZONE, load_stack

ROOT = Path(__file__).resolve().parents[2]
# `infra` (program, components, policy pack) is a package of the project tree, not installed.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.policy import policies  # noqa: E402
from infra.policy.policies import CONTAINER, NETWORK, VOLUME, Allowed, Resource  # noqa: E402


@pytest.fixture(scope="module")
def lab():
    return load_stack(ROOT, "lab")


@pytest.fixture(scope="module")
def allowed(lab):
    return Allowed.from_stack(lab)


def urn(kind: str, name: str) -> str:
    return f"urn:pulumi:lab::egov-dc::egov:node:Node${kind}::{name}"


def container(lab, node_name: str, **changes) -> Resource:
    """A container of the lab as the program plans it, with `changes` to its properties."""
    node, d = lab.node(node_name), lab.derived
    props = {
        "name": lab.container_name(node),
        "networkMode": lab.network_name(node.zone),
        "networksAdvanced": [{"name": a.network, "ipv4Address": a.address}
                             for a in d.attachments[node.name]],
        "ports": [{"ip": p.host_ip, "external": p.host_port, "internal": p.container_port,
                   "protocol": p.protocol} for p in d.published[node.name]],
        "memory": 256,
        "privileged": False,
        "labels": [{"label": k, "value": v} for k, v in {
            LABEL_STACK: "lab", LABEL_NODE: node.name, LABEL_ZONE: node.zone,
            LABEL_ROLE: ",".join(r.value for r in node.roles)}.items()],
        "volumes": [{"volumeName": lab.volume_name(node, v), "containerPath": path}
                    for v, path in node.volumes.items()]
        + [{"hostPath": "/sys/fs/cgroup", "containerPath": "/sys/fs/cgroup", "readOnly": True}],
    }
    props.update(changes)
    return Resource(urn(CONTAINER, f"lab-{node_name}-container"), CONTAINER,
                    f"lab-{node_name}-container", props)


def volumes(lab, node_name: str) -> list[Resource]:
    node = lab.node(node_name)
    return [Resource(urn(VOLUME, f"lab-{node_name}-{v}"), VOLUME, f"lab-{node_name}-{v}",
                     {"name": lab.volume_name(node, v),
                      "labels": [{"label": LABEL_STACK, "value": "lab"}]})
            for v in node.volumes]


def only(violations, policy):
    assert violations, f"{policy}: the failing input passed"
    assert {v.policy for v in violations} == {policy}
    return violations


# ---- published ports --------------------------------------------------------------------


def test_published_ports_pass_for_gateway_and_bastion(lab, allowed):
    rs = [container(lab, "gateway"), container(lab, "bastion"), container(lab, "app1")]
    assert policies.published_ports(rs, allowed) == []


def test_published_port_on_an_app_node_fails(lab, allowed):
    bad = container(lab, "app1", ports=[{"ip": "127.0.0.1", "external": 8000, "internal": 8000,
                                         "protocol": "tcp"}])
    (v,) = only(policies.published_ports([bad], allowed), "published-ports")
    assert v.urn == bad.urn and "8000" in v.message and bad.urn in str(v)


def test_gateway_publishing_another_port_fails(lab, allowed):
    gw = container(lab, "gateway")
    bad = container(lab, "gateway", ports=[*gw.props["ports"], {
        "ip": "127.0.0.1", "external": 2375, "internal": 2375, "protocol": "tcp"}])
    (v,) = only(policies.published_ports([bad], allowed), "published-ports")
    assert "2375" in v.message and v.urn == bad.urn


def test_publish_all_ports_fails(lab, allowed):
    bad = container(lab, "database", publishAllPorts=True)
    only(policies.published_ports([bad], allowed), "published-ports")


# ---- privileges -------------------------------------------------------------------------


def test_unprivileged_container_passes(lab, allowed):
    assert policies.no_privileged([container(lab, "app1")], allowed) == []


def test_privileged_container_fails(lab, allowed):
    bad = container(lab, "app1", privileged=True)
    (v,) = only(policies.no_privileged([bad], allowed), "no-privileged")
    assert v.urn == bad.urn and "privileged" in v.message


def test_sys_admin_capability_fails(lab, allowed):
    bad = container(lab, "app1", capabilities={"adds": ["SYS_ADMIN"]})
    (v,) = only(policies.no_privileged([bad], allowed), "no-privileged")
    assert "SYS_ADMIN" in v.message


# ---- memory -----------------------------------------------------------------------------


def test_memory_limit_passes(lab, allowed):
    assert policies.memory_limit([container(lab, "database")], allowed) == []


@pytest.mark.parametrize("memory", [None, 0])
def test_missing_memory_limit_fails(lab, allowed, memory):
    bad = container(lab, "database", memory=memory)
    (v,) = only(policies.memory_limit([bad], allowed), "memory-limit")
    assert v.urn == bad.urn


# ---- labels -----------------------------------------------------------------------------


def test_required_labels_pass(lab, allowed):
    net = Resource(urn(NETWORK, "lab-local-app-network"), NETWORK, "lab-local-app-network",
                   {"name": "lab-app", "labels": [{"label": LABEL_STACK, "value": "lab"}]})
    assert policies.required_labels([container(lab, "app1"), net, *volumes(lab, "database")],
                                     allowed) == []


def test_missing_zone_label_fails(lab, allowed):
    good = container(lab, "app1")
    bad = container(lab, "app1", labels=[lb for lb in good.props["labels"]
                                         if lb["label"] != LABEL_ZONE])
    (v,) = only(policies.required_labels([bad], allowed), "required-labels")
    assert LABEL_ZONE in v.message and v.urn == bad.urn


def test_wrong_stack_label_fails(lab, allowed):
    bad = container(lab, "app1", labels=[{"label": LABEL_STACK, "value": "prod"},
                                         *container(lab, "app1").props["labels"][1:]])
    (v,) = only(policies.required_labels([bad], allowed), "required-labels")
    assert "'prod'" in v.message


def test_unlabelled_network_fails(lab, allowed):
    net = Resource(urn(NETWORK, "lab-local-app-network"), NETWORK, "lab-local-app-network",
                   {"name": "lab-app", "labels": []})
    (v,) = only(policies.required_labels([net], allowed), "required-labels")
    assert v.urn == net.urn


# ---- zone networks ----------------------------------------------------------------------


def test_zone_networks_pass(lab, allowed):
    rs = [container(lab, n.name) for n in lab.nodes]
    assert policies.zone_networks(rs, allowed) == []


def test_database_on_the_dmz_fails(lab, allowed):
    good = container(lab, "database")
    bad = container(lab, "database", networksAdvanced=[
        *good.props["networksAdvanced"], {"name": "lab-dmz", "ipv4Address": "10.210.1.99"}])
    (v,) = only(policies.zone_networks([bad], allowed), "zone-networks")
    assert "'lab-dmz'" in v.message and v.urn == bad.urn


def test_default_bridge_fails(lab, allowed):
    bad = container(lab, "app1", networkMode="bridge")
    (v,) = only(policies.zone_networks([bad], allowed), "zone-networks")
    assert "'bridge'" in v.message


def test_wrong_address_fails(lab, allowed):
    bad = container(lab, "app1", networksAdvanced=[{"name": "lab-app",
                                                    "ipv4Address": "10.210.2.99"}])
    (v,) = only(policies.zone_networks([bad], allowed), "zone-networks")
    assert "10.210.2.99" in v.message


def test_container_that_is_no_node_fails(lab, allowed):
    bad = container(lab, "app1", name="lab-intruder")
    (v,) = only(policies.zone_networks([bad], allowed), "zone-networks")
    assert "not a node" in v.message


# ---- stateful volumes -------------------------------------------------------------------


def test_stateful_volumes_pass(lab, allowed):
    rs = [container(lab, "database"), *volumes(lab, "database"), container(lab, "app1")]
    assert policies.stateful_volumes(rs, allowed) == []


def test_unmounted_volume_fails(lab, allowed):
    bad = container(lab, "database", volumes=[])
    (v,) = only(policies.stateful_volumes([bad, *volumes(lab, "database")], allowed),
                "stateful-volumes")
    assert "lab-database-pgdata" in v.message and v.urn == bad.urn


def test_volume_not_planned_fails(lab, allowed):
    (v,) = only(policies.stateful_volumes([container(lab, "database")], allowed),
                "stateful-volumes")
    assert "not planned" in v.message


# ---- the rules as pulumi-policy policies, and over a planned stack -----------------------


def test_pulumi_policies_report_the_urn(lab, allowed):
    from pulumi_policy import EnforcementLevel, PolicyResource, StackValidationArgs

    bad = container(lab, "app1", privileged=True)
    args = StackValidationArgs([PolicyResource(bad.type, bad.props, bad.urn, bad.name, None,
                                               None, None, [], {})])
    reported = []
    packs = {p.name: p for p in policies.pulumi_policies(lambda stack: allowed)}
    assert set(packs) == set(policies.RULES)
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in packs.values())
    packs["no-privileged"].validate(args, lambda message, urn: reported.append((urn, message)))
    assert reported and reported[0][0] == bad.urn
    reported.clear()
    packs["memory-limit"].validate(args, lambda message, urn: reported.append((urn, message)))
    assert reported == []


def test_policies_catch_an_altered_plan(lab):
    from egov.plan import check_policies, run_program

    run = run_program(ROOT, "lab")
    assert check_policies(lab, run) == []
    altered = copy.deepcopy(run)
    target = next(r for r in altered.resources if r.props.get("name") == "lab-database")
    target.props["privileged"] = True
    target.props["ports"] = [{"ip": "0.0.0.0", "external": 5432, "internal": 5432,
                              "protocol": "tcp"}]
    found = {(v.policy, v.urn) for v in check_policies(lab, altered)}
    assert found == {("no-privileged", target.urn), ("published-ports", target.urn)}


def test_stack_of_urn():
    assert policies.stack_of("urn:pulumi:prod::egov-dc::docker:index/volume:Volume::x") == "prod"
