"""`egov plan`: the Pulumi program run offline, checked by policy, written up for auditors.

The program in `infra/` runs under Pulumi's mock runtime (`pulumi.runtime.set_mocks`):
no Pulumi CLI, no provider plugin and no Docker engine are needed, and nothing is
contacted. Every resource the program registers is recorded with its inputs, the
mandatory policies (`infra/policy/policies.py`) are applied to them, and a report is
written: Markdown, HTML and a picture of the zones, nodes, addresses and allowed flows.
"""

from __future__ import annotations

import runpy
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import jinja2

from egov.evidence import templates
from egov.i18n import _
from egov.model import PROJECT, Stack, load_stack
from egov.vault import uses_vault, vault_file

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/image:Image"
PROVIDER = "pulumi:providers:docker"
_KIND = {CONTAINER: "Container", NETWORK: "Network", VOLUME: "Volume", IMAGE: "Image",
         PROVIDER: "Provider"}


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registered, with the inputs it gave."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str  # URN of the provider resource ('' for components)
    props: dict[str, Any]

    @property
    def kind(self) -> str:
        return _KIND.get(self.type, self.type.rsplit(":", 1)[-1])


@dataclass
class ProgramRun:
    """Everything one run of the program under mocks registered and exported."""

    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, name: str) -> PlannedResource:
        return next(r for r in self.resources if r.name == name)

    def docker_host_url(self, resource: PlannedResource) -> str | None:
        provider = next((r for r in self.resources if r.urn == resource.provider), None)
        return provider.props.get("host") if provider else None


def _ensure_importable(root: Path) -> None:
    # `infra` (components, policies) is a package of the project tree, not of the wheel.
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def run_program(root: Path, stack_name: str) -> ProgramRun:
    """Run `infra/__main__.py` for one stack under Pulumi's mock runtime."""
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    class Mocks(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
            # A planned resource's state is what it was asked to be.
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: mocks.MockCallArgs) -> tuple[dict, None]:
            return {}, None

    recorded: list[PlannedResource] = []
    outputs: dict[str, Any] = {}

    class Monitor(mocks.MockMonitor):
        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                recorded.append(PlannedResource(
                    urn=response.urn, type=request.type, name=request.name,
                    custom=bool(request.custom), parent=request.parent,
                    # a provider reference is "<urn>::<id>"
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
                    props=self.resources[response.urn].state))
            return response

        def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                outputs.update(rpc.deserialize_properties(request.outputs))
            return super().RegisterResourceOutputs(request)

    _ensure_importable(root)
    m = Mocks()
    mocks.set_mocks(m, project=PROJECT, stack=stack_name, preview=True, monitor=Monitor(m))
    settings.SETTINGS.outputs.clear()
    # run_in_stack makes the program's root stack, as the Pulumi language host does.
    settings.ROOT.set(None)
    program = root / "infra" / "__main__.py"
    _sync_await(run_in_stack(lambda: runpy.run_path(str(program), run_name="__main__")))
    return ProgramRun(stack_name, recorded, outputs)


# ---- policies ---------------------------------------------------------------------------


def check_policies(stack: Stack, run: ProgramRun) -> list:
    """The mandatory policies applied to the planned resources."""
    from infra.policy.policies import Allowed, Resource, check

    return check([Resource(r.urn, r.type, r.name, r.props) for r in run.resources if r.custom],
                 Allowed.from_stack(stack))


def policy_names() -> list[str]:
    from infra.policy.policies import RULES

    return list(RULES)


# ---- the picture ------------------------------------------------------------------------

_ZONE_COLOURS = {"management": "#e8eefc", "dmz": "#fdecea", "application": "#eaf7ee",
                 "data": "#fff6e0", "identity": "#f1eafb"}


def _runs(ports: list[int]) -> str:
    """8000,8001,8002,9100 -> 8000-8002,9100"""
    out: list[list[int]] = []
    for p in sorted(set(ports)):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in out)


