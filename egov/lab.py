"""Bring a stack up on the local Docker engine, converge it, verify it, take it down.

Provisioning is Ansible (community.docker, `provision.yml`); configuration is `site.yml`
over SSH through the bastion; verification is testinfra (`tests/nodes`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from egov import access, docker_plan, engine, evidence, images, inventory, node_shell, vault
from egov.ansible_run import RunResult, ansible_env, follow, run_playbook
from egov.i18n import N_, _
from egov.model import LABEL_NODE, LABEL_STACK, Stack
from egov.node_ssh import run_on_node
from egov.paths import state_dir


class LabError(RuntimeError):
    """A step of the bring-up failed; the message says which and where its log is. A
    failed converge comes with its run, for the recap per node."""

    def __init__(self, message: str, run: RunResult | None = None):
        super().__init__(message)
        self.run = run


@dataclass
class UpReport:
    stack: str
    steps: dict[str, float] = field(default_factory=dict)
    provision: RunResult | None = None
    converge: RunResult | None = None
    verify_ok: bool | None = None
    verify: VerifyRun | None = None

    def as_dict(self) -> dict:
        def run(r: RunResult | None):
            if r is None:
                return None
            return {"ok": r.ok, "seconds": round(r.seconds, 1), "changed": r.changed,
                    "changed_count": r.changed_count, "failed": r.failed, "log": str(r.log)}
        return {"stack": self.stack, "steps": {k: round(v, 1) for k, v in self.steps.items()},
                "provision": run(self.provision), "converge": run(self.converge),
                "verify_ok": self.verify_ok,
                "verify_report": str(self.verify.files["json"]) if self.verify else None}


def require_local(stack: Stack) -> None:
    from egov import rehearsal
    if not is_local(stack) and not rehearsal.is_rehearsal(stack):
        remote = [h.name for h in stack.docker_hosts if not h.url.startswith("unix://")]
        raise LabError(_("stack {stack} runs on remote Docker hosts ({hosts}): the lab "
                         "provisioner only drives the local engine; use `egov plan` to review "
                         "it and the Pulumi CLI to provision it").format(
                             stack=repr(stack.name), hosts=", ".join(remote)))


def _step(report: UpReport, name: str, log):
    class _Timer:
        def __enter__(self):
            log("[bold]" + _(name) + "[/]")
            self.start = time.monotonic()

        def __exit__(self, *exc):
            report.steps[name] = time.monotonic() - self.start
            return False
    return _Timer()


def prepare(stack: Stack, root: Path, log=print) -> Path:
    """Engine, base image, keys, Docker plan, inventory and SSH config: everything the
    playbooks need. Returns the path of the Docker plan file."""
    require_local(stack)
    engine.ensure_engine(log=log)
    images.build_base_image(root, log=log)
    keys = access.admin_keys(stack, generate=True)
    from egov import rehearsal
    plan = docker_plan.plan(stack, root, keys, cpu_limit=rehearsal.cpu_limit(stack))
    for image in images.stack_builds(stack, root):
        images.write_context(image)
    folder = state_dir(stack.name)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    plan_file = folder / "docker-plan.json"
    plan_file.write_text(json.dumps({"lab_docker__plan": plan.as_dict()}, indent=1))
    inventory.write(stack, root)
    access.write_ssh_config(stack, root)
    return plan_file


def provision(stack: Stack, root: Path, plan_file: Path, show: bool = True) -> RunResult:
    res = run_playbook(root, "provision.yml",
                       extra_vars=[f"@{plan_file}",
                                   f"lab_docker__ssh_dir={access.ssh_dir(stack)}",
                                   f"lab_docker__image_dir={state_dir(stack.name) / 'images'}"],
                       log_dir=state_dir(stack.name) / "logs",
                       progress_label=_("provision"), show=show)
    if not res.ok:
        raise LabError(_failure(N_("provisioning"), res))
    return res


def facts_dir(stack: Stack) -> Path:
    """Where converges keep the nodes' facts between runs (per stack: node names repeat)."""
    return state_dir(stack.name) / "facts"


def forget_facts(stack: Stack) -> None:
    """Drop the kept facts: provisioning may have replaced a node."""
    shutil.rmtree(facts_dir(stack), ignore_errors=True)


def converge(stack: Stack, root: Path, show: bool = True, limit: str | None = None,
             extra_vars: list[str] = ()) -> RunResult:
    """site.yml on the stack's nodes; `extra_vars` (KEY=VALUE) are one run's role settings."""
    # EGOV_MACHINE_VARS=inventory: the inventory's own lookups (a benchmark's baseline).
    resolved = os.environ.get("EGOV_MACHINE_VARS") != "inventory"
    with vault.around_converge(stack, root):  # staging, prod: the repository's secrets
        res = run_playbook(root, "site.yml", inventory=root / "inventory" / stack.name,
                           extra_vars=([json.dumps(inventory.machine_vars(stack))]
                                       if resolved else []) + list(extra_vars),
                           log_dir=state_dir(stack.name) / "logs", progress_label=_("converge"),
                           show=show, limit=limit, fact_cache=facts_dir(stack))
    if not res.ok:
        raise LabError(_failure(N_("converge"), res), run=res)
    record_baseline(stack, res)
    return res


