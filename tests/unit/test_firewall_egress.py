"""The firewall's output chain, rendered by Ansible from the role's own variables and the
inventory each stack generates: a node opens connections only along the flows out of its
zone (and, on the bastion, SSH to every node), and to the outside only when its zone has
egress. On macvlan, a zone without egress is kept in by the firewalls alone: its Docker
network is never `internal`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from egov import docker_plan, inventory
from egov.ansible_run import ansible_env
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "firewall"
SSH = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["firewall__ssh_port"]
EGRESS = re.compile(r"^\s*ip daddr != @stack_subnets accept\b", re.M)
# What an accept rule of a zone without egress may name: loopback, replies, ICMP
# essentials, or a destination inside the stack.
INSIDE = re.compile(r'oif "lo"|ct state|icmp(v6)? type|daddr @(zone_|stack_subnets)')
# ip daddr @zone_<zone> <protocol> dport <port> accept: a rule of the output chain
PORT_RULE = re.compile(r"ip daddr @zone_(\S+) (tcp|udp) dport (\d+) accept")
STACKS = ["lab", "staging", "prod"]


def _render(tmp: Path, stack_name: str) -> dict[str, str]:
    """node -> its rule file, rendered by Ansible from the stack's generated inventory."""
    stack = load_stack(ROOT, stack_name)
    folder = inventory.write(stack, tmp)
    out = tmp / "rules.json"
    play = [{
        "name": "Render every node's rule file",
        "hosts": "all", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [
            {"name": "Render", "ansible.builtin.set_fact": {
                "rendered": "{{ lookup('ansible.builtin.template', '" + str(
                    ROLE / "templates" / "etc" / "nftables.d" / "egov_filter.nft.j2") + "') }}"}},
            {"name": "Write them", "run_once": True, "delegate_to": "localhost",
             "ansible.builtin.copy": {
                 "dest": str(out),
                 "content": "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all"
                            " | map('extract', hostvars, 'rendered'))) | to_json }}"}},
        ],
    }]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    env = ansible_env(ROOT, {"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False"})
    local = ["-e", "ansible_connection=local",
             "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    run = subprocess.run(["ansible-playbook", "-i", str(folder), str(tmp / "play.yml"), *local],
                         cwd=tmp, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> dict[str, dict[str, str]]:
    """stack -> node -> rule file, for every stack."""
    return {name: _render(tmp_path_factory.mktemp(name), name) for name in STACKS}


def _chain(text: str, name: str) -> str:
    found = re.search(r"\n    chain " + name + r" \{\n(.*?)\n    \}\n", text, re.S)
    assert found, f"no chain {name} in:\n{text}"
    return found.group(1)


def _opened(text: str) -> set[tuple[str, str, int]]:
    """(target zone, protocol, port) of each port rule of the output chain."""
    return {(z, p, int(port)) for z, p, port in PORT_RULE.findall(_chain(text, "output"))}


def _declared(stack, node) -> set[tuple[str, str, int]]:
    """What the model lets the node open: its zone's flows, and SSH only from the bastion."""
    want = {(dst, f.protocol, f.port) for dst, flows in stack.derived.matrix[node.zone].items()
            for f in flows if (f.port, f.protocol) != (SSH, "tcp")}
    if node.name == stack.bastion.name:
        want |= {(z.name, "tcp", SSH) for z in stack.zones}
    return want


@pytest.mark.parametrize("stack_name", STACKS)
def test_output_is_default_deny_with_the_essentials_and_a_drop_counter(rules, stack_name):
    for node, text in rules[stack_name].items():
        out = _chain(text, "output")
        assert "type filter hook output priority filter; policy drop;" in out, node
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        assert lines[1:4] == ['oif "lo" accept', "ct state established,related accept",
                              "ct state invalid drop"], f"{stack_name}/{node}: {lines[:4]}"
        assert lines[-1] == 'counter comment "dropped"', f"{stack_name}/{node}: {lines[-1]}"
        # one transaction, as before: declare, delete and recreate the role's table only
        assert text.count("delete table inet egov_filter") == 1, node


@pytest.mark.parametrize("stack_name", STACKS)
def test_exactly_the_declared_flows_leave_each_node(rules, stack_name):
    stack = load_stack(ROOT, stack_name)
    for node in stack.nodes:
        got, want = _opened(rules[stack_name][node.name]), _declared(stack, node)
        assert got == want, (f"{stack_name}/{node.name}: output opens {sorted(got - want)} "
                             f"undeclared, lacks {sorted(want - got)}")


def test_undeclared_connections_do_not_leave(rules):
    lab = rules["lab"]
    # the services reach their database; the gateway and the database itself do not
    assert ("data", "tcp", 5432) in _opened(lab["app1"])
    assert not {r for r in _opened(lab["gateway"]) if r[0] == "data"}
    assert not {r for r in _opened(lab["database"]) if r[2] == 5432}
    # SSH leaves the bastion only, and the matrix's SSH entries open nothing elsewhere
    for node in ("monitoring", "backup", "app1", "database", "identity", "gateway"):
        assert not {r for r in _opened(lab[node]) if r[2] == SSH}, node
    assert {r[0] for r in _opened(lab["bastion"]) if r[2] == SSH} == \
        {"mgmt", "dmz", "app", "data", "idm"}
    # nothing the stack does not name: the database answers and asks only the management zone
    assert {r[0] for r in _opened(lab["database"])} == {"mgmt"}


@pytest.mark.parametrize("stack_name", STACKS)
def test_only_zones_with_egress_reach_the_outside(rules, stack_name):
    stack = load_stack(ROOT, stack_name)
    subnets = ", ".join(str(z.subnet) for z in stack.zones)
    for node in stack.nodes:
        text = rules[stack_name][node.name]
        out = _chain(text, "output")
        assert f"elements = {{ {subnets} }}" in text, f"{stack_name}/{node.name}: stack_subnets"
        egress = stack.zone(node.zone).egress
        assert bool(EGRESS.search(out)) == egress, \
            f"{stack_name}/{node.name} (zone {node.zone}, egress {egress}): {out}"
        assert ("meta nfproto ipv6 accept" in out) == egress, f"{stack_name}/{node.name}"
        if not egress:
            # every accept past the essentials names a destination inside the stack
            for line in out.splitlines():
                if line.strip().endswith("accept") or " accept comment " in line:
                    assert INSIDE.search(line), f"{stack_name}/{node.name}: {line.strip()}"


def test_the_stacks_say_which_zones_have_no_egress():
    lab, staging, prod = (load_stack(ROOT, name) for name in STACKS)
    assert [z.name for z in lab.zones if not z.egress] == ["data"]
    for stack in (staging, prod):
        assert sorted(z.name for z in stack.zones if not z.egress) == ["data", "idm"]
    # every zone of the stacks says it, in the generated inventory the roles read
    for stack in (lab, staging, prod):
        network = yaml.safe_load(inventory.render(stack)["group_vars/all/network.yml"])
        assert {z["name"]: z["egress"] for z in network["egov_zones"]} == \
            {z.name: z.egress for z in stack.zones}
        assert [z["subnet"] for z in network["egov_zones"]] == [str(z.subnet) for z in stack.zones]


def test_only_bridge_networks_are_made_internal():
    """A bridge zone without egress is `internal` (no route out); a macvlan one never is: it
    would lose its parent interface, and the VLAN between hosts with it."""
    for name in STACKS:
        stack = load_stack(ROOT, name)
        plan = docker_plan.plan(stack, ROOT, ["ssh-ed25519 AAAA test"])
        drivers = {h.name: h.network_driver for h in stack.docker_hosts}
        for net in plan.networks:
            want = not stack.zone(net.zone).egress and drivers[net.docker_host] == "bridge"
            assert net.internal == want, f"{name}: network {net.name} on {net.docker_host}"
    lab = load_stack(ROOT, "lab")
    internal = {n.zone for n in docker_plan.plan(lab, ROOT, []).networks if n.internal}
    assert internal == {"data"}


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed here")
def test_nft_accepts_the_rendered_files(rules, tmp_path):
    probe = subprocess.run(["nft", "-c", "-f", "-"], input="table inet egov_check {}\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"nft -c does not run here: {probe.stderr.strip()}")
    for stack_name, nodes in rules.items():
        for node, text in nodes.items():
            path = tmp_path / f"{stack_name}-{node}.nft"
            path.write_text(text)
            check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
            assert check.returncode == 0, f"{stack_name}/{node}: {check.stderr}"
