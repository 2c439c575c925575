"""Backups: `egov backup lab` dumps every service database (and the directory) into the
backup node's restic repository; `egov restore lab` brings the latest dump of a database
back into a fresh database beside it, with identical table contents."""

from __future__ import annotations

import uuid

import pytest

from egov import backup

from .conftest import egov

pytestmark = pytest.mark.lab

DATABASE = "slawe"
TARGET = "slawe_restore_drill"
TABLE = "backup_drill"
ROWS = 500


@pytest.fixture
def drill_rows(lab):
    """Rows only this run wrote, in a service database; removed afterwards with the
    restored copy."""
    token = uuid.uuid4().hex
    lab.psql(DATABASE, f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, "
                        "token text NOT NULL, payload text NOT NULL, "
                        "written timestamptz NOT NULL DEFAULT now())")
    lab.psql(DATABASE, f"INSERT INTO {TABLE} (token, payload) SELECT '{token}', "
                        f"md5(random()::text) || n FROM generate_series(1, {ROWS}) AS n")
    yield token
    lab.psql("postgres", f"DROP DATABASE IF EXISTS {TARGET}")
    lab.psql(DATABASE, f"DROP TABLE IF EXISTS {TABLE}")


def test_backup_then_restore_gives_identical_tables(lab, drill_rows):
    before = {s.id for s in backup.snapshots(lab.stack)}
    made = egov("backup", "lab")
    assert made.returncode == 0, f"egov backup lab failed:\n{made.stdout}\n{made.stderr}"
    new = [s for s in backup.snapshots(lab.stack) if s.id not in before]
    for svc in lab.stack.services:
        if svc.database:
            assert any(s.database == svc.name for s in new), \
                f"egov backup lab made no snapshot of {svc.name}:\n{made.stdout}"

    restored = egov("restore", "lab", "--database", DATABASE, "--target", TARGET, "--replace")
    assert restored.returncode == 0, \
        f"egov restore lab failed:\n{restored.stdout}\n{restored.stderr}"

    original = backup.checksums(lab.stack, DATABASE)
    copy = backup.checksums(lab.stack, TARGET)
    assert f"public.{TABLE}" in original, original
    assert copy == original, f"restored tables differ:\n  original {original}\n  restored {copy}"
    count = lab.psql(TARGET, f"SELECT count(*) FROM {TABLE} WHERE token = '{drill_rows}'")
    assert int(count) == ROWS, f"{TARGET} holds {count} of this run's {ROWS} rows"
    # The printed checksums are the ones computed on the restored database.
    assert original[f"public.{TABLE}"] in restored.stdout, restored.stdout


def test_restore_never_overwrites_a_live_database(lab):
    res = egov("restore", "lab", "--database", DATABASE, "--target", DATABASE, "--replace")
    assert res.returncode != 0, f"egov restore into the live {DATABASE} succeeded"
    assert "live database" in res.stdout + res.stderr, res.stdout + res.stderr
