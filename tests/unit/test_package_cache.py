"""Every node's apt goes through the stack's package cache: the model says which cache a
node reaches, the inventory hands it to the base role, and the cache serves the port the
model names."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from egov.model import PACKAGE_CACHE_PORT, Role, load_stack
from egov.paths import role_defaults

ROOT = Path(__file__).resolve().parents[2]


def test_every_node_of_prod_but_the_cache_goes_through_it():
    prod = load_stack(ROOT, "prod")
    (cache,) = prod.nodes_with(Role.package_cache)
    hosts = yaml.safe_load((ROOT / "inventory" / "prod" / "hosts.yml").read_text())["all"]
    legs = {a.zone: a.address for a in prod.derived.attachments[cache.name]}
    for node in prod.nodes:
        got = hosts["hosts"][node.name]["egov_node_package_caches"]
        # the cache's leg in the node's own zone where it has one (no router in between)
        nearest = legs.get(node.zone, prod.derived.address[cache.name])
        want = [] if node is cache else [f"http://{nearest}:3142"]
        assert got == want, f"prod: {node.name} fetches packages through {got}, not {want}"


def test_a_stack_without_a_cache_sends_no_node_through_one():
    lab = load_stack(ROOT, "lab")
    assert not lab.nodes_with(Role.package_cache)
    assert all(caches == [] for caches in lab.derived.package_caches.values())


def test_the_cache_serves_the_port_the_model_names():
    assert role_defaults("package_cache", ROOT)["package_cache__port"] == PACKAGE_CACHE_PORT


def test_apt_is_pointed_at_the_first_cache_or_at_nothing():
    folder = ROOT / "roles" / "base" / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                             undefined=jinja2.StrictUndefined)
    env.filters["comment"] = lambda text, style="plain": f"// {text}"
    template = env.get_template("etc/apt/apt.conf.d/01egov-package-cache.j2")
    through = template.render(ansible_managed="managed",
                              base__package_caches=["http://10.100.0.11:3142"])
    assert 'Acquire::http::Proxy "http://10.100.0.11:3142";' in through
    assert "Proxy" not in template.render(ansible_managed="managed", base__package_caches=[])
