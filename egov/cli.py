"""The `egov` command: validate, plan, bring up, verify and take down stacks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from egov import cli_help, i18n
from egov.i18n import N_, _, ngettext
from egov.model import Stack, StackError, load_stack
from egov.paths import project_root
from egov.training.cli import training_app


class _LangAnywhere(TyperGroup):
    """`--lang` is the main command's option, and may also be written after a command
    (`egov audit lab --lang id`): it is moved in front before the commands are parsed, and
    the language is set then, for the help texts (--help is answered while parsing)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest, lang, i = [], [], 0
        while i < len(args):
            if args[i] == "--":
                rest += args[i:]
                break
            if args[i] == "--lang" and i + 1 < len(args):
                lang, i = args[i:i + 2], i + 2
                continue
            if args[i].startswith("--lang="):
                lang = [args[i]]
            else:
                rest.append(args[i])
            i += 1
        chosen = lang[-1].removeprefix("--lang=") if lang else None
        i18n.set_language(chosen if chosen in i18n.LANGUAGES else None)
        if i18n.language() != i18n.SOURCE:
            cli_help.translate(self)
        return super().parse_args(ctx, lang + rest)


app = typer.Typer(no_args_is_help=True, add_completion=False, cls=_LangAnywhere,
                  help="Infrastructure as code for the data centre of the City of Bengkulu.")
console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


@app.callback()
def _main(lang: Annotated[str | None, typer.Option(
        "--lang", help="language of messages and reports: id or en [default: from LANG, "
        "else en]", show_default=False)] = None) -> None:
    """Infrastructure as code for the data centre of the City of Bengkulu."""
    if lang is not None and lang not in i18n.LANGUAGES:
        raise typer.BadParameter(_("use one of {choices}").format(
            choices=", ".join(i18n.LANGUAGES)), param_hint="--lang")
    i18n.set_language(lang)


REHEARSAL = typer.Option(False, "--rehearsal",
                         help="the stack's rehearsal on this machine (egov rehearse)")


