"""egov role test's harness: which image and inventory a role's throwaway node gets."""

from __future__ import annotations

import yaml

from egov import role_test
from egov.model import Role
from egov.paths import PACKAGE_ROOT

LEG = role_test.Leg(address="172.30.0.2", subnet="172.30.0.0/16", router="172.30.0.1")


def test_a_node_role_and_the_roles_of_its_play_get_its_image():
    assert role_test.image_roles(PACKAGE_ROOT, "database") == {Role("database")}
    assert role_test.image_roles(PACKAGE_ROOT, "service") == {Role("app")}


def test_a_role_of_every_node_gets_the_common_image():
    for role in ("sshd", "firewall", "base"):
        assert role_test.image_roles(PACKAGE_ROOT, role) == frozenset(), role


def _inventory(tmp_path, role: str) -> dict:
    return yaml.safe_load(role_test.write_inventory(PACKAGE_ROOT, role, LEG, tmp_path).read_text())


def test_the_node_is_in_its_zone_and_role_groups_as_a_stack_would_put_it(tmp_path):
    inv = _inventory(tmp_path, "database")["all"]
    host = inv["hosts"]["database_test"]
    assert host["egov_node_addresses"] == {"test": LEG.address}
    assert host["egov_node_routers"] == [LEG.router] and host["egov_node_zone"] == "test"
    assert host["egov_node_roles"] == ["database"]
    assert set(inv["children"]) == {"zone_test", "role_database"}
    assert inv["vars"]["egov_zones"] == [
        {"name": "test", "subnet": LEG.subnet, "purpose": "data", "egress": True}]


def test_a_role_of_every_node_is_in_no_role_group(tmp_path):
    inv = _inventory(tmp_path, "sshd")["all"]
    assert set(inv["children"]) == {"zone_test"}
    assert inv["hosts"]["sshd_test"]["egov_node_roles"] == []
    assert inv["vars"]["egov_zones"][0]["purpose"] == "management"


def test_the_stand_in_stack_is_the_harness_domain_with_overrides():
    stack = role_test.stand_in_stack("egov-roletest-directory", LEG.address, environment="lab")
    assert stack.directory_suffix == "dc=roletest,dc=invalid" and stack.environment == "lab"
    assert stack.derived.address == {"egov-roletest-directory": LEG.address}