def _ports(allowed) -> str:
    by_proto: dict[str, list[int]] = {}
    for a in allowed:
        by_proto.setdefault(a.protocol, []).append(a.port)
    return " ".join(f"{proto} {_runs(ports)}" for proto, ports in sorted(by_proto.items()))


def network_picture(stack: Stack) -> graphviz.Digraph:
    """Zones as boxes with their nodes and addresses; arrows are the allowed flows between
    zones (the reachability matrix) and the ports published to the outside."""
    d = stack.derived
    g = graphviz.Digraph(f"plan-{stack.name}", graph_attr={
        "compound": "true", "rankdir": "LR", "fontname": "Helvetica", "fontsize": "11",
        "label": _("stack {stack} ({domain}): zones, nodes and allowed flows").format(
            stack=stack.name, domain=stack.domain),
        "labelloc": "t", "nodesep": "0.25", "ranksep": "1.2"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "box",
                   "style": "rounded,filled", "fillcolor": "white"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    multi_host = len(stack.docker_hosts) > 1
    anchor: dict[str, str] = {}
    for zone in stack.zones:
        members = [n for n in stack.nodes if n.zone == zone.name]
        within = _ports(d.matrix[zone.name][zone.name])
        label = f"{zone.name}  {zone.subnet}" + (f"  VLAN {zone.vlan}" if zone.vlan else "")
        label += f"\n{zone.purpose.value}" + ("" if zone.egress else _(", no egress"))
        if within:
            label += "\n" + _("within the zone: {ports}").format(ports=within)
        with g.subgraph(name=f"cluster_{zone.name}") as c:
            c.attr(label=label, style="filled,rounded", fillcolor=_ZONE_COLOURS[zone.purpose],
                   color="#888888")
            if not members:
                c.node(f"{zone.name}__empty", _("(no node)"), style="dashed")
                anchor[zone.name] = f"{zone.name}__empty"
            for n in members:
                legs = [f"{a.zone} {a.address}" for a in d.attachments[n.name] if a.zone != n.zone]
                text = f"{n.name}\n{d.address[n.name]}\n{', '.join(r.value for r in n.roles)}"
                if multi_host:
                    text += "\n" + _("on {host}").format(host=stack.docker_host(n).name)
                if legs:
                    text += "\n" + _("legs: {legs}").format(legs="; ".join(legs))
                c.node(f"node_{n.name}", text)
                anchor.setdefault(zone.name, f"node_{n.name}")
    for src in stack.zones:
        for dst in stack.zones:
            allowed = d.matrix[src.name][dst.name]
            if src.name == dst.name or not allowed:
                continue
            g.edge(anchor[src.name], anchor[dst.name], label=_ports(allowed),
                   ltail=f"cluster_{src.name}", lhead=f"cluster_{dst.name}", color="#335599")
    g.node("outside", _("outside\n(public, administrators)"), shape="ellipse",
           fillcolor="#f4f4f4")
    for n in stack.nodes:
        for p in d.published[n.name]:
            g.edge("outside", f"node_{n.name}", color="#aa3333", fontcolor="#aa3333",
                   label=f"{p.host_ip}:{p.host_port} -> {p.container_port}")
    return g


# ---- the report -------------------------------------------------------------------------


@dataclass
class PlanResult:
    stack: Stack
    run: ProgramRun
    violations: list
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.kind for r in self.run.resources if r.custom))


