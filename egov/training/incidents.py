"""Exercises on incidents of the running platform: a service down behind the gateway, a
firewall rule changed by hand, a certificate about to expire, a full disk on the log
collector."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import uuid

from egov.i18n import N_, _
from egov.model import Role, Service, Stack
from egov.paths import role_defaults
from egov.training.base import Exercise, Lab, TrainingError

# ---- a service down behind the gateway ---------------------------------------------------


def lonely_service(stack: Stack) -> Service:
    """A browser-facing service that runs on one node only: when it stops, no other node
    answers for it."""
    sso = [s for s in stack.services if s.access.login == "sso"]
    found = [s for s in sso if len(s.nodes) == 1] or sso or list(stack.services)
    if not found:
        raise TrainingError(_("stack {stack} has no service").format(stack=repr(stack.name)))
    return found[0]


def wait_listening(lab: Lab, node: str, port: int, seconds: int = 30) -> bool:
    """Whether the node's home address takes connections on `port` within `seconds`."""
    address = lab.stack.derived.address[node]
    probe = ("import socket, sys; "
             "socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()")
    script = (f"for i in $(seq {seconds * 2}); do python3 -c '{probe}' {address} {port} "
              "2>/dev/null && exit 0; sleep 0.5; done; exit 1")
    return lab.run(node, script, timeout=seconds + 30).returncode == 0


class ServiceDown(Exercise):
    id = "service-down"
    number = 1
    minutes = 15
    title = N_("A service down behind the gateway")
    brief = N_(
        "Users ring the helpdesk: {title} ({url}) answers \"502 Bad Gateway\" since this "
        "morning, while the other services work. The gateway node ({gateway}) is up. Follow a "
        "request to where it stops, bring {service} back the way it is meant to run, and "
        "show that the gateway reaches it again.")
    hints = (
        N_("The gateway's error log (/var/log/nginx/error.log on {gateway}) names the backend "
           "it could not reach."),
        N_("On {node}: `systemctl status egov-{service}` and `journalctl -u egov-{service}` "
           "say whether the service runs, and since when it does not."),
        N_("`sudo systemctl start egov-{service}` starts it; a converge of the node (`egov "
           "converge lab --limit {node}`) starts every unit it manages."),
    )

    def facts(self, stack):
        svc = lonely_service(stack)
        return {"service": svc.name, "title": svc.title, "node": svc.nodes[0],
                "url": stack.public_url(stack.site_of(svc).name),
                "gateway": stack.nodes_with(Role.gateway)[0].name}

    def nodes(self, lab):
        return [self.facts(lab.stack)["node"]]

    def start(self, lab):
        f = self.facts(lab.stack)
        lab.sudo(f["node"], f"systemctl stop egov-{f['service']}")

    def check(self, lab):
        f = self.facts(lab.stack)
        return lab.failures(["test_each_service_enforces_its_access_policy",
                             "test_each_service_runs_as_its_own_user_from_its_own_environment",
                             "test_each_service_answers_health_and_metrics",
                             "test_managed_units_are_active"], [f["gateway"], f["node"]])

    def solve(self, lab):
        f = self.facts(lab.stack)
        lab.sudo(f["node"], f"systemctl start egov-{f['service']}")
        wait_listening(lab, f["node"], lab.stack.service(f["service"]).port)


# ---- a firewall rule changed by hand -----------------------------------------------------

FIREWALL_TABLE = role_defaults("firewall")["firewall__table"]
# Ports a vendor asks for "just for a moment"; the first one no flow of the stack opens.
VENDOR_PORTS = (3306, 3389, 5900, 8888, 9999)


