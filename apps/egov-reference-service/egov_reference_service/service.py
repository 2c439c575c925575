"""What every part of a service shares: its configuration, its database and its metrics."""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.pool
from flask import render_template, request

from egov_reference_service.health import Metrics

log = logging.getLogger("egov-service")

SCHEMAS = {
    "slawe": """CREATE TABLE IF NOT EXISTS requests (
        id bigserial PRIMARY KEY, citizen text NOT NULL, kind text NOT NULL,
        note text NOT NULL DEFAULT '', status text NOT NULL DEFAULT 'submitted',
        filed timestamptz NOT NULL DEFAULT now())""",
    "sipanse": """CREATE TABLE IF NOT EXISTS licences (
        id bigserial PRIMARY KEY, business text NOT NULL, licence text NOT NULL,
        activity text NOT NULL DEFAULT '', status text NOT NULL DEFAULT 'submitted',
        filed timestamptz NOT NULL DEFAULT now())""",
    "spcp": """CREATE TABLE IF NOT EXISTS residents (
        nik char(16) PRIMARY KEY, name text NOT NULL, birth_date date NOT NULL,
        district text NOT NULL);
        CREATE TABLE IF NOT EXISTS lookups (
        id bigserial PRIMARY KEY, client text NOT NULL, nik text NOT NULL,
        found boolean NOT NULL, at timestamptz NOT NULL DEFAULT now())""",
    "eabsen": """CREATE TABLE IF NOT EXISTS attendance (
        id bigserial PRIMARY KEY, employee text NOT NULL,
        day date NOT NULL DEFAULT current_date, check_in timestamptz,
        check_out timestamptz, UNIQUE (employee, day))""",
    "records": """CREATE TABLE IF NOT EXISTS records (
        id bigserial PRIMARY KEY, owner text NOT NULL, body text NOT NULL,
        filed timestamptz NOT NULL DEFAULT now())""",
}
# Synthetic residents for the lab's data-exchange API (never real people).
LAB_RESIDENTS = [
    ("1771010101900001", "Budi Santoso", "1990-01-01", "Gading Cempaka"),
    ("1771020202850002", "Siti Aminah", "1985-02-02", "Ratu Agung"),
    ("1771030303000003", "Rahmat Hidayat", "2000-03-03", "Teluk Segara"),
]


def secret(path: str) -> str:
    return Path(path).read_text().strip()


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"


class Service:
    """One configured service: its settings, its database pool and its counters."""

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.name, self.kind, self.login = cfg["name"], cfg["kind"], cfg["login"]
        self.metrics = Metrics(self.name)
        db = cfg["database"]
        self.pool = psycopg2.pool.ThreadedConnectionPool(
            0, 8, host=db["host"], port=db["port"], dbname=db["name"], user=db["user"],
            password=secret(db["password_file"]), sslmode="verify-full",
            sslrootcert=db["ca_file"], connect_timeout=5, application_name=self.name)

    @contextmanager
    def cursor(self):
        conn = self.pool.getconn()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            self.pool.putconn(conn)

    def prepare_database(self) -> None:
        with self.cursor() as cur:
            cur.execute(SCHEMAS[self.kind])
            if self.kind == "spcp" and self.cfg.get("seed_lab_residents"):
                cur.executemany("INSERT INTO residents VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT (nik) DO NOTHING", LAB_RESIDENTS)

    def prepare_database_when_up(self) -> None:
        for _attempt in range(30):  # the database may still be starting with the node
            try:
                self.prepare_database()
                break
            except psycopg2.OperationalError as exc:
                log.warning("database not ready (%s), retrying", str(exc).strip())
                time.sleep(2)
        else:
            self.prepare_database()

    def database_up(self) -> bool:
        try:
            with self.cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except psycopg2.Error:
            return False

    def wrote(self, table: str, what: str, **fields) -> None:
        self.metrics.write(table)
        log.info("write %s %s %s", table, what, json.dumps(fields, default=str, sort_keys=True))

    def page(self, template: str, user: dict, **values):
        return render_template(template, cfg=self.cfg, user=user, **values)
