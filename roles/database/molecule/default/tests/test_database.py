"""The database role alone on a node that runs the services and the backup itself: the
lab's checks that need no stack (tests/nodes/test_database.py), then pg_hba, the roles and
the generated passwords for the scenario's services, as PostgreSQL reports them."""

import re
import shlex

from egov.paths import state_dir
from tests.nodes.test_database import (  # noqa: F401 (collected here)
    BACKUP_ROLE,
    PORT,
    _psql,
    test_data_directory_on_the_volume,
    test_postgresql_running_and_enabled,
    test_tls_and_scram_are_required_settings,
)

SERVICE = "portal"  # the scenario's one service with a database; "news" has none


def _address(host) -> str:
    return host.interface("eth0").addresses[0]


def test_listens_only_on_the_node_address(host, name):
    got = {s for s in host.socket.get_listening_sockets()
           if re.match(rf"^tcp6?://.*:{PORT}$", s)}
    want = {f"tcp://{_address(host)}:{PORT}"}
    assert got == want, f"{name}: PostgreSQL listens on {sorted(got)}, expected {sorted(want)}"


def test_pg_hba_opens_the_service_database_to_its_nodes_only(host, name):
    with host.sudo():
        hba = host.file("/etc/postgresql/17/main/pg_hba.conf")
        assert hba.user == "postgres" and hba.mode == 0o640, \
            f"{name}: pg_hba.conf is {oct(hba.mode)} owned by {hba.user}"
    source = f"{_address(host)}/32"
    want = {("local", "{all}", "{postgres}", None, "peer"),
            ("hostssl", f"{{{SERVICE}}}", f"{{{SERVICE}}}", _address(host), "scram-sha-256"),
            ("hostssl", f"{{{SERVICE}}}", f"{{{BACKUP_ROLE}}}", _address(host), "scram-sha-256")}
    # What the server loaded, not only the file.
    rows = _psql(host, "SELECT type, database, user_name, address, auth_method "
                       "FROM pg_hba_file_rules WHERE error IS NULL").splitlines()
    got = {tuple(None if f == "" else f for f in row.split("|")) for row in rows}
    assert got == want, f"{name}: PostgreSQL loaded pg_hba {sorted(got, key=str)}, " \
        f"not the service's database for {source} only"


def test_the_service_has_its_database_and_a_plain_login_role(host, name):
    owner = _psql(host, f"SELECT pg_get_userbyid(datdba) FROM pg_database "
                        f"WHERE datname = '{SERVICE}'")
    assert owner == SERVICE, f"{name}: database {SERVICE} is owned by {owner!r}"
    flags = _psql(host, f"SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = '{SERVICE}'")
    assert flags == "t|f", f"{name}: role {SERVICE} is not a plain login role ({flags!r})"
    pw = _psql(host, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{SERVICE}'")
    assert pw.startswith("SCRAM-SHA-256$"), f"{name}: role {SERVICE} has no SCRAM password"
    assert _psql(host, "SELECT count(*) FROM pg_database WHERE datname = 'news'") == "0", \
        f"{name}: a database was made for news, a service without one"
    member = _psql(host, f"SELECT pg_has_role('{BACKUP_ROLE}', 'pg_read_all_data', 'member')")
    assert member == "t", f"{name}: role {BACKUP_ROLE} is not a member of pg_read_all_data"


def test_the_service_logs_in_over_tls_with_its_generated_password(host, name):
    # Ansible's password lookup keeps "<password> salt=..." on one line.
    secret = state_dir("roletest") / "secrets" / "postgresql" / SERVICE
    password = secret.read_text().split()[0]
    conninfo = f"host={_address(host)} dbname={SERVICE} user={SERVICE} sslmode=require"
    res = host.run(f"PGPASSWORD={shlex.quote(password)} psql -XtA {shlex.quote(conninfo)} "
                   "-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
    assert res.rc == 0 and res.stdout.strip() == "t", \
        f"{name}: {SERVICE} cannot log in over TLS with its password: {res.stderr.strip()}"