def resource_rows(stack: Stack, run: ProgramRun) -> list[dict[str, str]]:
    """One row per planned Docker object: kind, name, Docker host and what matters of it."""
    host_by_url = {h.url: h.name for h in stack.docker_hosts}
    rows = []
    for r in run.resources:
        if not r.custom:
            continue
        p = r.props
        if r.type == PROVIDER:
            detail = p.get("host", "")
            host = r.name.removeprefix(f"{stack.name}-")
        else:
            host = host_by_url.get(run.docker_host_url(r) or "", "")
            if r.type == CONTAINER:
                legs = ", ".join(f"{e['name']} {e.get('ipv4Address', '')}"
                                 for e in p.get("networksAdvanced") or [])
                ports = ", ".join(f"{x.get('ip')}:{x.get('external')}->{x.get('internal')}"
                                  for x in p.get("ports") or [])
                detail = _("{legs}; {memory} MB, {cpus} CPU").format(
                    legs=legs, memory=int(p.get("memory") or 0), cpus=p.get("cpus"))
                detail += _("; publishes {ports}").format(ports=ports) if ports else ""
            elif r.type == NETWORK:
                ipam = (p.get("ipamConfigs") or [{}])[0]
                detail = _("{driver} {subnet} gateway {gateway}").format(
                    driver=p.get("driver"), subnet=ipam.get("subnet"),
                    gateway=ipam.get("gateway"))
                detail += _(" internal") if p.get("internal") else ""
                parent = (p.get("options") or {}).get("parent")
                detail += _(" on {interface}").format(interface=parent) if parent else ""
            elif r.type == IMAGE:
                detail = _("{image} built from {context}").format(
                    image=p.get("imageName"), context=p.get("build", {}).get("context"))
            else:
                detail = ""
        rows.append({"kind": r.kind, "name": str(p.get("name") or p.get("imageName") or r.name),
                     "resource": r.name, "host": host, "detail": detail, "urn": r.urn})
    return rows


def _context(result: PlanResult, picture: str) -> dict[str, Any]:
    s, d = result.stack, result.stack.derived
    failed = {v.policy for v in result.violations}
    flows = [{"source": a, "to": b, "ports": _ports(allowed),
              "purpose": "; ".join(sorted({x.purpose for x in allowed}))}
             for a, row in d.matrix.items() for b, allowed in row.items() if allowed]
    return {
        "stack": s, "d": d, "picture": picture, "flows": flows,
        "policies": [{"name": n, "ok": n not in failed} for n in policy_names()],
        "violations": result.violations, "rows": resource_rows(s, result.run),
        "counts": result.counts(), "total": sum(result.counts().values()),
        "vault": vault_file(Path("."), s.name).as_posix() if uses_vault(s) else None,
    }


def render_picture(stack: Stack) -> dict[str, bytes]:
    picture = network_picture(stack)
    return {fmt: picture.pipe(format=fmt) for fmt in ("svg", "png")}


def write_report(root: Path, result: PlanResult, out_dir: Path,
                 pictures: dict[str, bytes] | None = None) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"plan-{result.stack.name}"
    pictures = pictures or render_picture(result.stack)
    files = {"svg": out_dir / f"{name}.svg", "png": out_dir / f"{name}.png",
             "md": out_dir / f"{name}.md", "html": out_dir / f"{name}.html"}
    svg = pictures["svg"]
    files["svg"].write_bytes(svg)
    files["png"].write_bytes(pictures["png"])
    ctx = _context(result, files["svg"].name)
    files["md"].write_text(templates(root, False).get_template("plan.md.j2").render(ctx),
                           encoding="utf-8")
    inline = svg.decode()
    inline = inline[inline.index("<svg"):]  # drop the XML prologue and DOCTYPE
    html = templates(root, True).get_template("plan.html.j2").render(
        ctx, svg=jinja2.utils.markupsafe.Markup(inline))
    files["html"].write_text(html, encoding="utf-8")
    return files


def run_plan(root: Path, stack_name: str, out_dir: Path) -> PlanResult:
    """Plan one stack offline: run the program under mocks, apply the policies, write
    `plan-<stack>.md`, `.html`, `.svg` and `.png` into `out_dir`."""
    started = time.perf_counter()
    stack = load_stack(root, stack_name)
    # The picture comes from the model alone: graphviz draws it while the program runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pictures = pool.submit(render_picture, stack)
        run = run_program(root, stack_name)
        result = PlanResult(stack, run, check_policies(stack, run))
        result.files = write_report(root, result, out_dir, pictures.result())
    result.seconds = time.perf_counter() - started
    return result