def baseline_file(stack: Stack | str) -> Path:
    return state_dir(stack if isinstance(stack, str) else stack.name) / "managed.json"


def record_baseline(stack: Stack, res: RunResult) -> None:
    """Keep what a successful converge left on each node (files and their checksums, the
    units it started): `egov verify` reports any difference as drift. A converge limited
    to some nodes replaces only their entries."""
    path = baseline_file(stack)
    known = json.loads(path.read_text()) if path.exists() else {}
    nodes = {n.name for n in stack.nodes}
    known = {host: entry for host, entry in known.items() if host in nodes}
    for host, entry in res.managed.items():
        known[host] = {"files": dict(sorted(entry["files"].items())),
                       "units": sorted(entry["units"])}
    path.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.chmod(path, 0o600)


def _failure(what: str, res: RunResult) -> str:
    lines = [_("{what} failed (log: {log})").format(what=_(what), log=res.log)]
    for host, task, msg in res.failed[:10]:
        lines.append(f"  {host}: {task}: {msg}".rstrip())
    if not res.failed:
        lines.append("  " + _("ansible-playbook exited {code}").format(code=res.returncode))
    return "\n".join(lines)


@dataclass
class VerifyRun:
    returncode: int
    report: dict
    files: dict[str, Path]
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.report["passed"]

    def failures(self) -> list[dict]:
        return [r for r in self.report["results"] if r["outcome"] in ("failed", "error")]


# pytest workers of `egov verify`. Its checks keep a 2-core machine busy: 3 workers finished
# sooner than 4 in each of 4 alternating rounds, at about a tenth less CPU (fewer worker
# processes and node sessions). 2 were within a second of 3 either way; 3 keep a worker
# free while a long check waits on the network.
VERIFY_WORKERS = 3


def verify(stack: Stack, root: Path, workers: int = VERIFY_WORKERS, show: bool = True,
           extra: list[str] = (), report_dir: Path | None = None) -> VerifyRun:
    """Run the testinfra suite against every node through the bastion (in parallel with
    `workers` > 1), show progress, and write the JSON and HTML evidence."""
    out_dir = report_dir or evidence.reports_dir(stack)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = state_dir(stack.name) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    progress_file, result_file = logs / "verify-progress.jsonl", logs / "verify-result.json"
    for f in (progress_file, result_file):
        f.unlink(missing_ok=True)
    progress_file.touch()
    hosts = ",".join(node_shell.hostspec(n.name) for n in stack.nodes)
    # Every check states its own failure message, so pytest need not rewrite asserts (it
    # would, in every worker, for the checks and every testinfra module); and the
    # hypothesis plugin, which imports all of hypothesis at the end, has nothing to do here.
    cmd = [sys.executable, "-m", "pytest", str(root / "tests" / "nodes"), f"--hosts={hosts}",
           f"--ssh-config={access.ssh_config(stack)}", "-p", "no:cacheprovider",
           "-p", "no:hypothesispytest", "--assert=plain",
           "-p", "egov.verify_report", "-o", "addopts=", "-q", "-rfE",
           "--rootdir", str(root / "tests" / "nodes")]
    cmd += ["-n", str(workers)] if workers > 1 else ["-p", "no:xdist"]
    cmd += list(extra)
    env = ansible_env(root, {"EGOV_STACK": stack.name, "EGOV_ROOT": str(root),
                             "EGOV_VERIFY_PROGRESS": str(progress_file),
                             "EGOV_VERIFY_RESULT": str(result_file)})
    log = logs / "verify.log"
    started = evidence.now()
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    with open(log, "w", encoding="utf-8") as out, \
            Progress(TextColumn(_("verify") + " {task.description}"), BarColumn(),
                     MofNCompleteColumn(),
                     TimeElapsedColumn(), transient=True, disable=not show) as bar:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        task = bar.add_task(_("(collecting)"), total=None)

        def take(ev: dict) -> None:
            if "total" in ev:
                bar.update(task, total=ev["total"])
            else:
                counts[ev["outcome"]] += 1
                bar.advance(task)
            bar.update(task, description=_("{passed} passed, {failed} failed").format(
                passed=counts["passed"], failed=counts["failed"] + counts["error"]))
        follow(proc, progress_file, take)
    finished = evidence.now()
    raw = json.loads(result_file.read_text()) if result_file.exists() else {"results": []}
    report = evidence.build(stack, root, raw, started=started, finished=finished,
                            workers=workers, returncode=proc.returncode)
    if not raw["results"]:
        report["passed"] = False
    files = evidence.write(root, report, out_dir)
    return VerifyRun(proc.returncode, report, files, log)


def is_local(stack: Stack) -> bool:
    return all(h.url.startswith("unix://") for h in stack.docker_hosts)


