"""`egov service new`: onboard an agency's service into a stack from the service template.

The new manifest is rendered from `templates/service/manifest.yaml.j2` and inserted into
the stack file's `egov-dc:services` list as text, so the file's comments and layout stay as
the sysadmins wrote them. The whole new stack is validated before anything is written; the
only files written are the stack file and the service's own card under `services/<name>/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jinja2
import yaml

from egov import i18n
from egov.i18n import _
from egov.model import (
    ACCESS_POLICIES,
    DNS_LABEL,
    PROJECT,
    Problem,
    Relation,
    Role,
    Stack,
    StackError,
    load_stack,
    parse_stack,
    stack_file,
)

SERVICES_KEY = f"{PROJECT}:services"
DEFAULT_ARTIFACT = "egov-reference-service"


@dataclass
class NewService:
    name: str
    relation: str
    title: str
    agency: str
    nodes: list[str] = field(default_factory=list)  # [] = every app node
    port: int | None = None  # None = the first port the gateway may reach that is free
    hostname: str | None = None
    health_path: str = "/healthz"
    database: bool = True
    backup_schedule: str = "daily"
    artifact: str = DEFAULT_ARTIFACT


@dataclass(frozen=True)
class Onboarded:
    stack: Stack
    written: tuple[Path, ...]


def _env(root: Path) -> jinja2.Environment:
    env = i18n.environment(jinja2.FileSystemLoader(root / "templates" / "service"),
                           undefined=jinja2.StrictUndefined, trim_blocks=True,
                           keep_trailing_newline=True, autoescape=False)
    env.filters["scalar"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def _problem(shown: str, index: int, where: str, message: str, fix: str) -> StackError:
    return StackError(shown, [Problem(f"{SERVICES_KEY}[{index}].{where}", message, fix)])


def _choose_nodes(stack: Stack, spec: NewService, shown: str, index: int) -> list[str]:
    if spec.nodes:
        return list(dict.fromkeys(spec.nodes))
    nodes = [n.name for n in stack.nodes_with(Role.app)]
    if not nodes:
        raise _problem(shown, index, "nodes", _("the stack has no node with the role 'app'"),
                       _("add an app node to the stack, or name the nodes with --node"))
    return nodes


def _choose_port(stack: Stack, nodes: list[str], shown: str, index: int) -> int:
    """The lowest port the gateways may open on every one of the nodes, used by no other
    service there."""
    gateways = stack.nodes_with(Role.gateway)
    if not gateways:
        raise _problem(shown, index, "port",
                       _("the stack has no gateway to publish the service"),
                       _("add a node with the role 'gateway', or give --port"))
    app_nodes = {n.name for n in stack.nodes_with(Role.app)}
    # Nodes that are unknown or no app node are named by the stack's own validation; the
    # port is then chosen as if the service ran on the app nodes.
    nodes = [n for n in nodes if n in app_nodes] or sorted(app_nodes)
    zones = {stack.node(n).zone for n in nodes}
    open_ports = None
    for g in gateways:
        for z in zones:
            ports = {a.port for a in stack.derived.matrix[g.zone][z]
                     if a.protocol == "tcp" and a.port >= 1024}
            open_ports = ports if open_ports is None else open_ports & ports
    used = {svc.port for svc in stack.services if set(svc.nodes) & set(nodes)}
    free = sorted((open_ports or set()) - used)
    if not free:
        zone_list = ", ".join(sorted(zones))
        raise _problem(shown, index, "port",
                       _("no port from the gateway zone into {zones} is free on {nodes}")
                       .format(zones=zone_list, nodes=", ".join(nodes)),
                       _("add a port to the {key} entry from {zone} to {zones}, or give --port")
                       .format(key=f"{PROJECT}:flows", zone=gateways[0].zone, zones=zone_list))
    return free[0]


def _insert(text: str, item: str) -> str:
    """The stack file's text with `item` appended to the services list (created if needed)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    key = re.compile(rf"^(\s*){re.escape(SERVICES_KEY)}:\s*(\[\s*\])?\s*(#.*)?$")
    for i, line in enumerate(lines):
        m = key.match(line.rstrip("\n"))
        if not m:
            continue
        indent = len(m.group(1))
        if m.group(2) is not None:  # an empty flow list: becomes a block list
            lines[i] = f"{m.group(1)}{SERVICES_KEY}:\n"
            return "".join(lines[:i + 1]) + item + "".join(lines[i + 1:])
        end = i + 1
        for j in range(i + 1, len(lines)):
            stripped = lines[j].strip()
            if not stripped:
                continue
            if len(lines[j]) - len(lines[j].lstrip(" ")) <= indent:
                break
            end = j + 1
        return "".join(lines[:end]) + item + "".join(lines[end:])
    return "".join(lines) + f"  {SERVICES_KEY}:\n" + item


