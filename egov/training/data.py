"""Exercises on the data: backups that stopped, a lost database restored from its backup,
and the auditor's report with a control that has no evidence."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from egov import backup
from egov.controls import catalogue
from egov.i18n import N_, _
from egov.model import Role, Service, Stack
from egov.training.base import Exercise, Lab, TrainingError
from egov.training.incidents import wait_listening
from egov.training.progress import now, parse


def snapshot_time(text: str) -> datetime:
    """restic's time of a snapshot (nanoseconds, an offset) as an aware datetime."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))


def _with_database(stack: Stack, fewest_nodes: bool = False) -> Service:
    found = [s for s in stack.services if s.database]
    if not found:
        raise TrainingError(_("stack {stack} has no service with a database").format(
            stack=repr(stack.name)))
    if fewest_nodes:
        return min(found, key=lambda s: len(s.nodes))
    return next((s for s in found if s.access.group == "citizens"), found[0])


# ---- backups that stopped ------------------------------------------------------------------


class BackupsStopped(Exercise):
    id = "backups-stopped"
    number = 7
    minutes = 15
    title = N_("Backups that stopped")
    brief = N_(
        "The auditor's sample found that the database of {title} was not backed up last night, "
        "although the other databases were, and nobody was warned. Find out why the nightly "
        "dump of {database} does not run, make it run every night again, and take the missed "
        "backup now.")
    hints = (
        N_("`systemctl list-timers --all 'egov-backup-*'` on {backup} lists the nightly dumps "
           "and when each runs next."),
        N_("A timer that is disabled and stopped never fires: `sudo systemctl enable --now "
           "{timer}` brings it back; a converge of {backup} does the same."),
        N_("`egov backup lab --database {database}` takes a dump now; `sudo egov-restic "
           "snapshots` on {backup} lists the dumps with their times."),
    )

    def facts(self, stack):
        svc = _with_database(stack)
        return {"database": svc.name, "title": svc.title,
                "backup": stack.nodes_with(Role.backup)[0].name,
                "timer": backup.DATABASE_UNIT.format(svc.name).replace(".service", ".timer")}

    def nodes(self, lab):
        return [self.facts(lab.stack)["backup"]]

    def start(self, lab):
        f = self.facts(lab.stack)
        lab.data["since"] = now()
        lab.sudo(f["backup"], f"systemctl disable --now {f['timer']}")

    def check(self, lab):
        f = self.facts(lab.stack)
        found = lab.failures(["test_a_timer_per_service_database", "test_managed_units_are_active"],
                             [f["backup"]])
        since = parse(lab.data.get("since", now()))
        try:
            latest = backup.latest(lab.stack, f["database"])
        except backup.BackupError as exc:
            return [*found, str(exc)]
        if snapshot_time(latest.time) < since:
            found.append(_("the latest dump of {database} ({time}) is older than the timer's "
                           "stop: the missed backup was not taken").format(time=latest.time, **f))
        return found

    def solve(self, lab):
        f = self.facts(lab.stack)
        lab.sudo(f["backup"], f"systemctl enable --now {f['timer']}")
        backup.run_backup(lab.stack, [f["database"]], log=lab.log)

    def reset(self, lab):
        f = self.facts(lab.stack)
        state = lab.run(f["backup"], f"systemctl is-enabled {f['timer']} && "
                                     f"systemctl is-active {f['timer']}")
        if state.returncode != 0:
            lab.converge(f["backup"])


# ---- a lost database restored from its backup ----------------------------------------------

RESTORE_TABLE = "training_restore"
RESTORE_ROWS = 250


