"""Security scores of a running stack, measured from outside the nodes.

ssh-audit (PyPI) audits the sshd of every node: no algorithm it fails or warns on, no CVE,
and its policy "Hardened Debian 13 (version 1)". Nodes other than the bastion are reached
through an SSH tunnel via the bastion, as an administrator's connection would be.

testssl.sh (Debian) scans every public name at the gateway and every TLS service inside the
zones (LDAPS, the log collector, PostgreSQL; through the bastion), with the stack's CA
trusted: no finding rated MEDIUM, HIGH or CRITICAL, and nothing older than TLS 1.2 offered
(the gateway offers exactly TLS 1.2 and 1.3).

Lynis (Debian's, from this machine, run from a copy on each node and removed after; nothing
installed there) rates every node: a hardening index of at least 85 and no warning that
egov/lynis-waivers.yaml does not accept (only container limits are), with the points each
node still loses listed by test. In the lab (elsewhere with --patch-first) the node's own
unattended-upgrades first installs the security updates published since its last daily
run, and they are listed; on staging and prod the scores change nothing by default.

    python -m egov.security_scores <stack> [--ca CA-FILE] [--patch-first]
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from egov.model import Environment, Role, Stack
from egov.node_ssh import node_argv, run_on_node
from egov.paths import PACKAGE_ROOT, role_defaults

POLICY = "Hardened Debian 13 (version 1)"
# The only difference from the policy that is accepted, and why: the nodes offer a strict
# subset of its key exchanges, the post-quantum hybrid ones, because ssh-audit itself warns
# ("does not provide protection against post-quantum attacks") on the classic ones the
# policy still lists. Any other mismatch fails.
WAIVED_SUBSETS = {"Key exchanges": "post-quantum hybrid key exchanges only (a subset of "
                                   "the policy's); ssh-audit warns on the classic ones"}


@dataclass
class SshAudit:
    node: str
    target: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cves: list[str] = field(default_factory=list)
    policy_errors: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failures or self.warnings or self.cves or self.policy_errors)


def _ssh_audit(*args: str) -> dict:
    tool = Path(sys.executable).parent / "ssh-audit"
    res = subprocess.run([str(tool), "--skip-rate-test", "-j", *args], capture_output=True,
                         text=True, timeout=120)
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"ssh-audit {' '.join(args)} exited {res.returncode}: "
                           f"{res.stdout[-500:]}{res.stderr[-500:]}") from exc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_open(port: int, banner: bool, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if banner:
                    s.recv(8)  # sshd's banner: the tunnel reaches the node
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def forwarded(stack: Stack, targets: dict, banner: bool = False):
    """{key: ("127.0.0.1", local port)} for {key: (address, port)} inside the stack, each
    forwarded by one SSH connection to the bastion, closed on exit."""
    endpoints, forwards = {}, []
    for key, (address, port) in targets.items():
        local = _free_port()
        endpoints[key] = ("127.0.0.1", local)
        forwards += ["-L", f"127.0.0.1:{local}:{address}:{port}"]
    # A connection of its own, not the shared master: it must end with this block.
    tunnel = subprocess.Popen(
        node_argv(stack, stack.bastion.name, options=[
            "-N", "-o", "ControlMaster=no", "-o", "ControlPath=none",
            "-o", "ExitOnForwardFailure=yes", *forwards]),
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _, port in endpoints.values():
            _wait_open(port, banner)
        yield endpoints
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


@contextmanager
def sshd_endpoints(stack: Stack):
    """(host, port) on loopback of every node's sshd: the bastion as published, the others
    through the bastion."""
    bastion = stack.bastion.name
    targets = {n.name: stack.ssh_endpoint(n) for n in stack.nodes if n.name != bastion}
    with forwarded(stack, targets, banner=True) as endpoints:
        yield {bastion: stack.ssh_endpoint(bastion), **endpoints}


def audit_sshd(stack: Stack) -> list[SshAudit]:
    results = []
    with sshd_endpoints(stack) as endpoints:
        for node, (host, port) in endpoints.items():
            target = f"{host}:{port}"
            result = SshAudit(node, target)
            report = _ssh_audit("-p", str(port), host)
            for kind in ("kex", "key", "enc", "mac"):
                for alg in report.get(kind, []):
                    notes = alg.get("notes", {})
                    result.failures += [f"{kind} {alg['algorithm']}: {n}"
                                        for n in notes.get("fail", [])]
                    result.warnings += [f"{kind} {alg['algorithm']}: {n}"
                                        for n in notes.get("warn", [])]
            result.cves = [f"{c.get('name')}: {c.get('description')}"
                           for c in report.get("cves", [])]
            result.policy_errors, result.waived = judge_policy(
                _ssh_audit("-P", POLICY, "-p", str(port), host))
            results.append(result)
    return results


def judge_policy(policy: dict) -> tuple[list[str], list[str]]:
    """(errors, waivers) of an ssh-audit policy result: a mismatch is waived only where
    WAIVED_SUBSETS names the field and the node offers a strict subset of the policy's."""
    errors, waived = [], []
    for err in policy.get("errors", []):
        name = err["mismatched_field"]
        actual = [a for a in err.get("actual", []) if a]
        if name in WAIVED_SUBSETS and set(actual) < set(err.get("expected_required", [])):
            waived.append(f"{name}: {WAIVED_SUBSETS[name]}")
        else:
            errors.append(f"{name}: expected {err.get('expected_required')}, got {actual}")
    if not policy.get("passed") and not policy.get("errors"):
        errors.append(f"policy failed: {json.dumps(policy)[:300]}")
    return errors, waived


