"""The rehearsal's overlay and what it changes: nothing of the stack but how its hosts are
reached, where its state lives and whose key the nodes accept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from egov import access, docker_plan, rehearsal
from egov.model import load_stack
from egov.paths import state_root

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prod():
    return load_stack(ROOT, "prod")


def _with_overlay(tmp_path: Path, text: dict) -> Path:
    (tmp_path / "stacks" / "rehearsal").mkdir(parents=True)
    for name in ("Pulumi.prod.yaml",):
        (tmp_path / "stacks" / name).write_text((ROOT / "stacks" / name).read_text())
    (tmp_path / "stacks" / "rehearsal" / "prod.yaml").write_text(yaml.safe_dump(text))
    return tmp_path


def test_the_committed_overlay_simulates_every_host_of_prod(prod):
    overlay = rehearsal.load_overlay(ROOT, prod)
    assert set(overlay.hosts) == {h.name for h in prod.docker_hosts}


@pytest.mark.parametrize("change, words", [
    ({"hosts": {"dc1": {"address": "10.100.250.11"}}}, "field hosts: names"),
    ({"hosts": {"dc1": {"address": "10.100.250.1"}, "dc2": {"address": "10.100.250.12"},
                "dc3": {"address": "10.100.250.13"}}}, "field hosts.dc1.address"),
    ({"hosts": {"dc1": {"address": "10.100.0.10"}, "dc2": {"address": "10.100.250.12"},
                "dc3": {"address": "10.100.250.13"}}}, "field hosts.dc1.address"),
    ({"hostsSubnet": "not-a-subnet"}, "field hostsSubnet"),
    ({"parent": "eth0"}, "field parent"),
])
def test_a_bad_overlay_is_refused_naming_the_file_and_field(tmp_path, prod, change, words):
    good = yaml.safe_load((ROOT / "stacks" / "rehearsal" / "prod.yaml").read_text())
    root = _with_overlay(tmp_path, {**good, **change})
    with pytest.raises(rehearsal.RehearsalError) as err:
        rehearsal.load_overlay(root, prod)
    assert err.value.bad_input
    assert "prod.yaml" in str(err.value) and words in str(err.value), str(err.value)


def test_a_stack_without_an_overlay_is_refused(tmp_path, prod):
    with pytest.raises(rehearsal.RehearsalError) as err:
        rehearsal.load_overlay(tmp_path, prod)
    assert err.value.bad_input and "no rehearsal overlay" in str(err.value)


def test_the_trunk_addresses_are_no_node_s(prod):
    for index, _host in enumerate(prod.docker_hosts):
        for zone in prod.zones:
            address = rehearsal.trunk_address(prod, zone, index)
            assert address in zone.subnet
            assert str(address) not in {a.address for legs in prod.derived.attachments.values()
                                         for a in legs}


def test_the_bastion_on_macvlan_is_reached_at_its_own_address(prod):
    assert prod.ssh_endpoint(prod.bastion) == (prod.derived.address[prod.bastion.name],
                                               prod.access.bastion_port)


def test_the_docker_plan_names_each_host_s_engine(prod):
    plan = docker_plan.plan(prod, ROOT, ["ssh-ed25519 AAAA test"])
    assert plan.hosts == {h.name: h.url for h in prod.docker_hosts}
    assert {c.docker_host for c in plan.containers} == set(plan.hosts)


def test_a_rehearsal_keeps_its_state_and_key_apart(monkeypatch, tmp_path, prod):
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(rehearsal.ENV, raising=False)
    assert state_root() == tmp_path
    assert not access.own_key(prod)
    monkeypatch.setenv(rehearsal.ENV, "prod")
    assert state_root() == tmp_path / "rehearsal"
    assert access.own_key(prod), "the rehearsal's nodes must accept a key made here"


def test_a_rehearsal_converge_keeps_the_key_made_here_on_the_nodes(monkeypatch, tmp_path, prod):
    from egov import inventory
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(rehearsal.ENV, raising=False)
    assert "egov_admin_key_files" not in inventory.machine_vars(prod)
    monkeypatch.setenv(rehearsal.ENV, "prod")
    assert inventory.machine_vars(prod)["egov_admin_key_files"] == [
        f"{tmp_path}/rehearsal/prod/ssh/id_ed25519.pub"]
