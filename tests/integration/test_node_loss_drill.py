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
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from egov import evidence
from egov.ansible_run import new_events
from egov.model import Role
from egov.paths import PACKAGE_ROOT, state_dir

from .conftest import EGOV, egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE = "node_loss_drill"
ROWS = 200
INSTALL = "directory : Install slapd and the LDAP tools"
LISTENERS = "directory : Listen on LDAPS and ldapi only"


def _installing(event: dict, last_result: dict) -> bool:
    return event.get("event") == "task" and event.get("name") == INSTALL


def _restart_pending(event: dict, last_result: dict) -> bool:
    return (event.get("event") == "notified" and "Restart slapd" in event.get("handlers", [])
            and last_result.get("task") == LISTENERS)


# The bring-up is killed twice half-way through the converge, at points read from its task
# events as they are written (the log names a task only once it has a result): a second
# after the rebuilt directory node began to install its packages, and at once when the
# change of slapd's listeners notified the restart, before that handler ran.
KILLS = [("the directory's packages being installed", _installing, 1.0),
         ("slapd's restart notified and not yet run", _restart_pending, 0.0)]


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
        for number, (point, reached, after_s) in enumerate(KILLS, 1):
            _killed_half_way(point, reached, after_s, number)
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


def _killed_half_way(point: str, reached, after_s: float, number: int,
                     timeout_s: float = 1200) -> None:
    """Start `egov up lab` and kill it, with every process it started, `after_s` seconds
    after an event of its converge satisfied `reached`. Its log, the task events it left
    and the handlers pending are copied to logs/node-loss-drill/ for a failure to be traced
    afterwards."""
    logs = state_dir("lab") / "logs"
    site_log = logs / "site.log"
    earlier = set(logs.glob("egov-site-*.jsonl"))
    proc = subprocess.Popen([*EGOV, "up", "lab"], cwd=PACKAGE_ROOT, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    try:
        events = _events_of_new_run(logs, earlier)
        last_result: dict = {}
        while True:
            assert proc.poll() is None, f"egov up ended (exit {proc.returncode}) before {point}"
            assert time.monotonic() < deadline, f"{point}: not reached in {timeout_s} s"
            event = next(events)
            if event is None:
                time.sleep(0.05)
                continue
            if reached(event, last_result):
                break
            if event.get("event") == "result":
                last_result = event
        time.sleep(after_s)
        assert proc.poll() is None, f"egov up ended before it could be killed ({point})"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = logs / "node-loss-drill"
        kept.mkdir(exist_ok=True)
        for path in [site_log, *logs.glob("egov-site-*.jsonl"),
                     *logs.glob("pending-handlers-site.json")]:
            if path.exists():
                shutil.copy(path, kept / f"run{number}-{path.name}")


def _events_of_new_run(logs, earlier: set):
    """Each complete event line of the converge's events file (one not in `earlier`) as it
    is written; None whenever there is nothing new yet."""
    path, offset = None, 0
    while True:
        if path is None:
            fresh = set(logs.glob("egov-site-*.jsonl")) - earlier
            path = min(fresh, key=lambda p: p.stat().st_mtime) if fresh else None
        events = []
        if path is not None:
            events, offset = new_events(path, offset)
        if not events:
            yield None
        yield from events
