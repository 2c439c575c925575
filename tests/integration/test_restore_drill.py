"""Drill: the disks of the database node and of the directory node are lost. Their
containers and volumes are removed; `egov up lab` makes them again, empty; `egov restore
lab --in-place --directory` puts the latest backups in place. Every service database's
tables (row counts and checksums) and every directory entry (its attributes, entryUUID
and createTimestamp: the original entry, not one made again) equal what they were
before, rows and an account only the drill made included; verification passes and a
further converge changes nothing."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from egov import evidence
from egov.model import Role
from egov.paths import state_dir

from .conftest import egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE = "restore_drill"
ROWS = 300
ORIGINAL = ("entryUUID", "createTimestamp")


def test_latest_backups_restore_into_fresh_database_and_directory_nodes(lab):
    stack = lab.stack
    lost = [stack.nodes_with(Role.database)[0], stack.nodes_with(Role.directory)[0]]
    service_db = next(s.name for s in stack.services if s.database)
    token = uuid.uuid4().hex
    account = f"uid=restore{token[:8]},ou=citizens,{stack.directory_suffix}"
    lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
    lab.psql(service_db, f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, token text NOT NULL, "
                         "payload text NOT NULL)")
    lab.psql(service_db, f"INSERT INTO {TABLE} (token, payload) SELECT '{token}', "
                         f"md5(random()::text) || n FROM generate_series(1, {ROWS}) AS n")
    lab.ldap("ldapadd", stdin=(
        f"dn: {account}\nobjectClass: inetOrgPerson\nuid: restore{token[:8]}\n"
        f"cn: Restore {token}\nsn: Restore\ndescription: made at run time by the drill\n"))
    try:
        made = egov("backup", "lab")
        assert made.returncode == 0, f"egov backup lab failed:\n{made.stdout}\n{made.stderr}"
        tables_before = lab.tables()
        assert tables_before[service_db][f"public.{TABLE}"][0] == ROWS
        entries_before = lab.directory_entries(*ORIGINAL)
        assert f"dn: {account}" in entries_before

        subprocess.run(["docker", "rm", "-f", *(stack.container_name(n) for n in lost)],
                       check=True, capture_output=True)
        volumes = [stack.volume_name(n, v) for n in lost for v in n.volumes]
        assert volumes, "the database and directory nodes keep no volume"
        subprocess.run(["docker", "volume", "rm", *volumes], check=True, capture_output=True)

        res = egov("up", "lab", "--no-verify")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        fresh = lab.tables()
        assert f"public.{TABLE}" not in fresh[service_db], "the database node was not made anew"
        assert f"dn: {account}" not in lab.directory_entries(), \
            "the directory node was not made anew"

        res = egov("restore", "lab", "--in-place", "--directory")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

        tables_after = lab.tables()
        assert tables_after == tables_before, json.dumps(
            {"before": tables_before, "after": tables_after}, indent=1)
        entries_after = lab.directory_entries(*ORIGINAL)
        missing = sorted(set(entries_before) - set(entries_after))
        changed = sorted(dn for dn in entries_before
                         if dn in entries_after and entries_after[dn] != entries_before[dn])
        assert entries_after == entries_before, (
            f"directory entries lost: {missing}; changed: {changed}; "
            f"new: {sorted(set(entries_after) - set(entries_before))}")

        res = egov("verify", "lab")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert evidence.latest("lab")["passed"] is True
        res = egov("up", "lab", "--no-verify")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        again = json.loads((state_dir("lab") / "last-up.json").read_text())
        assert again["provision"]["changed"] == {} and again["converge"]["changed"] == {}, \
            f"up after the restore changed: {again['provision']['changed']} " \
            f"{again['converge']['changed']}"
    finally:
        lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
        lab.ldap("ldapdelete", stdin=f"{account}\n", check=False)