class FirewallDrift(Exercise):
    id = "firewall-drift"
    number = 2
    minutes = 25
    title = N_("A firewall rule changed by hand")
    brief = N_(
        "A contractor's ticket, closed last night, asked to \"open a port for the vendor's "
        "tool\" on {node}. Since then part of the requests for {service} fail (the gateway "
        "sends them to {node} too), and this morning's scan finds a port open on {node} that "
        "the stack never opened. Nobody changed the stack file. Find what was changed by hand "
        "in {node}'s firewall and put it back as the stack defines it.")
    hints = (
        N_("`sudo nft list chain inet {table} input` on {node} shows the rules in force; the "
           "flows of the stack file (egov-dc:flows) say which belong there."),
        N_("`egov verify lab` compares every node's rules with the model: its failure on {node} "
           "names what is missing and what is extra."),
        N_("A converge writes the rules the stack defines and loads them again: `egov "
           "converge lab --limit {node}`."),
    )

    def facts(self, stack):
        gateway_zone = stack.nodes_with(Role.gateway)[0].zone
        for node in reversed(stack.nodes_with(Role.app)):
            mine = [s for s in stack.services if node.name in s.nodes]
            if mine:
                break
        else:
            raise TrainingError(_("stack {stack} has no service").format(stack=repr(stack.name)))
        used = {f.port for row in stack.derived.matrix.values() for flows in row.values()
                for f in flows}
        opened = next(p for p in (*VENDOR_PORTS, *range(20000, 21000)) if p not in used)
        return {"node": node.name, "service": mine[0].name, "port": mine[0].port,
                "zone": gateway_zone, "opened": opened, "table": FIREWALL_TABLE}

    def nodes(self, lab):
        return [self.facts(lab.stack)["node"]]

    def start(self, lab):
        f = self.facts(lab.stack)
        listing = lab.sudo(f["node"], f"nft -a list chain inet {FIREWALL_TABLE} input")
        rule = re.search(rf"ip saddr @zone_{f['zone']} tcp dport {f['port']} accept.*"
                         r"# handle (\d+)", listing)
        if rule is None:
            raise TrainingError(_("{node}: no rule of the firewall lets zone {zone} reach port "
                                  "{port}").format(node=f["node"], zone=f["zone"], port=f["port"]))
        lab.sudo(f["node"], f"nft delete rule inet {FIREWALL_TABLE} input handle {rule.group(1)}"
                            f" && nft insert rule inet {FIREWALL_TABLE} input tcp dport "
                            f"{f['opened']} accept")

    def check(self, lab):
        return lab.failures(["test_rules_follow_the_matrix"], self.nodes(lab))

    def solve(self, lab):
        lab.converge(*self.nodes(lab))


# ---- a certificate about to expire ---------------------------------------------------------

PKI = role_defaults("pki")
PKI_DIR, CA_DIR = PKI["pki__dir"], PKI["pki__ca_dir"]
RENEW_DAYS, VALID_DAYS = PKI["pki__renew_days"], PKI["pki__valid_days"]
HTTPS = role_defaults("gateway")["gateway__https_port"]
# What is left of the certificate the exercise puts in place.
DAYS_LEFT = 6

# On the CA node, as root: sign the request on stdin, as the CA did, but for a few days.
SIGN_SHORT = """set -eu
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cat > "$d/request.csr"
openssl x509 -req -in "$d/request.csr" -CA {ca}/ca.crt -CAkey {ca}/ca.key -set_serial 0x{serial} \
    -days {days} -copy_extensions copyall -out "$d/site.crt" 2>"$d/errors" \
    || {{ cat "$d/errors" >&2; exit 1; }}
cat "$d/site.crt"
"""


class CertificateExpiry(Exercise):
    id = "certificate-expiry"
    number = 3
    minutes = 20
    title = N_("A certificate about to expire")
    brief = N_(
        "No alert fired, but a user's browser warned that the certificate of {site} "
        "\"expires soon\". The internal CA issues certificates for {valid} days, and a converge "
        "renews each one {renew} days before its end. Find which certificates on {gateway} end "
        "within {renew} days, renew them the way the platform does, and make sure the gateway "
        "serves the new one.")
    hints = (
        N_("`sudo openssl x509 -noout -enddate -in {sites}/<name>.crt` on {gateway} prints a "
           "certificate's end; `openssl s_client -connect 127.0.0.1:{https} -servername {site}` "
           "shows the one nginx serves."),
        N_("The pki role issues a certificate again when it is missing, within {renew} days of "
           "its end or not matching its request; the CA on {ca} signs it. The file was also "
           "changed outside a converge: `egov verify lab` reports it as drift."),
        N_("`egov converge lab --limit {gateway}` renews it and reloads nginx."),
    )

    def facts(self, stack):
        svc = lonely_service(stack)
        return {"gateway": stack.nodes_with(Role.gateway)[0].name,
                "site": stack.site_of(svc).name, "ca": stack.nodes_with(Role.pki)[0].name,
                "valid": VALID_DAYS, "renew": RENEW_DAYS, "sites": f"{PKI_DIR}/sites",
                "https": HTTPS}

    def nodes(self, lab):
        return [self.facts(lab.stack)["gateway"]]

    def start(self, lab):
        f = self.facts(lab.stack)
        path = f"{f['sites']}/{f['site']}"
        request = lab.sudo(f["gateway"], f"cat {path}.csr")
        signed = lab.sudo(f["ca"], SIGN_SHORT.format(ca=CA_DIR, serial=secrets.token_hex(8),
                                                     days=DAYS_LEFT), input=request)
        lab.sudo(f["gateway"], f"cat > {path}.crt && systemctl reload nginx", input=signed)

    def check(self, lab):
        f = self.facts(lab.stack)
        found = lab.failures(["test_gateway_holds_a_certificate_per_public_name",
                              "test_managed_files_are_as_the_last_converge_left_them"],
                             [f["gateway"]])
        served = lab.run(f["gateway"], f"echo | openssl s_client -connect 127.0.0.1:{HTTPS} "
                                       f"-servername {f['site']} 2>/dev/null | openssl x509 "
                                       f"-noout -enddate -checkend {RENEW_DAYS * 86400}")
        end = re.search(r"notAfter=(.+)", served.stdout)
        if end is None:
            found.append(_("{gateway}: nginx serves no certificate for {site}").format(**f))
        elif served.returncode != 0:
            found.append(_("{gateway}: the certificate nginx serves for {site} ends on {end}, "
                           "within {renew} days").format(end=end.group(1).strip(), **f))
        return found

    def solve(self, lab):
        lab.converge(*self.nodes(lab))


