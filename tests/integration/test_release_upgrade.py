"""A release that moves PostgreSQL to a new major version finds, on a database node's
volume, the cluster of the version before it. The role must refuse to make an empty cluster
beside it, change nothing, and name the way to migrate.

The lab's own PostgreSQL 17 cluster, seen by the role told to run version 18, is exactly
what such an upgrade finds; the refusal comes before anything is installed, so no package
of version 18 is needed.
"""

from __future__ import annotations

import pytest

from egov.model import Role

from .conftest import egov

pytestmark = pytest.mark.lab


def test_a_cluster_of_another_major_version_is_refused_and_left_alone(lab):
    node = lab.stack.nodes_with(Role.database)[0].name
    databases = lab.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) "
                                     "FROM pg_database")
    res = egov("converge", "lab", "--limit", node, "-e", "database__version=18")
    out = res.stdout + res.stderr
    assert res.returncode == 1, f"a converge over an older cluster did not fail:\n{out[-4000:]}"
    for words in ("keeps a PostgreSQL 17 cluster", "Nothing was changed",
                  f"--limit {node} -e database__old_clusters=set-aside",
                  "egov restore STACK --in-place"):
        assert words in " ".join(out.split()), f"the refusal does not say {words!r}:\n" \
                                               f"{out[-4000:]}"
    listing = lab.ssh(node, "sudo -n ls /var/lib/postgresql")
    assert listing.stdout.split() == ["17"], \
        f"{node}: /var/lib/postgresql holds {listing.stdout.split()} after the refusal"
    assert lab.ssh(node, "systemctl is-active postgresql@17-main").stdout.strip() == "active"
    assert lab.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) "
                                "FROM pg_database") == databases

