"""Filters of the project's playbooks (ansible.cfg: filter_plugins = plugins/filter)."""

from __future__ import annotations


def missing_packages(packages, installed=None):
    """The packages of `packages` that are not in `installed` (site.yml's dpkg listing,
    egov_installed_packages), in their order. With no listing (a role run outside site.yml)
    every package counts as missing, so the install task runs and apt decides.

        when: dns__packages | missing_packages(egov_installed_packages | default([])) | length > 0
    """
    if isinstance(packages, str):
        packages = [packages]
    have = set(installed or ())
    return [p for p in packages if p not in have]


class FilterModule:
    def filters(self):
        return {"missing_packages": missing_packages}