def _item_indent(text: str) -> str:
    m = re.search(rf"^\s*{re.escape(SERVICES_KEY)}:\s*\n(\s*)- ", text, re.MULTILINE)
    return m.group(1) if m else "    "


def new_service(root: Path, stack_name: str, spec: NewService) -> Onboarded:
    """Add the service to the stack file and write its card; StackError (nothing written)
    when the result would not be a valid stack."""
    stack = load_stack(root, stack_name)
    path = stack_file(root, stack_name)
    shown = stack.file
    index = len(stack.services)

    if not DNS_LABEL.match(spec.name):
        raise _problem(shown, index, "name",
                       _("{name} is not a DNS-safe name").format(name=repr(spec.name)),
                       _("use lower-case letters, digits and '-', starting with a letter"))
    taken = {s.name for s in stack.services} | {n.name for n in stack.nodes}
    if spec.name in taken:
        raise _problem(shown, index, "name",
                       _("{name} is already a service or node of stack {stack}").format(
                           name=repr(spec.name), stack=repr(stack_name)),
                       _("choose another name for the new service"))
    try:
        relation = Relation(spec.relation.upper())
    except ValueError:
        raise _problem(shown, index, "relation",
                       _("unknown relation {relation}").format(relation=repr(spec.relation)),
                       _("use one of {choices}").format(
                           choices=", ".join(r.value for r in Relation))) from None
    card_dir = root / "services" / spec.name
    if card_dir.exists():
        raise _problem(shown, index, "name",
                       _("{path} already exists").format(path=card_dir.relative_to(root)),
                       _("choose another name, or remove the folder of the old service"))

    nodes = _choose_nodes(stack, spec, shown, index)
    port = spec.port if spec.port is not None else _choose_port(stack, nodes, shown, index)
    values = {**asdict(spec), "relation": relation.value, "nodes": nodes, "port": port}

    env = _env(root)
    text = path.read_text(encoding="utf-8")
    item = env.get_template("manifest.yaml.j2").render(indent=_item_indent(text), **values)
    new_text = _insert(text, item)
    new_stack = parse_stack(yaml.safe_load(new_text), name=stack_name, file=shown)

    public = next(s.name for s in new_stack.derived.sites if s.service == spec.name)
    card = env.get_template("README.md.j2").render(
        **values, access=ACCESS_POLICIES[relation], public_name=public, stack=stack_name,
        stack_file=shown, index=index)

    # Validated: the card is staged beside its place, the stack file replaced atomically,
    # then the card moved in; a failure puts the stack file back.
    (root / "services").mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root / "services", prefix=f".{spec.name}."))
    try:
        (staging / "README.md").write_text(card, encoding="utf-8")
        staging.chmod(0o755)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
        try:
            staging.rename(card_dir)
        except OSError:
            path.write_text(text, encoding="utf-8")
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        for leftover in path.parent.glob(f".{path.name}.*"):
            leftover.unlink()
    return Onboarded(new_stack, (path, card_dir / "README.md"))
