"""`egov backup` and `egov restore`: run a stack's dumps now; restore the latest dump of a
database into a fresh database beside it, or in place of the live one (a node made again
after its disk was lost); restore the latest dump of the directory in place of its
database.

Everything runs over SSH through the stack's own SSH config (`ssh -F <state>/ssh/ssh_config
<node> -- sudo ...`), as an administrator would: the backup node's systemd units take the
dumps (`roles/backup`), `egov-restic` there reads its repository, and the database node's
local postgres account restores. A dump travels from the backup node to the database node
through this machine's pipe, so the backup role on the database stays read-only.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass

from egov.i18n import _
from egov.lab import LabError
from egov.model import Role, Stack
from egov.node_ssh import node_argv, run_on_node

DATABASE_UNIT = "egov-backup-database@{}.service"
SERVICE_UNIT = "egov-{}.service"
DIRECTORY_UNIT = "egov-backup-directory.service"
RESTIC = "/usr/local/sbin/egov-restic"
# What the directory's dump is tagged and named in the repository (roles/backup).
DIRECTORY_TAG = "directory"
DIRECTORY_FILE = "/directory.ldif"
# Attributes slapd computes for every entry and never stores: left out of a restore.
DYNAMIC_ATTRIBUTES = ("entryDN", "hasSubordinates", "subschemaSubentry")
# PostgreSQL names this command creates or drops; nothing needing quotes.
TARGET_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
BACKUP_TIMEOUT = 3600


class BackupError(LabError):
    """A backup or restore step failed; the message says which node and what it answered."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]

    @property
    def database(self) -> str | None:
        return next((t.removeprefix("db:") for t in self.tags if t.startswith("db:")), None)


@dataclass(frozen=True)
class Restored:
    database: str
    target: str
    snapshot: Snapshot
    checksums: dict[str, str]  # table -> md5 of its rows in the target


@dataclass(frozen=True)
class RestoredDirectory:
    node: str
    snapshot: Snapshot
    entries: int


