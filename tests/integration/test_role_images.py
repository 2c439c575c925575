"""What the role images leave to the nodes: every unit their baked packages enable is turned
back on by a role, and every node has its own ssl-cert key pair."""

from __future__ import annotations

import subprocess

import pytest

from egov import images

pytestmark = pytest.mark.lab

# Each unit Debian would enable (preset enabled) that is disabled on the node, with the
# packages that ship it; template units are enabled by instance, so they are left out.
DISABLED_PRESET_UNITS = r"""
systemctl list-unit-files --state=disabled --no-legend | awk '$3 == "enabled" {print $1}' |
while read -r unit; do
  case "$unit" in *@*) continue ;; esac
  path=$(systemctl show -P FragmentPath "$unit")
  echo "$unit $(dpkg -S "$path" 2>/dev/null | cut -d: -f1 | tr -d ,)"
done
"""


def _on_node(lab, node, script: str) -> str:
    res = subprocess.run(["docker", "exec", lab.stack.container_name(node), "sh", "-c", script],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{node.name}: {res.stderr}"
    return res.stdout


def test_no_unit_of_a_baked_package_stays_off(lab):
    for node in lab.stack.nodes:
        baked = set(images.role_packages(lab.root, node.roles))
        off = [line.split() for line in _on_node(lab, node, DISABLED_PRESET_UNITS).splitlines()]
        left = [unit for unit, *package in off if set(package) & baked]
        assert not left, (f"{node.name}: units of packages baked in its image are disabled, "
                          f"and no role enables them: {left}")


def test_every_node_has_its_own_ssl_cert_key(lab):
    keys = {node.name: _on_node(lab, node,
                                "sha256sum /etc/ssl/private/ssl-cert-snakeoil.key").split()[0]
            for node in lab.stack.nodes}
    assert len(set(keys.values())) == len(keys), f"nodes share an ssl-cert key: {keys}"
