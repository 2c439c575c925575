"""`egov training`: the course's commands (registered in egov/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from egov import i18n
from egov.i18n import _, ngettext

training_app = typer.Typer(
    no_args_is_help=True,
    help="A hands-on course on the lab: each exercise breaks or prepares something the way "
    "real incidents do, and its check says what is still wrong.")
console = Console()
err_console = Console(stderr=True)

EXIT_REFUSED = 2

TRAINEE = typer.Option(
    "--trainee", envvar="EGOV_TRAINEE", show_default=False, show_envvar=False,
    help="the trainee's name, the only thing kept about them [default: $EGOV_TRAINEE]")


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print("[bold red]" + _("error:") + f"[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _stack():
    from egov.cli import load_or_exit
    from egov.paths import project_root
    from egov.training.base import STACK
    root = project_root()
    return root, load_or_exit(STACK, root)


def _trainee(name: str | None) -> str:
    from egov.training.progress import slug
    if not name or not name.strip():
        _fail(_("who is training? give --trainee NAME or set EGOV_TRAINEE"), EXIT_REFUSED)
    try:
        slug(name)
    except ValueError as exc:
        _fail(str(exc), EXIT_REFUSED)
    return " ".join(name.split())


def _exercise(number: int):
    from egov.training.course import COURSE, by_number
    found = by_number(number)
    if found is None:
        _fail(_("there is no exercise {number}: the course has exercises {first} to {last} "
                "(`egov training list`)").format(number=number, first=COURSE[0].number,
                                                  last=COURSE[-1].number), EXIT_REFUSED)
    return found


def _active(stack):
    from egov.training.course import by_id
    from egov.training.progress import load_active
    active = load_active(stack.name)
    if active is None:
        _fail(_("no exercise is in progress on this lab: `egov training start N` first "
                "(`egov training list`)"), EXIT_REFUSED)
    return active, by_id(active["exercise"])


def _lab(root, stack, data: dict):
    from egov.training.base import Lab, TrainingError, require_running
    try:
        require_running(stack)
    except TrainingError as exc:
        _fail(str(exc))
    return Lab(stack, root, data, show=True, log=lambda text: console.print(text,
                                                                            highlight=False))


def _run(step, lab, number: int):
    """An exercise's step; its errors (and the lab's) shown without a traceback."""
    from egov.lab import LabError
    from egov.training.base import TrainingError
    try:
        return step(lab)
    except (TrainingError, LabError) as exc:
        _fail(_("exercise {number}: {error}").format(number=number, error=exc))


def _title(ex) -> str:
    return _("Exercise {number}: {title}").format(number=ex.number, title=ex.shown_title())


@training_app.command("list")
def list_cmd(trainee: Annotated[str | None, TRAINEE] = None):
    """List the exercises, with the trainee's progress when a name is given."""
    from egov.training.course import COURSE
    from egov.training.progress import Progress, load_active
    from egov.training.report import shown_time
    _root, stack = _stack()
    progress = Progress.load(stack.name, _trainee(trainee)) if trainee else None
    active = load_active(stack.name)
    table = Table(title=_("Training on stack {stack}").format(stack=stack.name))
    for col in (_("no."), _("exercise"), _("minutes"), _("state")):
        table.add_column(col, overflow="fold")
    for ex in COURSE:
        attempt = progress.attempt(ex.id) if progress else None
        done = progress.completed().get(ex.id) if progress else None
        reason = ex.available(stack)
        if active and active["exercise"] == ex.id:
            state = _("in progress since {time}, started by {trainee}").format(
                time=shown_time(active["started"]), trainee=active["trainee"])
        elif reason:
            state = reason
        elif done:
            state = _("completed {time}").format(time=shown_time(done["completed"]))
        elif attempt:
            state = _("started {time}").format(time=shown_time(attempt["started"]))
        else:
            state = "-"
        table.add_row(str(ex.number), ex.shown_title(), str(ex.minutes), state)
    console.print(table)
    counted = [ex for ex in COURSE if ex.counted]
    line = ngettext("{count} exercise counts in the course", "{count} exercises count in the "
                    "course", len(counted)).format(count=len(counted))
    if progress:
        line += "; " + _("{trainee} completed {done}").format(
            trainee=progress.trainee, done=sum(1 for ex in counted
                                               if ex.id in progress.completed()))
    console.print(line, highlight=False)


@training_app.command("start")
def start_cmd(number: int = typer.Argument(..., help="the exercise's number (egov training list)"),
              trainee: Annotated[str | None, TRAINEE] = None):
    """Start an exercise: it breaks or prepares something on the lab, and prints the brief."""
    from egov.lab import LabError
    from egov.training.base import TrainingError
    from egov.training.progress import Progress, load_active, now, save_active
    ex = _exercise(number)
    name = _trainee(trainee)
    root, stack = _stack()
    reason = ex.available(stack)
    if reason:
        _fail(_("exercise {number} ({title}) {reason}; it is not counted in the course").format(
            number=ex.number, title=ex.shown_title(), reason=reason))
    active = load_active(stack.name)
    if active:
        _fail(_("exercise {number} is in progress on this lab (started by {trainee} at {time}): "
                "finish it with `egov training check`, or put the lab back with `egov training "
                "reset`").format(number=active["number"], trainee=active["trainee"],
                                 time=active["started"]), EXIT_REFUSED)
    lab = _lab(root, stack, {})
    started = now()
    record = {"exercise": ex.id, "number": ex.number, "trainee": name, "started": started,
              "data": lab.data}
    console.print("[bold]" + escape(_title(ex)) + "[/]")
    try:
        ex.start(lab)
    except (TrainingError, LabError) as exc:
        # Kept: reset reads what the start recorded before it failed.
        save_active(stack.name, record)
        _fail(_("exercise {number} did not start: {error}; `egov training reset` puts the lab "
                "back").format(number=ex.number, error=exc))
    save_active(stack.name, record)
    progress = Progress.load(stack.name, name)
    progress.begin(ex.id, started)
    progress.save()
    console.print(ex.shown_brief(lab.stack), highlight=False, markup=False)
    console.print(_("`egov training check` says what is still wrong; `egov training hint` gives "
                    "a hint; `egov training reset` puts the lab back."), highlight=False,
                  markup=False)


