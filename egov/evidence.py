"""The evidence of `egov verify`: every check's result against the stack, grouped by node
and by control, with the version of the stack definition it was taken against; written as
JSON (for machines) and HTML (for auditors) into the stack's reports folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from egov import i18n
from egov.controls import catalogue
from egov.model import Stack, stack_file
from egov.paths import state_dir

OUTCOMES = ("failed", "error", "passed", "skipped")
KEEP = 30  # timestamped reports kept per stack; the latest is always kept too


def reports_dir(stack: Stack | str) -> Path:
    return state_dir(stack if isinstance(stack, str) else stack.name) / "reports"


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def definition(stack: Stack, root: Path) -> dict[str, Any]:
    """The stack definition as it is now: its file, content hash, and the commit that last
    changed it (with whether the working copy differs from that commit)."""
    path = stack_file(root, stack.name)
    last = (_git(root, "log", "-1", "--format=%H %cI", "--", str(path)) or "").split()
    status = _git(root, "status", "--porcelain", "--", str(path))
    return {"file": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "commit": last[0] if last else None,
            "committed": last[1] if len(last) > 1 else None,
            "uncommitted_changes": bool(status) if status is not None else None,
            "project_commit": _git(root, "rev-parse", "HEAD")}


def controls_summary(results: list[dict]) -> list[dict]:
    """Per control of the catalogue: its checks and a status (passed, failed, no evidence);
    a check that did not apply to a node (skipped) is not evidence."""
    out = []
    for control in catalogue().values():
        checks = [r for r in results if control.id in r["controls"]]
        applied = [r for r in checks if r["outcome"] != "skipped"]
        failed = [r for r in applied if r["outcome"] in ("failed", "error")]
        status = "no evidence" if not applied else "failed" if failed else "passed"
        out.append({"id": control.id, "title": control.title, "family": control.family,
                    "source": control.source, "requirement": control.requirement,
                    "status": status, "checks": len(applied), "failed": len(failed),
                    "results": applied})
    return out


def build(stack: Stack, root: Path, raw: dict, *, started: datetime, finished: datetime,
          workers: int, returncode: int) -> dict[str, Any]:
    results = raw.get("results", [])
    counts = Counter(r["outcome"] for r in results)
    known = catalogue()
    return {
        "kind": "egov-verify", "stack": stack.name, "environment": stack.environment.value,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 1), "workers": workers,
        "passed": returncode == 0 and not counts["failed"] and not counts["error"],
        "returncode": returncode, "definition": definition(stack, root),
        "totals": {o: counts.get(o, 0) for o in OUTCOMES},
        "nodes": sorted({r["node"] for r in results}),
        "unknown_controls": sorted({c for r in results for c in r["controls"]} - set(known)),
        "controls": [{k: v for k, v in c.items() if k != "results"}
                     | {"checks_ids": [r["id"] for r in c["results"]]}
                     for c in controls_summary(results)],
        "results": results,
    }


def templates(root: Path, autoescape: bool) -> jinja2.Environment:
    """The report templates' environment, in the current language (plan, verify, audit)."""
    env = i18n.environment(jinja2.FileSystemLoader(root / "templates" / "report"),
                           undefined=jinja2.StrictUndefined, autoescape=autoescape,
                           trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["short"] = lambda s: (s or "")[:12]
    return env


def render_html(root: Path, report: dict) -> str:
    by_node: dict[str, list[dict]] = {}
    for r in report["results"]:
        by_node.setdefault(r["node"], []).append(r)
    by_id = {r["id"]: r for r in report["results"]}
    controls = [c | {"results": [by_id[i] for i in c["checks_ids"]]} for c in report["controls"]]
    return templates(root, True).get_template("verify.html.j2").render(
        report=report, by_node=by_node, controls=controls)


def write(root: Path, report: dict, out_dir: Path) -> dict[str, Path]:
    """verify-<stack>-<time>.json and .html, copied to verify-<stack>-latest.*"""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report["finished"].replace(":", "").replace("-", "").replace("+0000", "Z")
    stem = f"verify-{report['stack']}"
    files = {"json": out_dir / f"{stem}-{stamp}.json", "html": out_dir / f"{stem}-{stamp}.html"}
    files["json"].write_text(json.dumps(report, indent=1), encoding="utf-8")
    files["html"].write_text(render_html(root, report), encoding="utf-8")
    for kind, path in list(files.items()):
        latest = out_dir / f"{stem}-latest.{kind}"
        shutil.copyfile(path, latest)
        files[f"latest_{kind}"] = latest
        dated = sorted(p for p in out_dir.glob(f"{stem}-2*.{kind}"))
        for old in dated[:-KEEP]:
            old.unlink()
    return files


def latest(stack: Stack | str, out_dir: Path | None = None) -> dict | None:
    path = (out_dir or reports_dir(stack)) / \
        f"verify-{stack if isinstance(stack, str) else stack.name}-latest.json"
    return json.loads(path.read_text()) if path.exists() else None


def now() -> datetime:
    return datetime.now(UTC)
