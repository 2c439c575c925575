"""`egov training report`: a trainee's record of completed exercises, with their dates, in
Markdown and HTML (templates/training/), in the language asked for (Indonesian unless
`--lang en`): evidence an auditor can attach for Peraturan BSSN No. 4/2021, Pasal 14."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jinja2

from egov import i18n
from egov.i18n import N_, _
from egov.training.course import COURSE
from egov.training.progress import Progress, now, parse, slug

EVIDENCE = {
    "EGOV-RESTORE": N_("{control}: {copy} restored beside {database} from its latest dump; "
                       "its {tables} tables equal those of the live database (checked "
                       "{checked})"),
}


def shown_time(stamp: str | None) -> str:
    return parse(stamp).strftime("%Y-%m-%d %H:%M UTC") if stamp else "-"


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def evidence_text(ev: dict) -> str:
    values = {**ev, "checked": shown_time(ev.get("checked"))}
    return _(EVIDENCE[ev["control"]]).format(**values) if ev.get("control") in EVIDENCE \
        else ", ".join(f"{k}: {v}" for k, v in sorted(ev.items()))


def context(root: Path, progress: Progress) -> dict:
    done = progress.completed()
    rows, pending, evidence = [], [], []
    for ex in COURSE:
        attempt = done.get(ex.id)
        if attempt is None:
            if ex.counted:
                pending.append({"number": ex.number, "title": ex.title})
            continue
        taken = parse(attempt["completed"]) - parse(attempt["started"])
        rows.append({"number": ex.number, "title": ex.title, "counted": ex.counted,
                     "started": shown_time(attempt["started"]),
                     "completed": shown_time(attempt["completed"]),
                     "minutes": max(1, round(taken.total_seconds() / 60)),
                     "hints": attempt.get("hints", 0), "checks": attempt.get("checks", 0)})
        if attempt.get("evidence"):
            evidence.append(evidence_text(attempt["evidence"]))
    counted = [ex for ex in COURSE if ex.counted]
    return {"trainee": progress.trainee, "stack": progress.stack, "rows": rows,
            "pending": pending, "evidence": evidence, "generated": shown_time(now()),
            "done": sum(1 for ex in counted if ex.id in done), "total": len(counted),
            "commit": (_commit(root) or _("not in git"))[:12]}


def environment(root: Path, autoescape: bool) -> jinja2.Environment:
    return i18n.environment(jinja2.FileSystemLoader(root / "templates" / "training"),
                            undefined=jinja2.StrictUndefined, autoescape=autoescape,
                            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def write(root: Path, progress: Progress, out_dir: Path) -> dict[str, Path]:
    """training-<trainee>.md and .html in `out_dir`, in the current language."""
    ctx = context(root, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"training-{progress.stack}-{slug(progress.trainee)}"
    files = {"md": out_dir / f"{stem}.md", "html": out_dir / f"{stem}.html"}
    files["md"].write_text(environment(root, False).get_template("record.md.j2").render(ctx),
                           encoding="utf-8")
    files["html"].write_text(environment(root, True).get_template("record.html.j2").render(ctx),
                             encoding="utf-8")
    return files