class RestoreDatabase(Exercise):
    id = "restore-database"
    number = 8
    minutes = 30
    title = N_("A lost database restored from its backup")
    brief = N_(
        "During maintenance last night the database {database} of {title} was dropped by "
        "mistake on {db_node}; the service answers with errors since. The backup on {backup} "
        "was taken before, with the {rows} records of table {table} filed yesterday. Bring the "
        "database back from its backup, with its owner and privileges, and make sure {title} "
        "works with it again.")
    hints = (
        N_("`sudo -u postgres psql -l` on {db_node} lists the databases; `egov restore lab "
           "--help` shows the ways back from a backup."),
        N_("A restore in place swaps a dump into an existing database: first let a converge "
           "make the empty database again with its owner and privileges (`egov converge lab "
           "--limit {db_node}`)."),
        N_("`egov restore lab --in-place --database {database}` restores the latest dump "
           "beside it and swaps it in while the service is stopped."),
    )

    def facts(self, stack):
        svc = _with_database(stack, fewest_nodes=True)
        return {"database": svc.name, "title": svc.title, "table": RESTORE_TABLE,
                "rows": RESTORE_ROWS, "db_node": stack.nodes_with(Role.database)[0].name,
                "backup": stack.nodes_with(Role.backup)[0].name}

    def nodes(self, lab):
        return [self.facts(lab.stack)["db_node"]]

    def start(self, lab):
        f = self.facts(lab.stack)
        token = uuid.uuid4().hex
        lab.psql(f["database"], (
            f"DROP TABLE IF EXISTS {RESTORE_TABLE};\n"
            f"CREATE TABLE {RESTORE_TABLE} (id serial PRIMARY KEY, token text NOT NULL, "
            "filed timestamptz NOT NULL DEFAULT now() - interval '1 day', note text NOT NULL);\n"
            f"INSERT INTO {RESTORE_TABLE} (token, note) SELECT '{token}', 'berkas ' || n "
            f"FROM generate_series(1, {RESTORE_ROWS}) AS n;\n"))
        made = backup.run_backup(lab.stack, [f["database"]], log=lab.log)
        sums = backup.checksums(lab.stack, f["database"])
        lab.data.update({"token": token, "snapshot": made[-1].short_id,
                         "checksum": sums[f"public.{RESTORE_TABLE}"], "tables": sorted(sums)})
        lab.sudo(f["db_node"], f"runuser -u postgres -- dropdb --force {f['database']}")

    def check(self, lab):
        f = self.facts(lab.stack)
        try:
            if not backup.database_exists(lab.stack, f["database"]):
                return [_("{db_node}: the database {database} does not exist").format(**f)]
            sums = backup.checksums(lab.stack, f["database"])
        except backup.BackupError as exc:
            return [str(exc)]
        found = []
        missing = sorted(set(lab.data.get("tables", [])) - set(sums))
        if missing:
            found.append(_("{db_node}: {database} lacks the tables {tables}").format(
                tables=", ".join(missing), **f))
        elif "checksum" in lab.data and sums.get(f"public.{RESTORE_TABLE}") != lab.data["checksum"]:
            found.append(_("{db_node}: the {rows} records of {table} in {database} are not "
                           "those of the backup").format(**f))
        svc = lab.stack.service(f["database"])
        return found + lab.failures(["test_each_service_answers_health_and_metrics"], svc.nodes)

    def solve(self, lab):
        f = self.facts(lab.stack)
        if not backup.database_exists(lab.stack, f["database"]):
            lab.converge(f["db_node"])
        backup.restore_in_place(lab.stack, f["database"], log=lab.log)
        svc = lab.stack.service(f["database"])
        for node in svc.nodes:  # started again by the restore: answering in a moment
            wait_listening(lab, node, svc.port)

    def tidy(self, lab):
        f = self.facts(lab.stack)
        if backup.database_exists(lab.stack, f["database"]):
            lab.psql(f["database"], f"DROP TABLE IF EXISTS {RESTORE_TABLE};\n")

    def reset(self, lab):
        if not backup.database_exists(lab.stack, self.facts(lab.stack)["database"]):
            self.solve(lab)
        self.tidy(lab)


