"""Drill: a node lost. The container of the database node is removed, as a dead server
would be; its volume stays, as its disk would. `egov up lab` brings it back, the
verification passes, and its data is all there: every service database's tables, row
counts and checksums compared before and after."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from egov import backup, evidence
from egov.model import Role

from .conftest import egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE = "node_loss_drill"
ROWS = 200


def _databases(lab) -> dict[str, dict[str, tuple[int, str]]]:
    """database -> table -> (rows, checksum of its rows) for every service database."""
    out = {}
    for db in (s.name for s in lab.stack.services if s.database):
        sums = backup.checksums(lab.stack, db)
        out[db] = {t: (int(lab.psql(db, f"SELECT count(*) FROM {t}")), s)
                   for t, s in sums.items()}
    return out


def test_a_lost_database_node_comes_back_with_all_its_data(lab):
    stack = lab.stack
    database = stack.nodes_with(Role.database)[0].name
    service_db = next(s.name for s in stack.services if s.database)
    token = uuid.uuid4().hex
    lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
    lab.psql(service_db,
          f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, token text NOT NULL, "
          f"payload text NOT NULL)")
    lab.psql(service_db,
          f"INSERT INTO {TABLE} (token, payload) SELECT '{token}', md5(random()::text) || n "
          f"FROM generate_series(1, {ROWS}) AS n")
    try:
        tables_before = _databases(lab)
        assert tables_before[service_db][f"public.{TABLE}"][0] == ROWS

        subprocess.run(["docker", "rm", "-f", stack.container_name(database)],
                       check=True, capture_output=True)
        res = egov("up", "lab")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        report = evidence.latest("lab")
        assert report["passed"] is True, "verify after the node came back did not pass"

        tables_after = _databases(lab)
        assert tables_after == tables_before, json.dumps(
            {"before": tables_before, "after": tables_after}, indent=1)
    finally:
        lab.psql(service_db, f"DROP TABLE IF EXISTS {TABLE}")