def load_or_exit(stack: str, root: Path | None = None, rehearsal: bool = False) -> Stack:
    """Load the stack; on bad input print every problem and exit 2 before touching anything.
    With `rehearsal`, the rest of the command works on the stack's rehearsal."""
    try:
        loaded = load_stack(root or project_root(), stack)
        if rehearsal:
            from egov import rehearsal as rh
            try:
                rh.load_overlay(root or project_root(), loaded)
            except rh.RehearsalError as exc:
                err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            rh.activate(loaded)
        return loaded
    except StackError as exc:
        err_console.print("[bold red]" + _("error:") + "[/] "
                          + _("stack {stack} is not valid").format(stack=repr(stack)),
                          highlight=False)
        err_console.print(exc.render(), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def validate(stack: str = typer.Argument(..., help="stack name: stacks/Pulumi.<stack>.yaml")):
    """Check a stack file and print what it describes."""
    s = load_or_exit(stack)
    console.print("[green]" + _("ok") + "[/]: " + _(
        "{file}: {zones} zones, {nodes} nodes, {services} services on {hosts} Docker host(s)")
        .format(file=s.file, zones=len(s.zones), nodes=len(s.nodes), services=len(s.services),
                hosts=len(s.docker_hosts)))


@app.command()
def plan(stack: str = typer.Argument(..., help="stack name: stacks/Pulumi.<stack>.yaml"),
         out: Annotated[Path | None, typer.Option(
             "--out", "-o", help="report folder [default: reports/ of the project]")] = None):
    """Plan a stack offline (Pulumi mock runtime, no Docker, no Pulumi CLI): check it against
    the mandatory policies and write a Markdown/HTML report with a network picture."""
    from rich.markup import escape
    from rich.table import Table

    from egov.plan import resource_rows, run_plan

    root = project_root()
    s = load_or_exit(stack, root)
    result = run_plan(root, s.name, out or root / "reports")
    table = Table(title=_("stack {stack}: {count} planned Docker objects").format(
        stack=stack, count=sum(result.counts().values())))
    for col in (_("kind"), _("name"), _("Docker host"), _("detail")):
        table.add_column(col, overflow="fold")
    for row in resource_rows(s, result.run):
        table.add_row(i18n.word(row["kind"]), row["name"], row["host"], row["detail"])
    console.print(table)
    for v in result.violations:
        err_console.print("[bold red]" + _("policy violation") + f"[/] {escape(str(v))}",
                          highlight=False)
    for kind, path in result.files.items():
        console.print(_("wrote {kind}: {path}").format(kind=kind, path=path), highlight=False)
    if not result.ok:
        n = len(result.violations)
        err_console.print("[bold red]" + ngettext("{count} policy violation",
                                                  "{count} policy violations", n)
                          .format(count=n) + "[/]")
        raise typer.Exit(1)
    console.print("[green]" + _("ok") + "[/]: "
                  + _("every policy passed ({seconds:.2f} s)").format(seconds=result.seconds))


service_app = typer.Typer(no_args_is_help=True, help="Onboard e-government services.")
app.add_typer(service_app, name="service")


@service_app.command("new")
def service_new(
    name: str = typer.Argument(..., help="the service's name (DNS-safe), e.g. sipanse"),
    relation: str = typer.Option(..., "--relation", "-r", help="G2C, G2B, G2G or G2E"),
    title: str = typer.Option(..., "--title", help="the service's full name"),
    agency: str = typer.Option(..., "--agency", help="the agency that owns it"),
    stack: str = typer.Option("lab", "--stack", "-s", help="stack to add it to"),
    node: Annotated[list[str] | None, typer.Option(
        "--node", "-n", help="node to run it on (repeatable) [default: every app node]")] = None,
    port: Annotated[int | None, typer.Option(
        help="port on its nodes [default: the first the gateway may reach that is free]")] = None,
    hostname: Annotated[str | None, typer.Option(
        help="public name [default: <name>.<domain>]")] = None,
    database: bool = typer.Option(True, help="give it a PostgreSQL database"),
    backup_schedule: str = typer.Option("daily", help="systemd calendar of its dumps"),
    health_path: str = typer.Option("/healthz", help="path its health answers on"),
    artifact: str = typer.Option("egov-reference-service", help="what to deploy"),
):
    """Add a new agency's service to a stack from the service template: its manifest in
    the stack file and its card in services/<name>/. Nothing else changes."""
    from egov.onboarding import NewService, new_service

    root = project_root()
    spec = NewService(name=name, relation=relation, title=title, agency=agency,
                      nodes=list(node or []), port=port, hostname=hostname,
                      health_path=health_path, database=database,
                      backup_schedule=backup_schedule, artifact=artifact)
    try:
        done = new_service(root, stack, spec)
    except StackError as exc:
        err_console.print("[bold red]" + _("error:") + "[/] " + _(
            "service {name} not added to stack {stack}").format(name=repr(name),
                                                               stack=repr(stack)),
                          highlight=False)
        err_console.print(exc.render(), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    svc = next(s for s in done.stack.services if s.name == name)
    site = next(s for s in done.stack.derived.sites if s.service == name)
    for path in done.written:
        console.print(_("wrote {path}").format(path=path.relative_to(root)), highlight=False)
    console.print("[green]" + _("ok") + "[/]: " + _(
        "{name} ({relation}: {audience}) on {nodes} port {port}, public at {url}; "
        "`egov up {stack}` deploys it").format(
            name=name, relation=svc.relation.value, audience=_(svc.access.audience),
            nodes=", ".join(svc.nodes), port=svc.port, url=f"https://{site.name}/",
            stack=stack), highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


def _lab_or_exit(fn, *args, verbose: bool = False, **kwargs):
    from egov.lab import LabError
    from egov.vault import VaultError
    try:
        return fn(*args, **kwargs)
    except VaultError as exc:
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except LabError as exc:
        if exc.run is not None:
            _print_run(_("converge"), exc.run, verbose)
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


VERBOSE = typer.Option(False, "--verbose", "-v",
                       help="list the tasks that changed something, under each node")


def _print_run(title: str, res, verbose: bool = False, per_node: bool = True) -> None:
    """A run's summary; with `per_node`, its recap per node (--verbose: the changed tasks)."""
    if res is None:
        return
    strategy = _(", strategy {names}").format(names=", ".join(res.strategies)) \
        if res.strategies else ""
    console.print(_("{title}: {count} changed task(s) in {seconds:.0f} s{strategy} (log: {log})")
                  .format(title=title, count=res.changed_count, seconds=res.seconds,
                          strategy=strategy, log=res.log), highlight=False, soft_wrap=True)
    if not per_node:
        return
    from egov.ansible_run import recap

    for line in recap(res, verbose):
        console.print(line, highlight=False, markup=False)


@app.command()
def up(stack: str = typer.Argument(..., help="stack name"),
       converge: bool = typer.Option(True, help="run site.yml after provisioning (--no-converge: "
                                     "only the Docker objects and access)"),
       verify: bool = typer.Option(True, help="run the testinfra checks after converging"),
       provisioner: str = typer.Option(
           "ansible", help="ansible: the lab provisioner on the local engine; pulumi: the "
           "Pulumi program through the Automation API (needs the Pulumi CLI; always used for "
           "stacks on remote Docker hosts)"),
       verbose: bool = VERBOSE):
    """Provision, converge and verify a stack (lab: on the local Docker engine)."""
    from egov import lab
    root = project_root()
    s = load_or_exit(stack, root)
    if provisioner not in ("ansible", "pulumi"):
        err_console.print("[bold red]" + _("error:") + "[/] "
                          + _("--provisioner is ansible or pulumi"))
        raise typer.Exit(EXIT_BAD_INPUT)
    report = _lab_or_exit(lab.up, s, root, do_converge=converge, do_verify=verify,
                          provisioner=provisioner, log=console.print, verbose=verbose)
    _print_up(report, verbose)
    console.print("[green]" + _("stack {stack} is up").format(stack=stack) + "[/]")


def _print_up(report, verbose: bool, before: dict[str, float] | None = None) -> None:
    """The recaps, each step's time (`before`: steps of the caller's own) and the verify
    result of a bring-up; exit 1 when verify failed."""
    # Provisioning runs on this machine alone: its recap would be one line, "localhost".
    _print_run(_("provision"), report.provision, per_node=False)
    _print_run(_("converge"), report.converge, verbose)
    for step, seconds in {**(before or {}), **report.steps}.items():
        console.print(f"  {seconds:6.1f} s  " + _(step), highlight=False)
    if report.verify is not None:
        _print_verify(report.verify)
    if report.verify_ok is False:
        err_console.print("[bold red]" + _("verify failed") + "[/]")
        raise typer.Exit(1)


@app.command()
def rehearse(stack: str = typer.Argument(..., help="stack name (its Docker hosts are ssh://)"),
             down: bool = typer.Option(False, "--down", help="remove the rehearsal: the "
                                       "simulated hosts and everything they hold"),
             verify: bool = typer.Option(True, help="run the testinfra checks after "
                                         "converging"),
             verbose: bool = VERBOSE):
    """Build the stack exactly as its file says on simulated Docker hosts on this machine
    (stacks/rehearsal/<stack>.yaml names them), converge it and verify it. The other
    commands reach it with --rehearsal."""
    from egov import lab
    from egov import rehearsal as rh
    root = project_root()
    s = load_or_exit(stack, root, rehearsal=True)
    overlay = rh.load_overlay(root, s)
    try:
        if down:
            rh.hosts_down(s, log=console.print)
            return
        engine_started = time.monotonic()
        lab.engine.ensure_engine(log=console.print)
        rh.hosts_up(s, root, overlay, log=console.print)
        hosts_seconds = time.monotonic() - engine_started
    except rh.RehearsalError as exc:
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT if exc.bad_input else 1) from None
    report = _lab_or_exit(lab.up, s, root, do_verify=verify, log=console.print,
                          verbose=verbose)
    _print_up(report, verbose, {N_("simulated Docker hosts"): hosts_seconds})
    console.print("[green]" + _("the rehearsal of {stack} is up").format(stack=stack) + "[/]")


@app.command()
def converge(stack: str = typer.Argument(..., help="stack name"),
             rehearsal: bool = REHEARSAL,
             limit: str = typer.Option(None, help="only these nodes (Ansible --limit)"),
             extra_var: Annotated[list[str] | None, typer.Option(
                 "--extra-var", "-e", help="a role setting for this run, KEY=VALUE "
                 "(Ansible -e; repeatable)")] = None,
             verbose: bool = VERBOSE):
    """Run site.yml on a stack that is already provisioned."""
    from egov import lab
    root = project_root()
    s = load_or_exit(stack, root, rehearsal=rehearsal)
    for item in extra_var or []:
        if "=" not in item or not item.split("=", 1)[0].isidentifier():
            err_console.print("[bold red]" + _("error:") + "[/] " + _(
                "--extra-var {value}: expected KEY=VALUE, e.g. "
                "database__old_clusters=set-aside").format(value=repr(item)))
            raise typer.Exit(EXIT_BAD_INPUT)
    res = _lab_or_exit(lab.converge, s, root, limit=limit, verbose=verbose,
                       extra_vars=list(extra_var or []))
    _print_run(_("converge"), res, verbose)


def _print_verify(run) -> None:
    t = run.report["totals"]
    for r in run.failures():
        err_console.print("[bold red]" + _("FAILED") + f"[/] {r['node']}: {r['check']} "
                          f"[{', '.join(r['controls'])}]", highlight=False)
        for line in r["message"].splitlines()[:12]:
            err_console.print(f"    {line}", highlight=False)
    console.print(_("verify: {passed} passed, {failed} failed, {skipped} not applicable in "
                    "{seconds} s ({workers} worker(s))").format(
                        passed=t["passed"], failed=t["failed"] + t["error"],
                        skipped=t["skipped"], seconds=run.report["seconds"],
                        workers=run.report["workers"]), highlight=False)
    missing = [c["id"] for c in run.report["controls"] if c["status"] == "no evidence"]
    if missing:
        console.print(_("controls without evidence: {ids}").format(ids=", ".join(missing)),
                      highlight=False)
    label = _("evidence:")
    console.print(f"{label} {run.files['json']}\n{' ' * len(label)} {run.files['html']}",
                  highlight=False)
    if not run.report["results"]:
        err_console.print("[bold red]" + _("no check ran") + "[/]: "
                          + _("see {log}").format(log=run.log))


@app.command()
def verify(stack: str = typer.Argument(..., help="stack name"),
           rehearsal: bool = REHEARSAL,
           workers: Annotated[int | None, typer.Option(
               help="checks run in parallel (1: one after another; default 3, "
               "egov.lab.VERIFY_WORKERS)", show_default=False)] = None,
           report_dir: Annotated[Path | None, typer.Option(
               help="where to write the JSON and HTML evidence [default: the stack's state "
               "folder]")] = None):
    """Run every testinfra check against every node through the bastion, and write the
    evidence (JSON and HTML, by node and by control)."""
    from egov import lab
    root = project_root()
    s = load_or_exit(stack, root, rehearsal=rehearsal)
    run = lab.verify(s, root, workers=workers or lab.VERIFY_WORKERS, report_dir=report_dir)
    _print_verify(run)
    raise typer.Exit(0 if run.ok else 1)


@app.command()
def audit(stack: str = typer.Argument(..., help="stack name"),
          rehearsal: bool = REHEARSAL,
          out: Annotated[Path | None, typer.Option(
              "--out", "-o", help="report folder [default: reports/ of the project]")] = None,
          evidence_file: Annotated[Path | None, typer.Option(
              "--evidence", help="a verify result (JSON) [default: the latest of the stack]")]
          = None):
    """Write the auditor's document (Markdown and HTML): the stack in plain words, the
    offline plan and policies, the network picture and the latest verification evidence
    by control. Works offline; says when the evidence is older than the stack definition."""
    from egov.audit import run_audit
    root = project_root()
    s = load_or_exit(stack, root, rehearsal=rehearsal)
    result = run_audit(root, s, out or root / "reports", evidence_file)
    colour = {"current": "green", "stale": "bold red", "missing": "yellow"}[result.freshness]
    console.print(_("evidence:") + f" [{colour}]{i18n.word(result.freshness)}[/]")
    for kind, path in result.files.items():
        console.print(_("wrote {kind}: {path}").format(kind=kind, path=path), highlight=False)
    if not result.plan.ok:
        raise typer.Exit(1)


@app.command()
def down(stack: str = typer.Argument(..., help="stack name"),
         purge: bool = typer.Option(False, help="also remove the named volumes (stateful data)")):
    """Remove the stack's containers and networks; volumes only with --purge."""
    from egov import lab
    root = project_root()
    s = load_or_exit(stack, root)
    _lab_or_exit(lab.down, s, root, purge=purge)
    console.print((_("stack {stack} is down and its volumes are removed") if purge else
                   _("stack {stack} is down (volumes kept; --purge removes them)"))
                  .format(stack=stack))


@app.command()
def status(stack: str = typer.Argument(..., help="stack name"),
           rehearsal: bool = REHEARSAL):
    """Show each node of the stack and its container's state."""
    from rich.table import Table

    from egov import lab
    s = load_or_exit(stack, rehearsal=rehearsal)
    table = Table(title=_("stack {stack}").format(stack=stack))
    for col in (_("node"), _("zone"), _("address"), _("roles"), _("state"), _("status")):
        table.add_column(col)
    rows = lab.status(s)
    for row in rows:
        table.add_row(*(row[c] for c in ("node", "zone", "address", "roles", "state", "status")))
    console.print(table)
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)


@app.command()
def backup(stack: str = typer.Argument(..., help="stack name"),
           rehearsal: bool = REHEARSAL,
           database: Annotated[list[str] | None, typer.Option(
               "--database", "-d", help="only this service database (repeatable)")] = None):
    """Take the stack's dumps now on the backup node (every service database, and the
    directory when the stack has one), wait for them and print the new snapshots."""
    from egov import backup as dumps
    s = load_or_exit(stack, rehearsal=rehearsal)
    made = _lab_or_exit(dumps.run_backup, s, database, log=console.print)
    for snap in made:
        what = snap.database or ",".join(snap.tags)
        console.print("  " + _("snapshot {id}  {time}  {what}  {paths}").format(
            id=snap.short_id, time=snap.time, what=what, paths=" ".join(snap.paths)),
                      highlight=False)
    console.print("[green]" + _("ok") + "[/]: " + ngettext(
        "{count} snapshot in the repository", "{count} snapshots in the repository",
        len(made)).format(count=len(made)))


@app.command()
def restore(stack: str = typer.Argument(..., help="stack name"),
            rehearsal: bool = REHEARSAL,
            target: str = typer.Option("{db}_restored", "--target", "-t",
                                       help="new database to restore into; {db} is the source"),
            database: str = typer.Option(None, "--database", "-d",
                                         help="only this service database [default: all]"),
            replace: bool = typer.Option(False, help="drop an existing target database first"),
            in_place: bool = typer.Option(
                False, "--in-place", help="replace the live service database(s) instead: "
                "restored beside, then swapped in while their services are stopped"),
            directory: bool = typer.Option(
                False, "--directory", help="replace the directory's database with its "
                "latest dump (alone, or with --in-place)")):
    """Restore the latest dump of each service database (or one) into a new database on
    the database node, and print the checksums of its tables. After a node's disk is lost:
    --in-place puts the dumps in place of the live databases, --directory the directory's."""
    from egov import backup as dumps
    s = load_or_exit(stack, rehearsal=rehearsal)
    if directory:
        d = _lab_or_exit(dumps.restore_directory, s, log=console.print)
        console.print(_("restored the directory on {node} (snapshot {id}, {time}): "
                        "{entries} entries").format(node=d.node, id=d.snapshot.short_id,
                                                    time=d.snapshot.time, entries=d.entries),
                      highlight=False)
        if not in_place:
            return
    if in_place:
        done = _lab_or_exit(dumps.restore_in_place, s, database, log=console.print)
    else:
        done = _lab_or_exit(dumps.restore, s, database, target, replace, log=console.print)
    for r in done:
        console.print(ngettext(
            "restored {database} (snapshot {id}, {time}) into {target}: {count} table",
            "restored {database} (snapshot {id}, {time}) into {target}: {count} tables",
            len(r.checksums)).format(database=r.database, id=r.snapshot.short_id,
                                     time=r.snapshot.time, target=r.target,
                                     count=len(r.checksums)), highlight=False)
        for table, digest in sorted(r.checksums.items()):
            console.print(f"  {table}  md5 {digest}", highlight=False)


@app.command()
def setup():
    """Make this machine ready for the lab: a Docker engine that answers (Debian's
    docker.io, started if needed; a running engine is never restarted) and the base image."""
    from egov import engine, images
    how = engine.ensure_engine(log=console.print)
    console.print(_("docker engine: {how}").format(how=how))
    tag = images.build_base_image(project_root(), log=console.print)
    console.print(_("base image: {tag}").format(tag=tag))


@app.command("inventory")
def inventory_cmd(stack: str = typer.Argument(..., help="stack name")):
    """Generate inventory/<stack>/ from the stack file."""
    from egov import inventory
    root = project_root()
    s = load_or_exit(stack, root)
    folder = inventory.write(s, root)
    console.print(_("wrote {path}").format(path=folder.relative_to(root)))


role_app = typer.Typer(no_args_is_help=True, help="Try one role alone on a throwaway node.")
app.add_typer(role_app, name="role")


@role_app.command("test")
def role_test_cmd(role: str = typer.Argument(..., help="a role with roles/<role>/molecule/default"),
                  keep: bool = typer.Option(False, help="leave the node running afterwards"),
                  verbose: bool = VERBOSE):
    """Converge one role on a throwaway node, converge it again (nothing may change), and
    run its testinfra checks (Molecule's default scenario layout)."""
    from egov import role_test
    root = project_root()
    try:
        report = role_test.run(root, role, keep=keep, log=console.print)
    except role_test.RoleTestError as exc:
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (role_test.RoleTestFailure, subprocess.CalledProcessError) as exc:
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    _print_run(_("converge"), report.first, verbose)
    _print_run(_("converge again"), report.second, verbose=True)
    if report.second is not None and report.second.changed_count:
        err_console.print(_("role {role} is not idempotent: the second converge changed "
                            "something").format(role=role), highlight=False)
    if report.checks_rc is not None:
        console.print(_("checks of role {role}: {outcome}").format(
            role=role, outcome=_("passed") if report.checks_rc == 0 else _("failed")),
            highlight=False)
    raise typer.Exit(0 if report.ok else 1)


secrets_app = typer.Typer(no_args_is_help=True, help="The secrets of staging and prod, kept "
                          "encrypted in the repository (stacks/secrets/<stack>.vault.yml).")
app.add_typer(secrets_app, name="secrets")


def _vault_or_exit(fn, stack: str):
    from egov import vault
    root = project_root()
    s = load_or_exit(stack, root)
    try:
        return root, fn(s, root)
    except vault.VaultError as exc:
        err_console.print("[bold red]" + _("error:") + f"[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@secrets_app.command("init")
def secrets_init(stack: str = typer.Argument(..., help="a stack that is not the lab")):
    """Make a new key (0600) for a stack that has no vault file yet."""
    from egov import vault
    _root, key = _vault_or_exit(vault.init, stack)
    console.print(_("wrote the key of stack {stack} to {key}: keep a copy where the other "
                    "administrators of the stack get it, never in the repository").format(
                        stack=stack, key=key), highlight=False)


@secrets_app.command("unlock")
def secrets_unlock(stack: str = typer.Argument(..., help="a stack that is not the lab")):
    """Write the stack's vault into this machine's state folder (converge does it first)."""
    from egov import vault
    _root, outcome = _vault_or_exit(vault.unlock, stack)
    console.print(_("{count} secret file(s) written to {folder} from {file}").format(
        count=len(outcome.written), folder=vault.secrets_dir(stack), file=outcome.file),
        highlight=False)


@secrets_app.command("lock")
def secrets_lock(stack: str = typer.Argument(..., help="a stack that is not the lab")):
    """Encrypt this machine's secrets of the stack into its vault file (converge does it after)."""
    from egov import vault
    root, outcome = _vault_or_exit(vault.lock, stack)
    if outcome.changed:
        console.print(vault.commit_hint(outcome, root), highlight=False)
    else:
        console.print(_("{file} already holds these secrets: unchanged").format(
            file=outcome.file), highlight=False)


app.add_typer(training_app, name="training")