def _run(stack: Stack, node: str, command: list[str], *, input: str | None = None,
         timeout: int = 300) -> subprocess.CompletedProcess:
    try:
        return run_on_node(stack, node, command, input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackupError(_("{node}: {command} did not finish in {seconds} s").format(
            node=node, command=f"`{shlex.join(command)}`", seconds=timeout)) from None


def _check(stack: Stack, node: str, command: list[str], **kw) -> str:
    res = _run(stack, node, command, **kw)
    if res.returncode != 0:
        raise BackupError(_("{node}: {command} failed ({code}): {output}").format(
            node=node, command=f"`{shlex.join(command)}`", code=res.returncode,
            output=res.stderr.strip() or res.stdout.strip()))
    return res.stdout


def _first(stack: Stack, role: Role) -> str:
    nodes = stack.nodes_with(role)
    if not nodes:
        raise BackupError(_("stack {stack} has no node with the role {role}").format(
            stack=repr(stack.name), role=repr(role.value)))
    return nodes[0].name


def _databases(stack: Stack, wanted: list[str] | None) -> list[str]:
    have = [s.name for s in stack.services if s.database]
    if not wanted:
        if not have:
            raise BackupError(_("stack {stack} has no service with a database").format(
                stack=repr(stack.name)))
        return have
    unknown = [w for w in wanted if w not in have]
    if unknown:
        raise BackupError(_("no service database {names} in stack {stack}; it has: {have}")
                          .format(names=", ".join(map(repr, unknown)), stack=repr(stack.name),
                                  have=", ".join(have) or _("(none)")))
    return list(dict.fromkeys(wanted))


def snapshots(stack: Stack) -> list[Snapshot]:
    """Every snapshot of the backup node's repository, oldest first."""
    node = _first(stack, Role.backup)
    out = _check(stack, node, ["sudo", "-n", RESTIC, "snapshots", "--json"])
    found = [Snapshot(s["id"], s.get("short_id", s["id"][:8]), s["time"],
                      tuple(s.get("tags") or ()), tuple(s.get("paths") or ()))
             for s in json.loads(out or "[]")]
    return sorted(found, key=lambda s: s.time)


def latest(stack: Stack, database: str) -> Snapshot:
    found = [s for s in snapshots(stack) if s.database == database]
    if not found:
        raise BackupError(_("the repository of {node} holds no dump of database {database}: "
                            "run `egov backup {stack}` first").format(
                                node=_first(stack, Role.backup), database=repr(database),
                                stack=stack.name))
    return found[-1]


def latest_directory(stack: Stack) -> Snapshot:
    found = [s for s in snapshots(stack) if DIRECTORY_TAG in s.tags]
    if not found:
        raise BackupError(_("the repository of {node} holds no dump of the directory: run "
                            "`egov backup {stack}` first").format(
                                node=_first(stack, Role.backup), stack=stack.name))
    return found[-1]


def run_backup(stack: Stack, databases: list[str] | None = None, log=print) -> list[Snapshot]:
    """Start the dump units now (the named databases, else every service database and the
    directory when the stack has one), wait for them, return the snapshots they made."""
    node = _first(stack, Role.backup)
    names = _databases(stack, databases)
    units = [DATABASE_UNIT.format(n) for n in names]
    if not databases and stack.nodes_with(Role.directory):
        units.append(DIRECTORY_UNIT)
    before = {s.id for s in snapshots(stack)}
    log(_("{node}: starting {units}").format(node=node, units=", ".join(units)))
    # A oneshot unit's start returns when its job has finished (or failed).
    res = _run(stack, node, ["sudo", "-n", "systemctl", "start", *units], timeout=BACKUP_TIMEOUT)
    if res.returncode != 0:
        journal = _run(stack, node, ["sudo", "-n", "journalctl", "--no-pager", "-n", "20",
                                     *[a for u in units for a in ("-u", u)]])
        raise BackupError(_("{node}: backup failed: {error}").format(
            node=node, error=res.stderr.strip()) + f"\n{journal.stdout}")
    new = [s for s in snapshots(stack) if s.id not in before]
    missing = [n for n in names if not any(s.database == n for s in new)]
    if missing:
        raise BackupError(_("{node}: no new snapshot of {names} after the backup").format(
            node=node, names=", ".join(missing)))
    return new


def _psql(stack: Stack, node: str, database: str, sql: str) -> str:
    return _check(stack, node, ["sudo", "-n", "-u", "postgres", "psql", "-XqtA",
                                "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"], input=sql)


def database_exists(stack: Stack, database: str) -> bool:
    node = _first(stack, Role.database)
    return _psql(stack, node, "postgres",
                 f"SELECT 1 FROM pg_database WHERE datname = '{database}';\n").strip() == "1"


def checksums(stack: Stack, database: str) -> dict[str, str]:
    """md5 of every user table's rows (in a stable order) in a database of the database
    node: two databases with equal checksums hold the same table contents."""
    if not TARGET_NAME.match(database):
        raise BackupError(_("{database} is not a plain database name").format(
            database=repr(database)))
    node = _first(stack, Role.database)
    tables = _psql(stack, node, database,
                   "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                   "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;\n")
    result = {}
    for table in tables.split():
        sql = (f"SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), md5('')) "
               f"FROM {table} AS t;\n")
        result[table] = _psql(stack, node, database, sql).strip()
    return result


def restore(stack: Stack, database: str | None = None, target: str = "{db}_restored",
            replace: bool = False, log=print) -> list[Restored]:
    """Restore the latest dump of each service database (or the named one) into a new
    database on the database node, named by `target` ("{db}" stands for the database)."""
    names = _databases(stack, [database] if database else None)
    if len(names) > 1 and "{db}" not in target:
        raise BackupError(_("restoring {count} databases into one target {target}: name one "
                            "database with --database, or put {{db}} in the target").format(
                                count=len(names), target=repr(target)))
    services = {s.name for s in stack.services}
    plan = []
    for name in names:
        into = target.replace("{db}", name)
        if not TARGET_NAME.match(into):
            raise BackupError(_("target {target} is not a plain PostgreSQL name (lower-case "
                                "letters, digits and '_', at most 63)").format(target=repr(into)))
        if into in services or into in ("postgres", "template0", "template1"):
            raise BackupError(_("target {target} is a live database; restore into a new name")
                              .format(target=repr(into)))
        plan.append((name, into))

    db_node = _first(stack, Role.database)
    # Every dump found and every target free before anything is changed.
    snaps = {name: latest(stack, name) for name, _ in plan}
    existing = [into for _, into in plan if database_exists(stack, into)]
    if existing and not replace:
        raise BackupError(_("{node}: database(s) {names} already exist; choose another "
                            "--target or pass --replace").format(node=db_node,
                                                                 names=", ".join(existing)))
    done = []
    for name, into in plan:
        snap = snaps[name]
        if into in existing:
            _check(stack, db_node, ["sudo", "-n", "-u", "postgres", "dropdb", "--force", into])
        log(_("{node}: restoring {database} from snapshot {id} ({time}) into {target}").format(
            node=db_node, database=name, id=snap.short_id, time=snap.time, target=into))
        _load_dump(stack, name, snap, into)
        done.append(Restored(name, into, snap, checksums(stack, into)))
    return done


def _load_dump(stack: Stack, name: str, snap: Snapshot, into: str) -> None:
    """A new database `into`, owned by the service's role, with the dump of `name` from
    `snap`; on failure nothing of it is left."""
    backup_node = _first(stack, Role.backup)
    db_node = _first(stack, Role.database)
    _check(stack, db_node, ["sudo", "-n", "-u", "postgres", "createdb", "-O", name, into])
    dump = subprocess.Popen(
        node_argv(stack, backup_node, ["sudo", "-n", RESTIC, "dump", snap.id, f"/{name}.dump"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.run(
        node_argv(stack, db_node,
                  ["sudo", "-n", "-u", "postgres", "pg_restore", "--exit-on-error",
                   "--single-transaction", "--no-owner", f"--role={name}", "-d", into]),
        stdin=dump.stdout, capture_output=True, text=True, timeout=BACKUP_TIMEOUT)
    dump.stdout.close()
    dump_err = dump.stderr.read().decode(errors="replace")
    dump.wait(timeout=60)
    if dump.returncode != 0 or load.returncode != 0:
        _run(stack, db_node, ["sudo", "-n", "-u", "postgres", "dropdb", "--if-exists", into])
        raise BackupError(
            _("restore of {database} into {target} failed: restic dump on {backup_node} exited "
              "{dump_code} ({dump_error}); pg_restore on {db_node} exited {load_code} "
              "({load_error})").format(
                  database=name, target=into, backup_node=backup_node, dump_code=dump.returncode,
                  dump_error=dump_err.strip(), db_node=db_node, load_code=load.returncode,
                  load_error=load.stderr.strip()))


def _swap_sql(live: str, staged: str) -> str:
    """Put `staged` in the place of `live`, with the live database's own privileges (the
    database role's: who may connect); the replaced one is dropped."""
    old = f"{live}_replaced"
    return (
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname IN ('{live}', '{staged}') AND pid <> pg_backend_pid();\n"
        f"SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', '{staged}') FROM pg_database "
        f"WHERE datname = '{live}' AND datacl IS NOT NULL \\gexec\n"
        f"SELECT format('GRANT %s ON DATABASE %I TO %s', a.privilege_type, '{staged}', "
        f"CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) "
        f"END) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = '{live}' \\gexec\n"
        # a copy an earlier swap replaced and could not drop
        f"DROP DATABASE IF EXISTS {old};\n"
        # both names change together or neither does
        f"BEGIN;\n"
        f"ALTER DATABASE {live} RENAME TO {old};\n"
        f"ALTER DATABASE {staged} RENAME TO {live};\n"
        f"COMMIT;\n"
        f"DROP DATABASE {old};\n")


def restore_in_place(stack: Stack, database: str | None = None,
                     log=print) -> list[Restored]:
    """Replace each live service database (or the named one) with its latest dump, as after
    the loss of the database node's disk. Each dump is restored beside the live database
    first; only a complete restore is swapped in, while the services that use it are
    stopped on their nodes (and started again whatever happens)."""
    names = _databases(stack, [database] if database else None)
    db_node = _first(stack, Role.database)
    staged = {name: f"{name}_restoring" for name in names}
    bad = [t for t in staged.values() if not TARGET_NAME.match(t)]
    if bad:
        raise BackupError(_("database name(s) too long to restore beside: {names}").format(
            names=", ".join(bad)))
    snaps = {name: latest(stack, name) for name in names}
    done = []
    for name in names:
        snap, into = snaps[name], staged[name]
        if database_exists(stack, into):  # left by a restore that was killed
            _check(stack, db_node, ["sudo", "-n", "-u", "postgres", "dropdb", "--force", into])
        log(_("{node}: restoring {database} from snapshot {id} ({time}) beside it").format(
            node=db_node, database=name, id=snap.short_id, time=snap.time))
        _load_dump(stack, name, snap, into)
        users = stack.service(name).nodes
        unit = SERVICE_UNIT.format(name)
        log(_("stopping {unit} on {nodes}; putting the restored {database} in place").format(
            unit=unit, nodes=", ".join(users), database=name))
        try:
            for node in users:
                _check(stack, node, ["sudo", "-n", "systemctl", "stop", unit])
            _psql(stack, db_node, "postgres", _swap_sql(name, into))
        finally:
            for node in users:
                _run(stack, node, ["sudo", "-n", "systemctl", "start", unit])
        done.append(Restored(name, name, snap, checksums(stack, name)))
    return done


def _without_dynamic(ldif: str) -> tuple[str, int]:
    """The dump without the attributes slapd computes (slapadd refuses them), and its
    number of entries."""
    kept, dropping, entries = [], False, 0
    for line in ldif.splitlines():
        if line.startswith(" ") and dropping:
            continue  # the folded rest of a dropped value
        name = line.split(":", 1)[0]
        dropping = name in DYNAMIC_ATTRIBUTES
        if not dropping:
            kept.append(line)
            entries += name == "dn"
    return "\n".join(kept) + "\n", entries


def restore_directory(stack: Stack, log=print) -> RestoredDirectory:
    """Replace the directory's database with its latest dump, as after the loss of the
    directory node's disk: slapd is stopped, the dump loaded with slapadd into an empty
    database and slapd started again; if the load fails, the previous database is put
    back as it was."""
    from egov.paths import role_vars

    node = _first(stack, Role.directory)
    snap = latest_directory(stack)
    ldif, entries = _without_dynamic(_check(
        stack, _first(stack, Role.backup), ["sudo", "-n", RESTIC, "dump", snap.id,
                                            DIRECTORY_FILE]))
    if entries == 0:
        raise BackupError(_("the directory dump {id} holds no entry").format(id=snap.short_id))
    data = role_vars("directory")["__directory_data_dir"]
    script = f"""set -eu
data={shlex.quote(data)}; aside="$data/before-restore"
systemctl stop slapd
rm -rf "$aside"; mkdir -m 0700 "$aside"
mv "$data/data.mdb" "$aside/"; rm -f "$data/lock.mdb"
if slapadd -q -b {shlex.quote(stack.directory_suffix)}; then
    chown openldap:openldap "$data"/*.mdb; rm -rf "$aside"; systemctl start slapd
else
    rm -f "$data"/*.mdb; mv "$aside/data.mdb" "$data/"; rmdir "$aside"
    chown openldap:openldap "$data/data.mdb"; systemctl start slapd; exit 1
fi
"""
    log(_("{node}: restoring the directory from snapshot {id} ({time}): {entries} entries")
        .format(node=node, id=snap.short_id, time=snap.time, entries=entries))
    _check(stack, node, ["sudo", "-n", "sh", "-c", script], input=ldif)
    return RestoredDirectory(node, snap, entries)