@training_app.command("check")
def check_cmd(trainee: Annotated[str | None, TRAINEE] = None):
    """Check the exercise in progress: what is still wrong, or done."""
    from egov.training.progress import Progress, clear_active, keep_done, now, save_active
    root, stack = _stack()
    active, ex = _active(stack)
    if trainee and _trainee(trainee) != active["trainee"]:
        _fail(_("exercise {number} was started by {trainee}: check it as them (--trainee), or "
                "`egov training reset`").format(number=ex.number, trainee=active["trainee"]),
              EXIT_REFUSED)
    lab = _lab(root, stack, active["data"])
    console.print("[bold]" + escape(_title(ex)) + "[/]")
    found = _run(ex.check, lab, ex.number)
    progress = Progress.load(stack.name, active["trainee"])
    attempt = progress.attempt(ex.id) or progress.begin(ex.id, active["started"])
    attempt["checks"] = attempt.get("checks", 0) + 1
    if found:
        progress.save()
        save_active(stack.name, active)
        err_console.print("[bold red]" + ngettext("still wrong ({count}):", "still wrong "
                                                  "({count}):", len(found)).format(
                                                      count=len(found)) + "[/]")
        for problem in found:
            err_console.print(f"  - {escape(problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    attempt["evidence"] = ex.evidence(lab)
    _run(ex.tidy, lab, ex.number)
    attempt["completed"] = now()
    progress.save()
    keep_done(stack.name, ex.id, lab.data)
    clear_active(stack.name)
    console.print("[green]" + _("done") + "[/]: " + escape(ngettext(
        "exercise {number} completed by {trainee} with {hints} hint",
        "exercise {number} completed by {trainee} with {hints} hints",
        attempt.get("hints", 0)).format(number=ex.number, trainee=active["trainee"],
                                         hints=attempt.get("hints", 0))), highlight=False)
    if ex.changes_project:
        console.print(_("it changed the project's stack file: `egov training reset {number}` "
                        "puts the lab and the file back as they were").format(number=ex.number),
                      highlight=False, markup=False)


@training_app.command("hint")
def hint_cmd():
    """Show the next hint of the exercise in progress (counted in the record)."""
    from egov.training.progress import Progress
    _root, stack = _stack()
    active, ex = _active(stack)
    progress = Progress.load(stack.name, active["trainee"])
    attempt = progress.attempt(ex.id) or progress.begin(ex.id, active["started"])
    hints = ex.shown_hints(stack)
    taken = min(attempt.get("hints", 0) + 1, len(hints))
    attempt["hints"] = taken
    progress.save()
    console.print(_("hint {index} of {count}:").format(index=taken, count=len(hints)) + " "
                  + escape(hints[taken - 1]), highlight=False)
    if taken == len(hints):
        console.print(_("(that was the last hint)"), highlight=False)


@training_app.command("reset")
def reset_cmd(number: Annotated[int | None, typer.Argument(
        help="the exercise to put back [default: the one in progress]", show_default=False)]
        = None):
    """Put the lab back as it was before the exercise (usually a converge of the nodes it
    broke), and end the exercise in progress without completing it."""
    from egov.training.course import by_id
    from egov.training.progress import clear_active, clear_done, load_active, load_done
    root, stack = _stack()
    active = load_active(stack.name)
    if number is None:
        if active is None:
            _fail(_("no exercise is in progress on this lab; name the one to put back: `egov "
                    "training reset N`"), EXIT_REFUSED)
        ex = by_id(active["exercise"])
    else:
        ex = _exercise(number)
        if active and active["exercise"] != ex.id:
            _fail(_("exercise {number} is in progress on this lab: put it back first with `egov "
                    "training reset`").format(number=active["number"]), EXIT_REFUSED)
    in_progress = active is not None and active["exercise"] == ex.id
    lab = _lab(root, stack, active["data"] if in_progress else load_done(stack.name, ex.id))
    console.print("[bold]" + escape(_title(ex)) + "[/]")
    _run(ex.reset, lab, ex.number)
    if in_progress:
        clear_active(stack.name)
    clear_done(stack.name, ex.id)
    console.print("[green]" + _("ok") + "[/]: " + _(
        "the lab is back as before exercise {number}; `egov verify lab` confirms it").format(
            number=ex.number), highlight=False)


@training_app.command("report")
def report_cmd(ctx: typer.Context, trainee: Annotated[str | None, TRAINEE] = None,
               out: Annotated[Path | None, typer.Option(
                   "--out", "-o", help="report folder [default: reports/ of the project]")]
               = None):
    """Write the trainee's record of completed exercises with their dates (Markdown and
    HTML; Indonesian unless --lang en), for the auditor (Peraturan BSSN No. 4/2021,
    Pasal 14)."""
    from egov.training import report
    from egov.training.progress import Progress
    name = _trainee(trainee)
    root, stack = _stack()
    # Reports are for Indonesian readers: Indonesian unless --lang says otherwise.
    i18n.set_language(ctx.find_root().params.get("lang") or "id")
    progress = Progress.load(stack.name, name)
    files = report.write(root, progress, out or root / "reports")
    for kind, path in files.items():
        console.print(_("wrote {kind}: {path}").format(kind=kind, path=path), highlight=False)