# ---- a full disk on the log collector ------------------------------------------------------

LOGGING = role_defaults("logging")
REMOTE_DIR, LOG_PORT = LOGGING["logging__remote_dir"], LOGGING["logging__port"]
# The collector's disk for the exercise: a small memory file system over its folder (a
# container cannot mount; this machine's root does, in the node's mount namespace), so
# that filling it fills neither the volume nor this machine's disk.
DISK_SIZE = "16m"
DISK_SOURCE = "egov-training"
FULL_PERCENT = 90
ARRIVAL_SECONDS = 8
FLOOD_LINE = ("{node} egov-debug[4242]: DEBUG request dump: method=POST path=/records "
              "headers={{accept: */*, user-agent: monitor/1.0}} body=<4096 bytes>")


def _as_root_here(argv: list[str]) -> list[str]:
    return argv if os.geteuid() == 0 else ["sudo", "-n", *argv]


def in_node_mounts(lab: Lab, node: str, *argv: str) -> None:
    """Run a command of this machine in the node's mount namespace, as root."""
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}",
                          lab.stack.container_name(node)], capture_output=True, text=True)
    if pid.returncode != 0 or not pid.stdout.strip().isdigit() or pid.stdout.strip() == "0":
        raise TrainingError(_("{node}: its container is not running ({error})").format(
            node=node, error=pid.stderr.strip()))
    # The node's paths (-r -w: its root and working folder) and processes (-p: mount reads
    # /proc/self/mountinfo), not this machine's.
    res = subprocess.run(_as_root_here(["nsenter", "-t", pid.stdout.strip(), "-m", "-p",
                                        "-r", "-w", "--", *argv]),
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise TrainingError(_("{node}: {command} failed in its mount namespace ({error}); it "
                              "needs root on this machine").format(
                                  node=node, command=" ".join(argv), error=res.stderr.strip()))


class LogDiskFull(Exercise):
    id = "log-disk-full"
    number = 4
    minutes = 20
    title = N_("A full disk on the log collector")
    brief = N_(
        "Monitoring reports the disk that holds the received logs on {collector} ({folder}) "
        "at 100 %. Since then the collector keeps nothing new: an investigation that needs "
        "today's sign-ins would find a gap. Find what fills the disk, make room without "
        "deleting the logs of other nodes, and make sure a line logged on a node arrives at "
        "the collector again.")
    hints = (
        N_("`df -h {folder}` and `sudo du -sh {folder}/*` on {collector} show what takes the "
           "space."),
        N_("A file rsyslog still holds open keeps its space after `rm`: restart rsyslog "
           "(`sudo systemctl restart rsyslog`) after removing it, or empty it with `truncate -s "
           "0`."),
        N_("`logger test` on {source}, then `sudo tail {folder}/{source}/syslog.log` on "
           "{collector}: the line arrives within seconds once there is room; the nodes "
           "reconnect to a restarted collector by themselves."),
    )

    def facts(self, stack):
        collectors, apps = stack.nodes_with(Role.logging), stack.nodes_with(Role.app)
        if not collectors or not apps:
            raise TrainingError(_("stack {stack} has no log collector and app node").format(
                stack=repr(stack.name)))
        return {"collector": collectors[0].name, "folder": REMOTE_DIR, "source": apps[0].name,
                "noisy": apps[-1].name}

    def nodes(self, lab):
        return [self.facts(lab.stack)["collector"]]

    def _flood(self, f) -> str:
        return f"{REMOTE_DIR}/{f['noisy']}/syslog.log"

    def _mounted(self, lab: Lab, collector: str) -> bool:
        return lab.run(collector, f"grep -q '^{DISK_SOURCE} {REMOTE_DIR} ' /proc/mounts"
                       ).returncode == 0

    def start(self, lab):
        f = self.facts(lab.stack)
        node = f["collector"]
        if self._mounted(lab, node):
            raise TrainingError(_("{node}: the exercise's disk is still mounted on {folder}: "
                                  "`egov training reset {number}` first").format(
                                      node=node, folder=REMOTE_DIR, number=self.number))
        group = lab.sudo(node, f"stat -c %g {REMOTE_DIR}").strip()
        # rsyslog is stopped while one node's debug output fills the new disk to the last
        # page, and starts again on it: no file it writes has room left in its last page.
        lab.sudo(node, "systemctl stop rsyslog")
        try:
            in_node_mounts(lab, node, "mount", "-t", "tmpfs", "-o",
                           f"size={DISK_SIZE},mode=0750,uid=0,gid={group},nosuid,nodev,"
                           "noexec", DISK_SOURCE, REMOTE_DIR)
        except TrainingError:
            lab.sudo(node, "systemctl start rsyslog")
            raise
        flood = self._flood(f)
        lab.sudo(node, f"install -d -m 0750 -o root -g adm {REMOTE_DIR}/{f['noisy']} && "
                       f"touch {flood} && chgrp adm {flood} && chmod 0640 {flood} && "
                       f"(yes '{FLOOD_LINE.format(node=f['noisy'])}' >> {flood} 2>/dev/null; "
                       "true) && systemctl start rsyslog")
        percent, _free = self._usage(lab, node)
        if percent < FULL_PERCENT:
            raise TrainingError(_("{node}: {folder} is only {percent}% full after the start")
                                .format(node=node, folder=REMOTE_DIR, percent=percent))

    def _usage(self, lab: Lab, node: str) -> tuple[int, int]:
        fields = lab.sudo(node, f"df -Pk {REMOTE_DIR} | tail -n 1").split()
        return int(fields[4].rstrip("%")), int(fields[3]) // 1024

    def _arrives(self, lab: Lab, f: dict) -> bool:
        marker = f"egov-training-{uuid.uuid4().hex}"
        lab.run(f["source"], ["logger", "-t", "egov-training", marker])
        path = f"{REMOTE_DIR}/{f['source']}/syslog.log"
        return lab.wait(lambda: lab.run(f["collector"], ["sudo", "-n", "grep", "-qF", marker,
                                                         path]).returncode == 0,
                        ARRIVAL_SECONDS)

    def check(self, lab):
        f = self.facts(lab.stack)
        found = []
        percent, free = self._usage(lab, f["collector"])
        if percent >= FULL_PERCENT:
            found.append(_("{collector}: {folder} is {percent}% full ({free} MB free): the "
                           "collector cannot keep what it receives").format(
                               percent=percent, free=free, **f))
        if not self._arrives(lab, f):
            found.append(_("a line logged on {source} did not reach {collector}:{folder}/"
                           "{source}/syslog.log within {seconds} s").format(
                               seconds=ARRIVAL_SECONDS, **f))
        if found:
            return found
        return lab.failures(["test_forwarder_is_connected_to_every_collector",
                             "test_log_line_arrives_at_every_collector"],
                            [f["source"], f["collector"]])

    def reconnect(self, lab: Lab) -> None:
        """Have every node send a line until its forwarder is connected again: rsyslog
        reconnects to a restarted collector when it next has something to send."""
        waiting = [n.name for n in lab.stack.nodes]

        def connected() -> bool:
            for node in list(waiting):
                res = lab.run(node, f"logger -t egov-training 'the log collector is back'; "
                                    f"sleep 1; ss -tnH state established '( dport = :{LOG_PORT} )'")
                if res.stdout.strip():
                    waiting.remove(node)
            return not waiting
        lab.wait(connected, 60, step=2)

    def solve(self, lab):
        f = self.facts(lab.stack)
        lab.sudo(f["collector"], f"rm -f {self._flood(f)} && systemctl restart rsyslog")
        self.reconnect(lab)

    def tidy(self, lab):
        node = self.facts(lab.stack)["collector"]
        if not self._mounted(lab, node):
            return
        while self._mounted(lab, node):
            in_node_mounts(lab, node, "umount", "-l", REMOTE_DIR)
        lab.sudo(node, "systemctl restart rsyslog")
        self.reconnect(lab)

    def reset(self, lab):
        self.tidy(lab)
        if self.check(lab):
            lab.converge(*self.nodes(lab))