# ---- the auditor's report: a control without evidence --------------------------------------

CONTROL = "EGOV-RESTORE"


class AuditEvidence(Exercise):
    id = "audit-evidence"
    number = 9
    minutes = 30
    title = N_("The auditor's report: a control without evidence")
    brief = N_(
        "The Inspektorat's auditor visits next week and asks for the platform's audit "
        "document. Write it (`egov audit lab --lang id`), read its list of controls without "
        "evidence, and close the control that has none: {control} ({control_title}) asks for "
        "proof that a backup really restores. Restore a service database beside the live one "
        "and compare the tables; the check records what you show as evidence in your training "
        "record.")
    hints = (
        N_("The document is written to {report} in the project (Markdown and HTML); its "
           "\"controls without evidence\" section names the gap."),
        N_("`egov backup lab --database {database}` takes a fresh dump; `egov restore lab "
           "--database {database} --target {database}_restored` restores it beside the live "
           "database and prints the checksums of its tables."),
        N_("The check compares the restored tables with the live ones: take the dump just "
           "before the restore, so that nothing was written in between."),
    )

    def facts(self, stack):
        return {"control": CONTROL, "control_title": _(catalogue()[CONTROL].title),
                "database": _with_database(stack).name,
                "report": f"reports/audit-{stack.name}.md"}

    def _databases(self, lab: Lab) -> list[str]:
        """Every database as name:oid (a database made again under its old name is new)."""
        return lab.psql("postgres", "SELECT datname || ':' || oid FROM pg_database "
                                    "ORDER BY 1;\n").split()

    def _copies(self, lab: Lab) -> dict[str, str]:
        """Databases made since the start beside a service database: copy -> original."""
        before = set(lab.data.get("databases", []))
        services = sorted((s.name for s in lab.stack.services if s.database), key=len,
                          reverse=True)
        copies = {}
        for made in self._databases(lab):
            name = made.rsplit(":", 1)[0]
            original = next((s for s in services if name.startswith(f"{s}_")), None)
            if original and made not in before:
                copies[name] = original
        return copies

    def start(self, lab):
        lab.data.update({"since": now(), "databases": self._databases(lab)})

    def check(self, lab):
        f = self.facts(lab.stack)
        found = []
        report = lab.root / f["report"]
        since = parse(lab.data.get("since", now())).timestamp()
        if not report.exists() or report.stat().st_mtime < since:
            found.append(_("no auditor's document written since the exercise started "
                           "({report})").format(**f))
        copies = self._copies(lab)
        if not copies:
            found.append(_("no restore test: no database restored beside a service database "
                           "since the exercise started"))
        lab.data.pop("evidence", None)
        differ = []
        for copy, original in sorted(copies.items()):
            try:
                restored = backup.checksums(lab.stack, copy)
                live = backup.checksums(lab.stack, original)
            except backup.BackupError as exc:
                differ.append(str(exc))
                continue
            if restored and restored == live:
                lab.data["evidence"] = {"control": CONTROL, "database": original, "copy": copy,
                                        "tables": len(restored), "checked": now()}
                break
            differ.append(_("{copy}: its tables differ from those of {original}").format(
                copy=copy, original=original))
        if copies and "evidence" not in lab.data:
            found += differ
        return found

    def evidence(self, lab):
        return lab.data.get("evidence")

    def solve(self, lab):
        from egov.audit import run_audit
        f = self.facts(lab.stack)
        run_audit(lab.root, lab.stack, lab.root / "reports")
        backup.run_backup(lab.stack, [f["database"]], log=lab.log)
        backup.restore(lab.stack, f["database"], target=f"{f['database']}_restored",
                       replace=True, log=lab.log)

    def tidy(self, lab):
        for copy in self._copies(lab):
            lab.psql("postgres", f"DROP DATABASE IF EXISTS {copy} WITH (FORCE);\n")

    def reset(self, lab):
        self.tidy(lab)