def up(stack: Stack, root: Path, *, do_converge: bool = True, do_verify: bool = True,
       show: bool = True, provisioner: str = "ansible", log=print) -> UpReport:
    """Provision (the lab provisioner, or Pulumi through the Automation API), converge,
    verify. Stacks on remote Docker hosts are provisioned by Pulumi only."""
    from egov import rehearsal
    report = UpReport(stack.name)
    if provisioner == "pulumi" or not (is_local(stack) or rehearsal.is_rehearsal(stack)):
        from egov.pulumi_up import PulumiUpError, pulumi_cli, pulumi_up
        try:
            pulumi_cli()  # before anything is written: a clear error where there is no CLI
        except PulumiUpError as exc:
            raise LabError(str(exc)) from None
        # The step names are the keys of last-up.json (bench/lab.py reads them): English,
        # shown translated.
        with _step(report, N_("prepare (keys, inventory, SSH config)"), log):
            access.admin_keys(stack, generate=True)
            inventory.write(stack, root)
            access.write_ssh_config(stack, root)
        with _step(report, N_("provision (pulumi up through the Automation API)"), log):
            try:
                pulumi_up(root, stack.name, on_output=log)
            except PulumiUpError as exc:
                raise LabError(str(exc)) from None
    else:
        with _step(report, N_("prepare (engine, base image, keys, inventory)"), log):
            plan_file = prepare(stack, root, log=log)
        with _step(report, N_("provision (networks, volumes, images, containers)"), log):
            report.provision = provision(stack, root, plan_file, show=show)
    if not do_converge:
        # What site.yml's first play does otherwise: the nodes are only "up" once they
        # accept the administrator's key (a first boot makes host keys and the account).
        with _step(report, N_("access (every node answers over SSH)"), log):
            wait_for_ssh(stack)
    forget_facts(stack)
    if do_converge:
        with _step(report, N_("converge (site.yml through the bastion)"), log):
            report.converge = converge(stack, root, show=show)
    if do_converge and do_verify:
        with _step(report, N_("verify (testinfra on every node)"), log):
            report.verify = verify(stack, root, show=show)
            report.verify_ok = report.verify.ok
    (state_dir(stack.name) / "last-up.json").write_text(json.dumps(report.as_dict(), indent=1))
    return report


def labelled(kind: str, stack: str) -> list[str]:
    """Names of the Docker objects of a kind ('container', 'network', 'volume') that carry
    the stack's label; only these are ever changed or removed."""
    fmt = "{{.Names}}" if kind == "container" else "{{.Name}}"
    cmd = {"container": ["docker", "ps", "-a"], "network": ["docker", "network", "ls"],
           "volume": ["docker", "volume", "ls"]}[kind]
    out = subprocess.run([*cmd, "--filter", f"label={LABEL_STACK}={stack}", "--format", fmt],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def down(stack: Stack, root: Path, purge: bool = False, show: bool = True) -> RunResult:
    require_local(stack)
    if not engine.engine_answers():
        raise LabError(_("no Docker engine answers; nothing to take down"))
    res = run_playbook(root, "teardown.yml",
                       extra_vars=[json.dumps({"lab_teardown__stack": stack.name,
                                               "lab_teardown__purge": purge})],
                       log_dir=state_dir(stack.name) / "logs", progress_label=_("down"),
                       show=show)
    if not res.ok:
        raise LabError(_failure(N_("teardown"), res))
    kh = access.known_hosts(stack)
    if kh.exists():
        kh.write_text("")
    return res


def status(stack: Stack) -> list[dict]:
    """One row per node: container state and addresses, as Docker reports them."""
    rows = []
    present = {}
    if engine.engine_answers():
        # Each Docker host over its own connection; one that does not answer shows its
        # nodes as absent rather than stopping the table.
        out = "".join(subprocess.run(
            ["docker", "-H", host.url, "ps", "-a", "--filter",
             f"label={LABEL_STACK}={stack.name}", "--format", "{{json .}}"],
            capture_output=True, text=True, timeout=60).stdout for host in stack.docker_hosts)
        for line in out.splitlines():
            row = json.loads(line)
            labels = dict(kv.split("=", 1) for kv in row.get("Labels", "").split(",") if "=" in kv)
            present[labels.get(LABEL_NODE, row["Names"])] = row
    for node in stack.nodes:
        row = present.get(node.name)
        rows.append({"node": node.name, "zone": node.zone,
                     "address": stack.derived.address[node.name],
                     "roles": ",".join(r.value for r in node.roles),
                     "state": row["State"] if row else "absent",
                     "status": row["Status"] if row else ""})
    return rows


def wait_for_ssh(stack: Stack, timeout: float = 120) -> None:
    """Return once every node runs a command over SSH (through the bastion); LabError
    naming the nodes that did not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    waiting = [n.name for n in stack.nodes]
    while waiting:
        waiting = [n for n in waiting
                   if run_on_node(stack, n, ["true"],
                                  options=["-o", "ConnectTimeout=5"]).returncode != 0]
        if waiting and time.monotonic() > deadline:
            raise LabError(_("no SSH answer within {seconds:.0f} s from: {nodes}").format(
                seconds=timeout, nodes=", ".join(waiting)))
        if waiting:
            time.sleep(1)
