"""`egov audit`: one document for an auditor. The stack in plain words (zones, nodes,
services, who may reach what), the offline plan and its policy results, the network
picture, and the latest verification evidence grouped by control, with a clear warning
when that evidence was taken against another version of the stack definition."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from egov import evidence
from egov.controls import catalogue
from egov.i18n import _
from egov.model import Stack
from egov.plan import PlanResult, _ports, policy_names, run_plan


@dataclass
class Audit:
    stack: Stack
    plan: PlanResult
    evidence: dict | None
    freshness: str  # "current", "stale" or "missing"
    files: dict[str, Path] = field(default_factory=dict)


def freshness(current: dict, verified: dict | None) -> tuple[str, str]:
    """Whether the evidence was taken against the stack definition as it is now."""
    if verified is None:
        return "missing", _("There is no verification evidence for this stack yet: run "
                            "`egov verify` and then `egov audit` again.")
    then, now = verified["definition"], current
    if then["sha256"] != now["sha256"]:
        return "stale", _(
            "The evidence is OLDER than the stack definition: it was taken on {finished} "
            "against {file} with sha256 {then_sha} (commit {then_commit}); the definition is "
            "now sha256 {now_sha} (commit {now_commit}). Verify the stack again before "
            "relying on it.").format(
                finished=verified["finished"], file=then["file"], then_sha=then["sha256"][:12],
                then_commit=(then["commit"] or _("none"))[:12], now_sha=now["sha256"][:12],
                now_commit=(now["commit"] or _("none"))[:12])
    return "current", _("The evidence was taken on {finished} against the stack definition as "
                        "it is now (sha256 {sha}).").format(finished=verified["finished"],
                                                             sha=now["sha256"][:12])


def _in_words(stack: Stack) -> dict[str, Any]:
    d = stack.derived
    zones = [{"name": z.name, "subnet": str(z.subnet), "purpose": z.purpose,
              "description": z.description, "egress": z.egress,
              "nodes": [n.name for n in stack.nodes if n.zone == z.name]} for z in stack.zones]
    nodes = [{"name": n.name, "zone": n.zone, "address": d.address[n.name],
              "roles": [r.value for r in n.roles], "volumes": sorted(n.volumes)}
             for n in stack.nodes]
    services = []
    for s in stack.services:
        services.append({
            "name": s.name, "title": s.title, "agency": s.agency, "relation": s.relation.value,
            "audience": s.access.audience, "login": s.access.login, "group": s.access.group,
            "nodes": s.nodes, "port": s.port, "url": stack.public_url(stack.site_of(s).name),
            "database": s.database, "backup": s.backup_schedule if s.database else None})
    flows = [{"source": a, "to": b, "ports": _ports(allowed),
              "purpose": "; ".join(sorted({x.purpose for x in allowed}))}
             for a, row in d.matrix.items() for b, allowed in row.items() if allowed]
    closed = [{"source": a, "to": b} for a, row in d.matrix.items()
              for b, allowed in row.items() if not allowed and a != b]
    return {"zones": zones, "nodes": nodes, "services": services, "flows": flows,
            "closed": closed, "bastion": stack.bastion.name}


def _controls(verified: dict | None) -> list[dict]:
    if verified:
        return verified["controls"]
    return [{"id": c.id, "title": c.title, "family": c.family, "source": c.source,
             "requirement": c.requirement, "status": "no evidence", "checks": 0, "failed": 0,
             "checks_ids": []} for c in catalogue().values()]


def write(root: Path, audit: Audit, out_dir: Path) -> dict[str, Path]:
    state, note = freshness(evidence.definition(audit.stack, root), audit.evidence)
    failed_policies = {v.policy for v in audit.plan.violations}
    verified = audit.evidence
    by_id = {r["id"]: r for r in (verified or {}).get("results", [])}
    controls = [c | {"results": [by_id[i] for i in c["checks_ids"] if i in by_id]}
                for c in _controls(verified)]
    svg = audit.plan.files["svg"].read_text()
    ctx = {"stack": audit.stack, "words": _in_words(audit.stack), "plan": audit.plan,
           "policies": [{"name": n, "ok": n not in failed_policies} for n in policy_names()],
           "violations": audit.plan.violations, "counts": audit.plan.counts(),
           "picture": audit.plan.files["svg"].name, "evidence": verified,
           "freshness": state, "freshness_note": note, "controls": controls,
           "definition": evidence.definition(audit.stack, root)}
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"md": out_dir / f"audit-{audit.stack.name}.md",
             "html": out_dir / f"audit-{audit.stack.name}.html"}
    files["md"].write_text(evidence.templates(root, False).get_template("audit.md.j2")
                           .render(ctx), encoding="utf-8")
    files["html"].write_text(evidence.templates(root, True).get_template("audit.html.j2").render(
        ctx, svg=jinja2.utils.markupsafe.Markup(svg[svg.index("<svg"):])), encoding="utf-8")
    audit.freshness = state
    return files


def run_audit(root: Path, stack: Stack, out_dir: Path,
              evidence_file: Path | None = None) -> Audit:
    plan = run_plan(root, stack.name, out_dir)
    verified = json.loads(evidence_file.read_text()) if evidence_file else \
        evidence.latest(stack)
    audit = Audit(stack, plan, verified, "missing")
    audit.files = write(root, audit, out_dir)
    return audit
