"""The course's building blocks: an exercise, the lab it runs on, and what can go wrong.

An exercise works on a running lab the way a sysadmin does: SSH through the bastion
(`egov.node_ssh`), the stack file of the project, and egov's own commands through their
Python API (converge, backup, restore, audit). What its start recorded (the state it broke,
the rows it wrote, the stack file as it was) is kept in `Lab.data` between the commands.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from egov.i18n import _
from egov.model import Role, Stack, load_stack
from egov.node_ssh import run_on_node
from egov.paths import state_dir

STACK = "lab"
# What a failed check's messages are cut to in a list of problems.
MESSAGE_LINES = 6


class TrainingError(RuntimeError):
    """An exercise step could not be done on the lab; the message says where and why."""


class NotRunning(TrainingError):
    """The lab is not up on this machine."""


class NotAvailable(TrainingError):
    """The exercise needs something this machine does not run (the prod rehearsal)."""


@dataclass
class Lab:
    """The running lab an exercise works on, with the project tree it was built from."""

    stack: Stack
    root: Path
    data: dict = field(default_factory=dict)
    show: bool = False
    log: Callable[[str], None] = lambda text: None

    @classmethod
    def of(cls, root: Path, data: dict | None = None, **kw) -> Lab:
        return cls(load_stack(root, STACK), root, dict(data or {}), **kw)

    def reload(self) -> Stack:
        """Read the stack file again (an exercise or its trainee changed it)."""
        self.stack = load_stack(self.root, self.stack.name)
        return self.stack

    @property
    def folder(self) -> Path:
        """The course's folder in the stack's state folder (outside the project tree)."""
        return state_dir(self.stack.name) / "training"

    def first(self, role: Role) -> str:
        nodes = self.stack.nodes_with(role)
        if not nodes:
            raise TrainingError(_("stack {stack} has no node with the role {role}").format(
                stack=repr(self.stack.name), role=repr(role.value)))
        return nodes[0].name

    # ---- on the nodes ------------------------------------------------------------------

    def run(self, node: str, command: Sequence[str] | str, *, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """A command on a node through the bastion, as the administrator; not raised."""
        try:
            return run_on_node(self.stack, node, command, input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TrainingError(_("{node}: no answer within {seconds} s").format(
                node=node, seconds=timeout)) from None

    def sudo(self, node: str, script: str, *, input: str | None = None,
             timeout: float = 120) -> str:
        """A shell script as root on a node; its output, or TrainingError naming it."""
        res = self.run(node, ["sudo", "-n", "sh", "-c", script], input=input, timeout=timeout)
        if res.returncode != 0:
            raise TrainingError(_("{node}: {command} failed ({code}): {output}").format(
                node=node, command=shlex.quote(script.strip().splitlines()[0]),
                code=res.returncode, output=(res.stderr.strip() or res.stdout.strip())[-600:]))
        return res.stdout

    def psql(self, database: str, sql: str) -> str:
        """SQL as postgres on the database node; its output, stripped."""
        node = self.first(Role.database)
        res = self.run(node, ["sudo", "-n", "-u", "postgres", "psql", "-XqtA", "-v",
                              "ON_ERROR_STOP=1", "-d", database, "-f", "-"], input=sql)
        if res.returncode != 0:
            raise TrainingError(_("{node}: psql on {database} failed: {output}").format(
                node=node, database=database, output=res.stderr.strip()[-600:]))
        return res.stdout.strip()

    def wait(self, what: Callable[[], bool], seconds: float, step: float = 1.0) -> bool:
        """Poll `what` until it holds or `seconds` have passed; whether it held."""
        deadline = time.monotonic() + seconds
        while True:
            if what():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(step)

    # ---- egov's own commands -------------------------------------------------------------

    def converge(self, *nodes: str) -> None:
        """`egov converge lab [--limit NODES]` through its Python API."""
        from egov import inventory, lab
        self.log(_("converge {nodes}").format(nodes=", ".join(nodes) or _("every node")))
        inventory.write(self.stack, self.root)
        try:
            lab.converge(self.stack, self.root, show=self.show,
                         limit=",".join(nodes) if nodes else None)
        except lab.LabError as exc:
            raise TrainingError(str(exc)) from None

    def failures(self, checks: Sequence[str], nodes: Sequence[str]) -> list[str]:
        """Run these checks of `egov verify` (tests/nodes, by function name) on these nodes
        only, and return what failed, one line per check and node. The evidence is written
        in the course's folder, never among the stack's own verify evidence."""
        from egov import lab, node_shell
        hosts = ",".join(node_shell.hostspec(n) for n in dict.fromkeys(nodes))
        run = lab.verify(self.stack, self.root, workers=1, show=self.show,
                         extra=[f"--hosts={hosts}", "-k", " or ".join(checks)],
                         report_dir=self.folder / "checks")
        ran = {r["check"].split("::")[-1] for r in run.report["results"]}
        if not run.report["results"] or not set(checks) <= ran:
            raise TrainingError(_("the checks {checks} did not run (see {log})").format(
                checks=", ".join(sorted(set(checks) - ran)) or ", ".join(checks), log=run.log))
        out = []
        for r in run.failures():
            lines = [line.strip() for line in r["message"].splitlines() if line.strip()]
            out.append("; ".join(lines[:MESSAGE_LINES]) or r["check"])
        return out


class Exercise:
    """One exercise of the course. Title, brief and hints are catalogue messages (English,
    marked with N_) shown through _(); the brief and hints may name {facts} of the stack."""

    id: ClassVar[str]
    number: ClassVar[int]
    title: ClassVar[str]
    brief: ClassVar[str]
    hints: ClassVar[tuple[str, ...]]
    # About how long a trainee needs, in minutes.
    minutes: ClassVar[int] = 20
    # Counted among the course's exercises (the prod rehearsal's are declared, not counted).
    counted: ClassVar[bool] = True
    # The exercise changes files of the project (the stack file): reset puts them back.
    changes_project: ClassVar[bool] = False

    def facts(self, stack: Stack) -> dict[str, object]:
        """The names the brief and hints use, read from the stack."""
        return {}

    def available(self, stack: Stack) -> str | None:
        """None, or why the exercise cannot run on this stack."""
        return None

    def nodes(self, lab: Lab) -> list[str]:
        """The nodes the exercise breaks: a converge of these repairs them."""
        return []

    def start(self, lab: Lab) -> None:
        """Break or prepare something the way real incidents do."""
        raise NotImplementedError

    def check(self, lab: Lab) -> list[str]:
        """What is still wrong, in words a sysadmin acts on; empty when done."""
        raise NotImplementedError

    def solve(self, lab: Lab) -> None:
        """The model solution (the tests apply it)."""
        raise NotImplementedError

    def tidy(self, lab: Lab) -> None:
        """Take away what only the exercise needed (run once it is done, and by reset)."""

    def evidence(self, lab: Lab) -> str | None:
        """What a passing check observed that an auditor can use, for the record."""
        return None

    def reset(self, lab: Lab) -> None:
        """Leave the lab as it was before the start: verified again."""
        if self.check(lab):
            lab.converge(*self.nodes(lab))
        self.tidy(lab)

    # ---- shown to the trainee ------------------------------------------------------------

    def shown_title(self) -> str:
        return _(self.title)

    def shown_brief(self, stack: Stack) -> str:
        return _(self.brief).format(**self.facts(stack))

    def shown_hints(self, stack: Stack) -> list[str]:
        facts = self.facts(stack)
        return [_(h).format(**facts) for h in self.hints]


def require_running(stack: Stack) -> None:
    """NotRunning, saying what to do, unless every node of the stack runs and has been
    converged here: exercises break and check a lab that is up."""
    from egov import engine, lab
    if not engine.engine_answers():
        raise NotRunning(_("the lab is not running: no Docker engine answers on this machine; "
                           "`egov up lab` brings it up"))
    down = [row["node"] for row in lab.status(stack) if row["state"] != "running"]
    if down:
        raise NotRunning(_("the lab is not running: {nodes} not up (`egov status lab`); `egov up "
                           "lab` brings it up").format(nodes=", ".join(down)))
    if not lab.baseline_file(stack).exists():
        raise NotRunning(_("the lab was never converged on this machine: `egov up lab` first"))
