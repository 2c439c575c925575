"""Node and role images as rendered from the model and the roles (no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov import docker_plan, images
from egov.model import Role, load_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab():
    return load_stack(ROOT, "lab")


def test_slapd_is_left_to_the_directory_role():
    baked = images.role_packages(ROOT, [Role.directory, Role.identity])
    assert "slapd" not in baked and "ldap-utils" in baked and "lemonldap-ng" in baked


def test_templated_package_names_are_rendered_with_the_role_defaults():
    assert "postgresql-17" in images.role_packages(ROOT, [Role.database])


def test_each_node_gets_the_image_of_its_roles(lab):
    by_node = images.stack_images(lab, ROOT, baked=True)
    common = images.node_image(ROOT, baked=True)
    assert by_node["bastion"].tag == common.tag
    assert by_node["app1"].tag == by_node["app2"].tag
    assert len({by_node[n].tag for n in ("gateway", "identity", "database", "monitoring",
                                         "backup", "app1", "bastion")}) == 7
    database = by_node["database"].files["Dockerfile"].decode()
    assert f"FROM {common.tag}" in database
    assert "pg_dropcluster 17 main" in database
    # the packages' units stay off until their roles enable them
    assert "systemctl disable" in database


def test_without_baked_packages_every_node_shares_the_plain_node_image(lab):
    by_node = images.stack_images(lab, ROOT, baked=False)
    assert {i.tag for i in by_node.values()} == {images.node_image(ROOT, baked=False).tag}
    assert images.build_order(ROOT, by_node.values(), baked=False) == [
        images.node_image(ROOT, baked=False)]


def test_the_plan_builds_the_node_image_before_the_role_images(lab):
    plan = docker_plan.plan(lab, ROOT, ["ssh-ed25519 AAAA test"])
    tags = [i.tag for i in plan.images]
    common = images.node_image(ROOT).tag
    assert tags[0] == common and len(tags) == len(set(tags))
    assert all(i.base_image == common for i in plan.images[1:])
    assert {c.image for c in plan.containers} <= set(tags)


def test_no_node_image_carries_a_shared_ssl_cert_key():
    dockerfile = images.node_image(ROOT, baked=True).files["Dockerfile"].decode()
    assert "rm -f /etc/ssl/private/ssl-cert-snakeoil.key" in dockerfile
    firstboot = (ROOT / "templates" / "node" / "files" / "egov-firstboot.py").read_text()
    assert "generate-default-snakeoil" in firstboot


def test_the_database_role_makes_a_cluster_that_no_package_made():
    tasks = (ROOT / "roles" / "database" / "tasks" / "packages.yml").read_text()
    assert "pg_createcluster --locale" in tasks


def test_the_stack_builds_include_the_node_image_even_when_no_node_uses_it_directly():
    # only nodes with packages to bake: the node image is still written and built first
    stack = load_stack(ROOT, "lab")
    stack.nodes[:] = [n for n in stack.nodes if images.role_packages(ROOT, n.roles)]
    builds = images.stack_builds(stack, ROOT, baked=True)
    assert "bastion" not in {n.name for n in stack.nodes}
    assert builds[0].tag == images.node_image(ROOT, baked=True).tag
    assert all(b.base == builds[0].tag for b in builds[1:])
