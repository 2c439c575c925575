"""The `egov` command: validate, plan, bring up, verify and take down stacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from egov.model import Stack, StackError, load_stack
from egov.paths import project_root

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Infrastructure as code for the data centre of the City of Bengkulu.")
console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


@app.callback()
def _main() -> None:
    """Infrastructure as code for the data centre of the City of Bengkulu."""


def load_or_exit(stack: str, root: Path | None = None) -> Stack:
    """Load the stack; on bad input print every problem and exit 2 before touching anything."""
    try:
        return load_stack(root or project_root(), stack)
    except StackError as exc:
        err_console.print(f"[bold red]error:[/] stack {stack!r} is not valid", highlight=False)
        err_console.print(exc.render(), highlight=False, markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def validate(stack: str = typer.Argument(..., help="stack name: stacks/Pulumi.<stack>.yaml")):
    """Check a stack file and print what it describes."""
    s = load_or_exit(stack)
    console.print(f"[green]ok[/]: {s.file}: {len(s.zones)} zones, {len(s.nodes)} nodes, "
                  f"{len(s.services)} services on {len(s.docker_hosts)} Docker host(s)")


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
    table = Table(title=f"stack {stack}: {sum(result.counts().values())} planned Docker objects")
    for col in ("kind", "name", "Docker host", "detail"):
        table.add_column(col, overflow="fold")
    for row in resource_rows(s, result.run):
        table.add_row(row["kind"], row["name"], row["host"], row["detail"])
    console.print(table)
    for v in result.violations:
        err_console.print(f"[bold red]policy violation[/] {escape(str(v))}", highlight=False)
    for kind, path in result.files.items():
        console.print(f"wrote {kind}: {path}", highlight=False)
    if not result.ok:
        err_console.print(f"[bold red]{len(result.violations)} policy violation(s)[/]")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: every policy passed ({result.seconds:.2f} s)")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