TLS_FAILING = ("MEDIUM", "HIGH", "CRITICAL")
TLS_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")
TLS_ALLOWED = {"TLS1_2", "TLS1_3"}


@dataclass
class TlsScan:
    name: str
    endpoint: str
    seconds: float
    # (severity, testssl id, finding) of every finding rated LOW or worse, or WARN
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[tuple[str, str, str]]:
        return [f for f in self.findings if f[0] in TLS_FAILING]

    @property
    def ok(self) -> bool:
        return not self.failing and bool(self.offered) and set(self.offered) <= TLS_ALLOWED


def judge_testssl(name: str, endpoint: str, seconds: float, results: list[dict]) -> TlsScan:
    scan = TlsScan(name, endpoint, seconds)
    for r in results:
        if r["id"] in TLS_PROTOCOLS and r["finding"].startswith("offered"):
            scan.offered.append(r["id"])
        if r["severity"] in (*TLS_FAILING, "LOW", "WARN", "FATAL"):
            scan.findings.append((r["severity"], r["id"], r["finding"]))
    if not any(r["id"] in TLS_PROTOCOLS for r in results):
        scan.findings.append(("HIGH", "scan", "testssl.sh reported no protocols: no scan"))
    return scan


def _testssl(label: str, target: str, host: str, ca_file: Path,
             starttls: str | None = None) -> TlsScan:
    """A full testssl.sh run against target (its name is the SNI) at the address host; no
    DNS, nothing off the machine."""
    extra = ["--starttls", starttls] if starttls else []
    with tempfile.TemporaryDirectory(prefix="egov-testssl-") as tmp:
        out = Path(tmp) / "result.json"
        start = time.monotonic()
        res = subprocess.run(
            ["testssl", "--quiet", "--color", "0", "--nodns", "none", "--ip", host,
             "--add-ca", str(ca_file), "--warnings", "off", "--jsonfile", str(out), *extra,
             target],
            capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - start
        if not out.exists():
            raise RuntimeError(f"testssl {target} exited {res.returncode}: "
                               f"{res.stdout[-800:]}{res.stderr[-800:]}")
        return judge_testssl(label, f"{host} {target}", seconds, json.loads(out.read_text()))


def scan_gateway_tls(stack: Stack, ca_file: Path, parallel: int = 3) -> list[TlsScan]:
    """testssl.sh against every public name the gateways serve, a few at a time."""
    gateway = stack.nodes_with(Role.gateway)[0]
    host = str(stack.docker_host(gateway).public_address)
    port = stack.gateway.https_port
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(
            lambda site: _testssl(site.name, f"https://{site.name}:{port}", host, ca_file),
            stack.derived.sites))


def internal_tls_endpoints(stack: Stack) -> dict[str, tuple[str, int, str | None]]:
    """label -> (node, port, STARTTLS protocol) of every TLS service inside the zones, at the
    port its role listens on: LDAPS, the log collector, PostgreSQL."""
    ports = {Role.directory: (636, None),
             Role.logging: (int(role_defaults("logging")["logging__port"]), None),
             Role.database: (int(role_defaults("database")["database__port"]), "postgres")}
    return {f"{n.name}:{port}": (n.name, port, starttls)
            for role, (port, starttls) in ports.items() for n in stack.nodes_with(role)}


