"""The registry of node roles (roles/node_roles.yml) against the model, site.yml and the
roles: every role a stack may give a node is configured by a play of site.yml, or by the
every-node plays whose roles then read its group; every play is the registry's; an image
bakes what the node's roles install, and nothing else."""

from __future__ import annotations

import pytest
import yaml
from role_tree import ROOT, installed_packages, values

from egov.model import Purpose
from egov.node_roles import baseline, node_roles

REGISTRY = node_roles(ROOT)
BASELINE = baseline(ROOT)
PLAYS = yaml.safe_load((ROOT / "site.yml").read_text())
# Known gaps, each a failure this test expects (strict: it fails again once fixed, so the
# entry is removed with the fix).
NO_PLAY_YET: dict[str, str] = {}


def _roles(play: dict) -> list[str]:
    named = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
    return [r for r in named if r != "pending_handlers"]


EVERY_NODE = [r for play in PLAYS if play["hosts"] == "all" for r in _roles(play)]


def _reads(role: str) -> str:
    folder = ROOT / "roles" / role
    return "".join(p.read_text() for p in sorted(folder.rglob("*"))
                   if p.is_file() and p.parent.name != "meta" and p.name != "README.md")


def test_every_registry_purpose_is_a_zone_purpose_and_every_state_a_path():
    # The model builds Role, ROLE_PURPOSE and ROLE_STATE from the registry; what it cannot
    # check there is that the registry's words mean something to the rest of the model.
    purposes = {p.value for p in Purpose}
    for name, role in REGISTRY.items():
        assert role.purpose in purposes, \
            f"node role {name}: purpose {role.purpose!r} is not a zone purpose"
        assert role.state is None or role.state.startswith("/"), \
            f"node role {name}: state {role.state!r} is not an absolute path"


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=NO_PLAY_YET[n]))
    if n in NO_PLAY_YET else n for n in REGISTRY])
def test_every_node_role_is_configured_by_site_yml(name):
    role = REGISTRY[name]
    plays = [play for play in PLAYS if play["hosts"] == f"role_{name}"]
    if role.play:
        assert [_roles(p) for p in plays] == [list(role.play)], \
            f"site.yml: the play for hosts role_{name} should apply {list(role.play)}"
        return
    assert role.baseline, (f"node role {name}: site.yml has no play for hosts role_{name} and "
                           "the registry names no every-node role that serves it")
    assert not plays, f"site.yml has a play for role_{name}: name its roles in the registry"
    for ansible_role in role.baseline:
        assert ansible_role in EVERY_NODE, f"site.yml applies {ansible_role} to some nodes only"
        assert f"groups['role_{name}']" in _reads(ansible_role), \
            f"roles/{ansible_role} never reads the group role_{name}: it does not serve {name}"


def test_every_play_of_site_yml_is_in_the_registry():
    assert sorted(EVERY_NODE) == sorted(BASELINE.roles), \
        "site.yml's every-node plays and the registry's baseline name different roles"
    for play in PLAYS:
        if play["hosts"] != "all":
            name = play["hosts"].removeprefix("role_")
            assert name in REGISTRY and REGISTRY[name].play, \
                f"site.yml plays on {play['hosts']}, which the registry does not say"


def _bakes():
    for name, role in REGISTRY.items():
        if role.bake or role.play:
            yield pytest.param(role.play or role.baseline, role.bake, role.not_baked, id=name)
    yield pytest.param(BASELINE.roles, BASELINE.bake, BASELINE.not_baked, id="baseline")


@pytest.mark.parametrize("ansible_roles, bake, not_baked", list(_bakes()))
def test_an_image_bakes_what_its_roles_install(ansible_roles, bake, not_baked):
    installs = set().union(*(installed_packages(r) for r in ansible_roles))
    assert not set(bake) - installs, \
        f"baked but not installed by {ansible_roles}: {sorted(set(bake) - installs)}"
    assert not installs - set(bake) - set(not_baked), (
        f"installed by {ansible_roles} but neither baked nor listed as not baked: "
        f"{sorted(installs - set(bake) - set(not_baked))}")
    assert not set(bake) & set(not_baked)


def test_the_database_image_drops_the_cluster_the_package_made():
    database = values("database")
    assert REGISTRY["database"].after_bake == (
        f"pg_dropcluster {database['database__version']} {database['database__cluster']}",)
