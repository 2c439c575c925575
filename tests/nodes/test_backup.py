"""Backup nodes: a restic repository on the node's volume, nightly dumps of every service
database through systemd timers, retention, and the directory dump only with a directory."""

import json
import re
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from egov.model import Role
from egov.paths import state_dir

pytestmark = pytest.mark.control("EGOV-BACKUP")

CONFIG = "/etc/egov-backup"
# A dump may still be running when the next one is due.
GRACE = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _only_backup_nodes(node):
    if Role.backup not in node.roles:
        pytest.skip(f"{node.name} has no backup role")


def test_packages_installed(host, name):
    for pkg in ("restic", "postgresql-client-17"):
        assert host.package(pkg).is_installed, f"{name}: package {pkg} is not installed"


@pytest.mark.slow
def test_repository_is_initialised_on_the_volume(host, name):
    mounted = host.run("findmnt -n -o TARGET /srv/restic").stdout.strip()
    assert mounted == "/srv/restic", f"{name}: /srv/restic is not a mounted volume"
    with host.sudo():
        repo = host.file("/srv/restic")
        assert repo.user == "root" and repo.mode == 0o700, \
            f"{name}: /srv/restic is {oct(repo.mode)} owned by {repo.user}"
        assert host.file("/srv/restic/config").exists, f"{name}: restic repository not initialised"
        check = host.run("/usr/local/sbin/egov-restic cat config")
    assert check.rc == 0, f"{name}: the repository does not open with its password: {check.stderr}"


def test_secrets_on_the_node_are_root_only(host, name):
    with host.sudo():
        assert host.file(CONFIG).mode == 0o700, f"{name}: {CONFIG} is not 0700"
        for path in ("restic-password", "pgpass", "backup.env"):
            f = host.file(f"{CONFIG}/{path}")
            assert f.exists, f"{name}: {CONFIG}/{path} missing"
            assert f.user == "root" and f.mode == 0o600, \
                f"{name}: {CONFIG}/{path} is {oct(f.mode)} owned by {f.user}"


def test_repository_password_is_private_on_the_control_machine(name, stack):
    path = state_dir(stack.name) / "secrets" / "restic" / "repository"
    assert path.is_file(), f"{name}: no generated repository password {path}"
    assert path.stat().st_mode & 0o777 == 0o600, f"{name}: {path} is not 0600"


def test_a_timer_per_service_database(host, name, stack):
    for svc in (s for s in stack.services if s.database):
        unit = f"egov-backup-database@{svc.name}.timer"
        timer = host.service(unit)
        assert timer.is_enabled, f"{name}: {unit} is not enabled"
        assert timer.is_running, f"{name}: {unit} is not active"
        cal = host.check_output(f"systemctl show -P TimersCalendar {unit}")
        normalized = host.check_output(f"systemd-analyze calendar '{svc.backup_schedule}' "
                                       "| sed -n 's/^ *Normalized form: //p'")
        assert normalized in cal, f"{name}: {unit} runs on {cal!r}, not {svc.backup_schedule!r}"


def test_retention_timer(host, name):
    timer = host.service("egov-backup-prune.timer")
    assert timer.is_enabled and timer.is_running, f"{name}: egov-backup-prune.timer not active"
    unit = host.file("/etc/systemd/system/egov-backup-prune.service").content_string
    assert "forget --prune" in unit and "--keep-daily" in unit, \
        f"{name}: egov-backup-prune.service does not apply a retention policy"


def test_directory_dump_only_with_a_directory(host, name, stack):
    timer = host.service("egov-backup-directory.timer")
    if stack.nodes_with(Role.directory):
        assert timer.is_enabled and timer.is_running, \
            f"{name}: egov-backup-directory.timer is not active though the stack has a directory"
    else:
        assert not timer.is_enabled and not timer.is_running, \
            f"{name}: egov-backup-directory.timer is active but the stack has no directory"


def test_database_reached_over_tls_as_the_backup_role(host, name, stack):
    dbs = [s.name for s in stack.services if s.database]
    if not dbs or not stack.nodes_with(Role.database):
        pytest.skip("no service database in this stack")
    with host.sudo():
        out = host.run(f"sh -c 'set -a; . {CONFIG}/backup.env; psql -XtA -d {dbs[0]} "
                       "-c \"SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()\"'")
    assert out.rc == 0, f"{name}: cannot reach database {dbs[0]} as role backup: {out.stderr}"
    ssl, version = out.stdout.strip().split("|")
    assert ssl == "t" and version in ("TLSv1.2", "TLSv1.3"), \
        f"{name}: connection to {dbs[0]} is not TLS 1.2+ ({out.stdout.strip()})"


def _period(host, timer: str) -> timedelta:
    """The time between two runs of a timer, from its installed calendar expression."""
    calendar = re.search(r"OnCalendar=(.+?) ;",
                         host.check_output(f"systemctl show -P TimersCalendar {timer}")).group(1)
    out = host.check_output(f"TZ=UTC systemd-analyze calendar --iterations=2 "
                            f"{shlex.quote(calendar)}")
    when = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S")
            for m in re.findall(r"(?:Next elapse|Iter(?:\.|ation) #2): \w+ (\S+ \S+)", out)]
    assert len(when) == 2, f"cannot read the period of {timer}: {out}"
    return when[1] - when[0]


def _snapshot_time(text: str) -> datetime:
    # restic writes nanoseconds; Python reads at most microseconds
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text)).astimezone(UTC)


@pytest.mark.slow
def test_latest_backup_is_younger_than_its_schedule_allows(host, name, stack, evidence):
    due = {f"db:{s.name}": f"egov-backup-database@{s.name}.timer"
           for s in stack.services if s.database}
    if stack.nodes_with(Role.directory):
        due["directory"] = "egov-backup-directory.timer"
    with host.sudo():
        snaps = json.loads(host.check_output("/usr/local/sbin/egov-restic snapshots --json"))
    now = datetime.now(UTC)
    stale, seen = [], []
    for tag, timer in sorted(due.items()):
        times = [_snapshot_time(s["time"]) for s in snaps if tag in s.get("tags", [])]
        limit = _period(host, timer) + GRACE
        if not times:
            stale.append(f"{tag}: no backup at all")
            continue
        age = now - max(times)
        seen.append(f"{tag} {int(age.total_seconds() // 60)} min old (limit {limit})")
        if age > limit:
            stale.append(f"{tag}: latest backup is {age} old, its schedule allows {limit}")
    evidence("; ".join(seen))
    assert not stale, f"{name}: backups older than their schedule allows:\n" + "\n".join(stale)