def scan_internal_tls(stack: Stack, ca_file: Path, parallel: int = 3) -> list[TlsScan]:
    """testssl.sh against every TLS service inside the zones, through the bastion."""
    endpoints = internal_tls_endpoints(stack)
    targets = {label: (stack.derived.address[node], port)
               for label, (node, port, _) in endpoints.items()}
    with forwarded(stack, targets) as local, ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(
            lambda label: _testssl(
                label, f"{stack.fqdn(endpoints[label][0])}:{local[label][1]}",
                local[label][0], ca_file, starttls=endpoints[label][2]),
            endpoints))


LYNIS_MIN = 85
LYNIS_WAIVERS = PACKAGE_ROOT / "egov" / "lynis-waivers.yaml"
# Debian's Lynis on this machine, laid out as its own tarball so that it runs from any
# folder (--usecwd): the program, its include files and database, plugins and profile.
LYNIS_FILES = {"lynis/lynis": "/usr/sbin/lynis", "lynis/include": "/usr/share/lynis/include",
               "lynis/db": "/usr/share/lynis/db", "lynis/plugins": "/etc/lynis/plugins",
               "lynis/default.prf": "/etc/lynis/default.prf"}
# Run as root in a folder of root's (the temporary folders are mounted noexec), then gone.
# Lynis rates pending security updates against the archive as it is at that minute (it
# refreshes the lists itself). With patch_first=1 the node's own unattended-upgrades first
# installs what the security archive published since its last daily run, as that run
# would, and each package it brought up to date is reported (egov_patched[]); what it
# could not install is still Lynis' warning PKGS-7392.
LYNIS_RUN = """set -eu
d=$(mktemp -d /root/egov-lynis.XXXXXX)
trap 'rm -rf "$d"' EXIT
tar -xzf - -C "$d"
pending() { apt-get -s upgrade 2>/dev/null | awk 'tolower($0) ~ /^inst .*security/ {print $2}'; }
if [ "$patch_first" = 1 ]; then
    apt-get -q=2 update >/dev/null 2>&1 || true
    before=$(pending)
    if [ -n "$before" ] && command -v unattended-upgrade >/dev/null; then
        unattended-upgrade >/dev/null 2>&1 || true
    fi
    after=" $(pending | tr '\\n' ' ') "
    for p in $before; do
        case "$after" in *" $p "*) ;; *) echo "egov_patched[]=$p" ;; esac
    done
fi
cd "$d/lynis"
./lynis audit system --quick --no-colors --usecwd --report-file "$d/report.dat" \
    --log-file "$d/lynis.log" >/dev/null 2>&1 || true
cat "$d/report.dat"
"""


def lynis_script(patch_first: bool) -> str:
    return f"patch_first={int(patch_first)}\n{LYNIS_RUN}"


@dataclass
class LynisScore:
    node: str
    index: int
    warnings: list[str] = field(default_factory=list)      # "TEST: text"
    patched: list[str] = field(default_factory=list)       # security updates installed first
    waived: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)   # tests that still lose points
    unexplained: list[str] = field(default_factory=list)   # of those, not in the waivers

    @property
    def ok(self) -> bool:
        return self.index >= LYNIS_MIN and not self.warnings


def lynis_tarball() -> bytes:
    buf = io.BytesIO()

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0  # Lynis refuses files not owned by root
        info.uname = info.gname = "root"
        return info
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, path in LYNIS_FILES.items():
            if not Path(path).exists():
                raise RuntimeError(f"{path} is missing: install Debian's lynis (./scripts/setup)")
            tar.add(path, arcname=name, filter=as_root)
    return buf.getvalue()


def load_lynis_waivers(path: Path = LYNIS_WAIVERS) -> dict:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in doc.get("warnings") or []:
        if entry.get("kind") != "container limit":
            raise ValueError(f"{path}: warning {entry['test']} is waived as {entry.get('kind')!r}; "
                             "only container limits may be waived")
    return doc


def judge_lynis(node: str, report: str, waivers: dict) -> LynisScore:
    """The node's score from Lynis' report file: its index, every warning not waived (a
    failure), and the tests that lose points, with those the waivers do not explain."""
    fields: dict[str, list[str]] = {}
    for line in report.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    index = int((fields.get("hardening_index") or ["0"])[0] or 0)
    score = LynisScore(node, index, patched=fields.get("egov_patched[]", []))
    waived_warnings = {w["test"] for w in waivers.get("warnings") or []}
    for raw in fields.get("warning[]", []):
        test, _, rest = raw.partition("|")
        text = f"{test}: {rest.split('|')[0]}"
        (score.waived if test in waived_warnings else score.warnings).append(text)
    explained = {p["test"] for p in waivers.get("points") or []}
    for raw in fields.get("suggestion[]", []):
        test = raw.split("|", 1)[0]
        if test not in score.suggestions:
            score.suggestions.append(test)
            if test not in explained:
                score.unexplained.append(test)
    if not fields.get("hardening_index"):
        score.warnings.append("LYNIS: no hardening index in the report (Lynis did not run)")
    return score


