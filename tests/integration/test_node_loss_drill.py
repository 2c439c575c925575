"""Drill: nodes lost, and the bring-up that rebuilds them interrupted. The containers of
the database node and of the identity node (the directory) are removed, as dead servers
would be; their volumes stay, as their disks would. `egov up lab` is killed (the whole
process group, SIGKILL) while it installs the directory's packages, killed again right
after a changed setting notified a restart, then run to the end: it brings them back, the
verification passes, a second converge changes nothing, and their data is all there:
every service database's tables (row counts and checksums) and every directory entry,
including rows and an account that only the drill made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from egov import evidence
from egov.model import Role
from egov.paths import PACKAGE_ROOT, state_dir

from .conftest import EGOV, egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE = "node_loss_drill"
ROWS = 200
# The bring-up is killed twice half-way through the converge: while the rebuilt directory
# node installs its packages, and right after slapd's listeners changed and before the
# handler that restarts it ran.
KILLS = [("TASK [directory : Install slapd and the LDAP tools]", 1),
         ("TASK [directory : Let root manage the data over ldapi", 0)]


def test_lost_database_and_identity_nodes_come_back_with_all_their_data(lab):
    stack = lab.stack
    database = stack.nodes_with(Role.database)[0].name
    directory = stack.nodes_with(Role.directory)[0].name
    service_db = next(s.name for s in stack.services if s.database)
    token = uuid.uuid4().hex
    account = f"uid=drill{token[:8]},ou=citizens,{stack.directory_suffix}"
    lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
    lab.psql(service_db,
          f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, token text NOT NULL, "
          f"payload text NOT NULL)")
    lab.psql(service_db,
          f"INSERT INTO {TABLE} (token, payload) SELECT '{token}', md5(random()::text) || n "
          f"FROM generate_series(1, {ROWS}) AS n")
    lab.ldap("ldapadd", stdin=(
        f"dn: {account}\nobjectClass: inetOrgPerson\nuid: drill{token[:8]}\n"
        f"cn: Drill {token}\nsn: Drill\ndescription: made at run time by the drill\n"))
    try:
        tables_before = lab.tables()
        assert tables_before[service_db][f"public.{TABLE}"][0] == ROWS
        entries_before = lab.directory_entries()
        assert f"dn: {account}" in entries_before

        subprocess.run(["docker", "rm", "-f", stack.container_name(database),
                        stack.container_name(directory)], check=True, capture_output=True)
        for marker, after_s in KILLS:
            _killed_half_way(marker, after_s)
        res = egov("up", "lab")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        report = evidence.latest("lab")
        assert report["passed"] is True, "verify after the nodes came back did not pass"
        res = egov("up", "lab", "--no-verify")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        again = json.loads((state_dir("lab") / "last-up.json").read_text())
        assert again["provision"]["changed"] == {} and again["converge"]["changed"] == {}, \
            f"second up changed: {again['provision']['changed']} {again['converge']['changed']}"

        tables_after = lab.tables()
        assert tables_after == tables_before, json.dumps(
            {"before": tables_before, "after": tables_after}, indent=1)
        entries_after = lab.directory_entries()
        missing = sorted(set(entries_before) - set(entries_after))
        changed = sorted(dn for dn in entries_before
                         if dn in entries_after and entries_after[dn] != entries_before[dn])
        assert not missing and not changed and entries_after == entries_before, (
            f"directory entries lost: {missing}; changed: {changed}; "
            f"new: {sorted(set(entries_after) - set(entries_before))}")
    finally:
        lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
        lab.ldap("ldapdelete", stdin=f"{account}\n", check=False)


def _killed_half_way(marker: str, after_s: float, timeout_s: float = 1200) -> None:
    """Start `egov up lab` and kill it, with every process it started, `after_s` seconds
    after the converge reached `marker`."""
    site_log = state_dir("lab") / "logs" / "site.log"
    site_log.unlink(missing_ok=True)
    proc = subprocess.Popen([*EGOV, "up", "lab"], cwd=PACKAGE_ROOT, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    try:
        while marker not in (site_log.read_text() if site_log.exists() else ""):
            assert proc.poll() is None, f"egov up ended (exit {proc.returncode}) before {marker}"
            assert time.monotonic() < deadline, f"{marker} not reached in {timeout_s} s"
            time.sleep(0.2)
        time.sleep(after_s)
        assert proc.poll() is None, "egov up ended before it could be killed half-way"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
