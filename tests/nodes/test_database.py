"""Database nodes: PostgreSQL 17 on the node's volume, listening only on the node's own
addresses, TLS and SCRAM on, pg_hba open per service to the nodes that run it."""

import re

import pytest

from egov.model import Role
from egov.paths import role_defaults, state_dir

pytestmark = pytest.mark.control("EGOV-DATABASE")

UNIT = "postgresql@17-main"
PORT = 5432
# The role that dumps every database.
BACKUP_ROLE = role_defaults("database")["database__backup_role"]


@pytest.fixture(autouse=True)
def _only_database_nodes(node):
    if Role.database not in node.roles:
        pytest.skip(f"{node.name} has no database role")


def _psql(host, sql: str) -> str:
    with host.sudo("postgres"):
        return host.check_output(f"psql -XtAc {sql!r}")


def _legs(stack, node_name: str) -> dict[str, str]:
    return {a.zone: a.address for a in stack.derived.attachments[node_name]}


def test_postgresql_running_and_enabled(host, name):
    assert host.package("postgresql-17").is_installed, f"{name}: postgresql-17 not installed"
    pg = host.service(UNIT)
    assert pg.is_running, f"{name}: {UNIT} is not running"
    assert pg.is_enabled, f"{name}: {UNIT} is not enabled"


def test_data_directory_on_the_volume(host, name):
    mounted = host.run("findmnt -n -o TARGET /var/lib/postgresql").stdout.strip()
    assert mounted == "/var/lib/postgresql", f"{name}: /var/lib/postgresql is not a mounted volume"
    data = _psql(host, "SHOW data_directory")
    assert data.startswith("/var/lib/postgresql/"), f"{name}: data directory is {data}"


@pytest.mark.control("SPBE-33-DB-INTERMEDIARY")
def test_listens_only_on_the_nodes_addresses(host, name, stack):
    want = {f"tcp://{addr}:{PORT}" for addr in _legs(stack, name).values()}
    got = {s for s in host.socket.get_listening_sockets()
           if re.match(rf"^tcp6?://.*:{PORT}$", s)}
    assert got == want, f"{name}: PostgreSQL listens on {sorted(got)}, expected {sorted(want)}"


@pytest.mark.control("SPBE-33-TLS")
def test_tls_and_scram_are_required_settings(host, name):
    for setting, want in (("ssl", "on"), ("password_encryption", "scram-sha-256"),
                          ("ssl_min_protocol_version", "TLSv1.2"),
                          ("ssl_cert_file", "/etc/ssl/egov/node.crt"),
                          ("ssl_key_file", "/etc/ssl/egov/node.key")):
        got = _psql(host, f"SHOW {setting}")
        assert got == want, f"{name}: PostgreSQL {setting} is {got!r}, not {want!r}"


def _expected_hba(stack, name: str) -> list[str]:
    zone = stack.node(name).zone
    backups = stack.nodes_with(Role.backup)
    lines = ["local all postgres peer"]
    for svc in stack.services:
        if not svc.database:
            continue
        allowed = [(svc.name, ref) for ref in svc.nodes] + [(BACKUP_ROLE, b.name) for b in backups]
        for role, ref in allowed:
            lines.append(f"hostssl {svc.name} {role} {_legs(stack, ref)[zone]}/32 scram-sha-256")
    return lines


@pytest.mark.control("SPBE-33-DB-INTERMEDIARY")
def test_pg_hba_is_exactly_what_the_stack_derives(host, name, stack):
    with host.sudo():
        hba = host.file("/etc/postgresql/17/main/pg_hba.conf")
        assert hba.user == "postgres" and hba.mode == 0o640, \
            f"{name}: pg_hba.conf is {oct(hba.mode)} owned by {hba.user}"
        text = hba.content_string
    got = [" ".join(line.split()) for line in text.splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
    want = _expected_hba(stack, name)
    assert sorted(got) == sorted(want), \
        f"{name}: pg_hba.conf has {got}, the stack derives {want}"
    # What the server really loaded, not only the file.
    rules = _psql(host, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NULL")
    assert int(rules) == len(want), \
        f"{name}: PostgreSQL loaded {rules} pg_hba rules, not {len(want)}"


@pytest.mark.slow
def test_each_service_has_its_database_and_role(host, name, stack):
    for svc in (s for s in stack.services if s.database):
        owner = _psql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database "
                            f"WHERE datname = '{svc.name}'")
        assert owner == svc.name, f"{name}: database {svc.name} is owned by {owner!r}"
        flags = _psql(host, "SELECT rolcanlogin, rolsuper FROM pg_roles "
                            f"WHERE rolname = '{svc.name}'")
        assert flags == "t|f", f"{name}: role {svc.name} is not a plain login role ({flags!r})"
        pw = _psql(host, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{svc.name}'")
        assert pw.startswith("SCRAM-SHA-256$"), f"{name}: role {svc.name} has no SCRAM password"
    member = _psql(host, f"SELECT pg_has_role('{BACKUP_ROLE}', 'pg_read_all_data', 'member')")
    assert member == "t", f"{name}: role backup is not a member of pg_read_all_data"


def test_roles_of_services_taken_out_cannot_log_in(host, name, stack, evidence):
    """A database named after its owner and no longer a service of the stack keeps its
    data; its role has neither the login nor a password."""
    kept = {s.name for s in stack.services if s.database} | {BACKUP_ROLE, "postgres"}
    rows = _psql(host, "SELECT r.rolname || ':' || r.rolcanlogin || ':' || "
                       "(r.rolpassword IS NOT NULL) FROM pg_database d "
                       "JOIN pg_authid r ON r.oid = d.datdba WHERE NOT d.datistemplate "
                       "AND d.datname = r.rolname ORDER BY 1").split()
    retired = [fields for fields in (row.split(":") for row in rows) if fields[0] not in kept]
    evidence(f"{len(retired)} database(s) of services no longer in the stack: "
             f"{', '.join(r[0] for r in retired) or 'none'}")
    open_ = [r[0] for r in retired if r[1:] != ["false", "false"]]
    assert not open_, (f"{name}: the roles of {', '.join(open_)} (no longer in the stack) "
                       "can still log in or keep a password")


def test_generated_passwords_are_private(name, stack):
    folder = state_dir(stack.name) / "secrets" / "postgresql"
    for role in [s.name for s in stack.services if s.database] + [BACKUP_ROLE]:
        path = folder / role
        assert path.is_file(), f"{name}: no generated password {path} on the control machine"
        mode = path.stat().st_mode & 0o777
        assert mode == 0o600, f"{name}: {path} is {oct(mode)}, not 0600"