def audit_lynis(stack: Stack, parallel: int = 2,
                patch_first: bool | None = None) -> list[LynisScore]:
    """Lynis on every node, `parallel` at a time (each run takes a node's core for about a
    minute), from a copy sent over SSH. Security updates are installed first only where
    asked, by default in the lab: on staging and prod an audit changes nothing."""
    tarball, waivers = lynis_tarball(), load_lynis_waivers()
    if patch_first is None:
        patch_first = stack.environment == Environment.lab
    script = lynis_script(patch_first)

    def run(node: str) -> LynisScore:
        res = run_on_node(stack, node, ["sudo", "-n", "sh", "-c", script], input=tarball,
                          text=False, timeout=900)
        if res.returncode != 0:
            raise RuntimeError(f"{node}: Lynis did not run ({res.returncode}): "
                               f"{res.stderr.decode(errors='replace')[-500:]}")
        return judge_lynis(node, res.stdout.decode(errors="replace"), waivers)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(run, [n.name for n in stack.nodes]))


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from egov.model import load_stack

    args = argv if argv is not None else sys.argv[1:]
    ca_arg = args[args.index("--ca") + 1] if "--ca" in args else None
    names = [a for a in args if not a.startswith("--") and a != ca_arg]
    stack = load_stack(PACKAGE_ROOT, names[0] if names else "lab")
    results = audit_sshd(stack)
    table = Table(title=f"ssh-audit, stack {stack.name} (policy {POLICY})")
    for col in ("node", "fail", "warn", "CVE", "policy", "waived"):
        table.add_column(col)
    for r in results:
        table.add_row(r.node, str(len(r.failures)), str(len(r.warnings)), str(len(r.cves)),
                      "passed" if not r.policy_errors else f"{len(r.policy_errors)} mismatch",
                      ", ".join(w.split(":")[0] for w in r.waived))
    Console().print(table)
    for r in results:
        for line in r.failures + r.warnings + r.cves + r.policy_errors:
            print(f"{r.node}: {line}")
    for reason in sorted({w for r in results for w in r.waived}):
        print(f"waived: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = Path(ca_arg) if ca_arg else stack_ca(stack, Path(tmp))
        scans = scan_gateway_tls(stack, ca_file) + scan_internal_tls(stack, ca_file)
    table = Table(title=f"testssl.sh, stack {stack.name} (CA trusted)")
    for col in ("name or node:port", "offered", "critical/high/medium", "low/warn", "s"):
        table.add_column(col)
    for t in scans:
        table.add_row(t.name, " ".join(t.offered), str(len(t.failing)),
                      str(len(t.findings) - len(t.failing)), f"{t.seconds:.0f}")
    Console().print(table)
    for t in scans:
        for sev, ident, finding in t.findings:
            print(f"{t.name}: {sev} {ident}: {finding}")
    scores = audit_lynis(stack, patch_first=True if "--patch-first" in args else None)
    table = Table(title=f"Lynis, stack {stack.name} (at least {LYNIS_MIN}, no unwaived warning)")
    for col in ("node", "index", "warnings", "waived", "tests losing points", "unexplained",
                "security updates installed first"):
        table.add_column(col)
    for sc in scores:
        table.add_row(sc.node, str(sc.index), str(len(sc.warnings)), str(len(sc.waived)),
                      str(len(sc.suggestions)), " ".join(sc.unexplained) or "-",
                      " ".join(sc.patched) or "-")
    Console().print(table)
    for sc in scores:
        for line in sc.warnings:
            print(f"{sc.node}: warning {line}")
    return 0 if all(r.ok for r in results) and all(t.ok for t in scans) \
        and all(sc.ok for sc in scores) else 1


def stack_ca(stack: Stack, folder: Path) -> Path:
    """The stack's CA certificate, read from the bastion into folder/ca.crt."""
    res = run_on_node(stack, stack.bastion.name, ["cat", "/etc/ssl/egov/ca.crt"], timeout=60)
    res.check_returncode()
    path = folder / "ca.crt"
    path.write_text(res.stdout)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
