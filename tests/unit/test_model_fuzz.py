"""Property tests of the stack model: generated valid stacks load and plan; mutations of
the lab stack fail only with StackError, and the command refuses them with exit code 2."""

from __future__ import annotations

import copy
import ipaddress
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from egov.cli import app
from egov.docker_plan import plan
from egov.model import (
    PACKAGE_CACHE_PORT,
    PROJECT,
    ROLE_PURPOSE,
    ROLE_STATE,
    Purpose,
    Role,
    StackError,
    load_stack,
    parse_stack,
)

ROOT = Path(__file__).resolve().parents[2]
LAB = yaml.safe_load((ROOT / "stacks" / "Pulumi.lab.yaml").read_text(encoding="utf-8"))
ADMIN_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVnb3YtZnV6ei1nZW5lcmF0ZWQta2V5LW5vLW9uZQ "
             "fuzz@example.org")
FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Fields a stack cannot do without, by the kind of entry that holds them.
REQUIRED = {
    "": ["environment", "domain", "dockerHosts", "zones", "nodes"],
    "dockerHosts": ["name", "url", "publicAddress"],
    "zones": ["name", "subnet", "purpose", "description"],
    "nodes": ["name", "zone", "roles"],
    "flows": ["from", "to", "ports", "purpose"],
}


def parse(config: dict) -> Any:
    return parse_stack({"config": config}, name="fuzz", file="stacks/Pulumi.fuzz.yaml")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in folder.rglob("*")}


def run_cli(config: dict) -> tuple[int, str, bool]:
    """`egov validate` on the config as a stack file of a fresh project; returns the exit
    code, the output and whether the project and state folders were left as they were."""
    with tempfile.TemporaryDirectory() as tmp:
        root, state = Path(tmp) / "project", Path(tmp) / "state"
        (root / "stacks").mkdir(parents=True)
        state.mkdir()
        text = yaml.dump({"config": config}, Dumper=DUMPER, allow_unicode=True)
        (root / "stacks" / "Pulumi.fuzz.yaml").write_text(text, encoding="utf-8")
        before = tree(Path(tmp))
        result = CliRunner().invoke(app, ["validate", "fuzz"],
                                    env={"EGOV_ROOT": str(root), "EGOV_STATE_DIR": str(state)})
        return result.exit_code, result.output, tree(Path(tmp)) == before


def assert_refused(config: dict) -> None:
    code, output, untouched = run_cli(config)
    assert code == 2, output
    assert "Traceback" not in output
    # The console may wrap long lines: compare words, not line breaks.
    shown = " ".join(output.split())
    assert re.search(rf"stacks/Pulumi\.fuzz\.yaml: ({PROJECT}:|config)", shown), output
    assert " fix: " in shown, output
    assert untouched


def assert_well_formed(err: StackError) -> None:
    assert err.problems
    for p in err.problems:
        assert p.path.startswith((f"{PROJECT}:", "config")), p
        assert p.message and p.fix, p
        assert p.fix != "correct this value", p


# ---- valid stacks -----------------------------------------------------------------------

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"  # pragma: allowlist secret
NAME = st.builds(lambda head, tail: head + tail, st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
                 st.text(LABEL_CHARS, max_size=6)
                 ).filter(lambda s: not s.endswith("-"))
ROLES_BY_PURPOSE = {p: [r for r, want in ROLE_PURPOSE.items() if want == p and r != Role.bastion]
                    for p in Purpose}


@st.composite
def valid_configs(draw) -> dict:
    names = draw(st.lists(NAME, min_size=4, max_size=16, unique=True))
    n_zones = draw(st.integers(1, min(5, len(names) - 3)))
    zone_names, node_names = names[:n_zones], names[n_zones:]
    octets = draw(st.lists(st.integers(0, 255), min_size=n_zones, max_size=n_zones,
                           unique=True))
    macvlan = draw(st.booleans())
    vlans = draw(st.lists(st.integers(1, 4094), min_size=n_zones, max_size=n_zones,
                          unique=True))
    zones = []
    for i, (name, octet) in enumerate(zip(zone_names, octets, strict=True)):
        purpose = Purpose.management if i == 0 else draw(st.sampled_from(list(Purpose)))
        prefix = draw(st.integers(16, 26))
        zone = {"name": name, "subnet": f"10.{octet}.0.0/{prefix}", "purpose": purpose.value,
                "description": "generated", "egress": draw(st.booleans())}
        if macvlan:
            zone["vlan"] = vlans[i]
        zones.append(zone)

    host = {"name": "local", "url": "unix:///var/run/docker.sock", "publicAddress": "127.0.0.1"}
    if macvlan:
        host |= {"networkDriver": "macvlan", "parentInterface": "eth1"}
    ports = draw(st.lists(st.integers(1, 65535), min_size=3, max_size=3, unique=True))

    nodes, explicit, has_gateway = [], {z["name"]: set() for z in zones}, False
    for i, name in enumerate(node_names):
        zone = zones[0] if i == 0 else draw(st.sampled_from(zones))
        roles = draw(st.lists(st.sampled_from(ROLES_BY_PURPOSE[Purpose(zone["purpose"])]),
                              min_size=0 if i == 0 else 1, max_size=3, unique=True))
        if i == 0:
            roles = ["bastion", *roles]
        if not roles:
            continue
        if Role.gateway in roles:
            if has_gateway:  # one gateway per Docker host: two would publish the same ports
                continue
            has_gateway = True
        node = {"name": name, "zone": zone["name"], "roles": [str(r) for r in roles],
                "memory": draw(st.sampled_from(["256m", "1g", "65536k", "3g"]))}
        # volume names are DNS-safe: role names may hold an underscore
        state = {str(r).replace("_", "-"): ROLE_STATE[Role(r)] for r in roles
                 if Role(r) in ROLE_STATE}
        if state:  # what a stateful role keeps lives on a volume
            node["volumes"] = state
        if draw(st.booleans()):
            # An explicit address below the automatic range, never .0 or .1.
            offset = draw(st.integers(2, 9).filter(lambda o, z=zone: o not in explicit[z["name"]]))
            explicit[zone["name"]].add(offset)
            node["address"] = str(ipaddress.IPv4Network(zone["subnet"]).network_address + offset)
        nodes.append(node)

    zone_list = [z["name"] for z in zones]
    flows = draw(st.lists(st.fixed_dictionaries({
        "from": st.lists(st.sampled_from(zone_list), min_size=1, max_size=3),
        "to": st.lists(st.sampled_from(zone_list), min_size=1, max_size=3),
        "ports": st.lists(st.integers(1, 65535), min_size=1, max_size=3),
        "protocol": st.sampled_from(["tcp", "udp"]),
        "purpose": st.just("generated"),
    }), max_size=5))
    # every zone reaches its package caches: a valid stack opens their port
    cache_zones = sorted({n["zone"] for n in nodes if "package_cache" in n["roles"]})
    if cache_zones:
        flows.append({"from": zone_list, "to": cache_zones, "ports": [PACKAGE_CACHE_PORT],
                      "protocol": "tcp", "purpose": "package cache"})
    return {
        f"{PROJECT}:environment": draw(st.sampled_from(["lab", "staging", "prod"])),
        f"{PROJECT}:domain": draw(st.sampled_from(["lab.bengkulukota.go.id", "example.org"])),
        f"{PROJECT}:dockerHosts": [host],
        # a stack other than lab must name an administrator (the lab generates one)
        f"{PROJECT}:access": {"bastionPort": ports[0], "adminKeys": [ADMIN_KEY]},
        f"{PROJECT}:gateway": {"httpPort": ports[1], "httpsPort": ports[2]},
        f"{PROJECT}:zones": zones,
        f"{PROJECT}:flows": flows,
        f"{PROJECT}:nodes": nodes,
    }


@FAST
@given(valid_configs())
def test_generated_valid_stacks_load_and_plan(config):
    stack = parse(config)
    d = stack.derived
    assert set(d.address) == {n.name for n in stack.nodes}
    taken: set[tuple[str, str]] = set()
    for node in stack.nodes:
        legs = d.attachments[node.name]
        assert legs[0].zone == node.zone and legs[0].address == d.address[node.name]
        for leg in legs:
            subnet = stack.zone(leg.zone).subnet
            addr = ipaddress.IPv4Address(leg.address)
            assert addr in subnet
            assert addr not in (subnet.network_address, subnet.network_address + 1,
                                subnet.broadcast_address)
            assert (leg.zone, leg.address) not in taken
            taken.add((leg.zone, leg.address))
    assert stack.ssh_path(stack.bastion) == [stack.bastion.name]
    mgmt = stack.management_zone.name
    assert all(any(a.port == 22 for a in d.matrix[mgmt][z.name]) for z in stack.zones)
    assert len(plan(stack, ROOT, []).containers) == len(stack.nodes)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_generated_valid_stacks_pass_the_command(config):
    code, output, untouched = run_cli(config)
    assert code == 0, output
    assert untouched


# ---- mutations of the lab stack ---------------------------------------------------------

SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["auto", "10.210.0.1", "10.0.0.0/8", "512m", "bastion", "dmz", "-", ""]),
)
JUNK = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), inner, max_size=3),
), max_leaves=6)


def places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every key and list index in the config, as paths from its root."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*path, k))
            out += places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*path, i))
            out += places(v, (*path, i))
    return out


LAB_PLACES = places(LAB["config"])


def at(config: dict, path: tuple) -> Any:
    for part in path:
        config = config[part]
    return config


def kind_of(path: tuple) -> str:
    """The kind of entry a path ends in: '' for the top level, 'nodes' for a node's field."""
    if len(path) == 1:
        return ""
    if len(path) == 3 and isinstance(path[1], int):
        return path[0].removeprefix(f"{PROJECT}:")
    return "?"


def wrong_shape(value: Any) -> Any:
    # No field takes a mapping where the lab has a scalar, nor a number where it has a
    # list or mapping.
    return 7 if isinstance(value, dict | list) else {"x-junk": value}


@st.composite
def broken_configs(draw) -> dict:
    """Mutations of the lab stack that no valid stack can be."""
    config = copy.deepcopy(LAB["config"])
    how = draw(st.sampled_from(["shape", "delete", "unknown", "namespace"]))
    if how == "shape":
        path = draw(st.sampled_from(LAB_PLACES))
        at(config, path[:-1])[path[-1]] = wrong_shape(at(config, path))
    elif how == "delete":
        path = draw(st.sampled_from([p for p in LAB_PLACES
                                     if isinstance(p[-1], str) and p[-1].split(":")[-1]
                                     in REQUIRED.get(kind_of(p), [])]))
        del at(config, path[:-1])[path[-1]]
    elif how == "unknown":
        holders = [()] + [p for p in LAB_PLACES if isinstance(at(config, p), dict)]
        holder = at(config, draw(st.sampled_from(holders)))
        key = "X_Junk" if holder is not config else f"{PROJECT}:X_Junk"
        holder[key] = draw(JUNK.filter(lambda v: not isinstance(v, dict) or "secure" not in v))
    else:
        key = draw(st.sampled_from(list(config)))
        config[draw(st.sampled_from(["egov:", "egov_dc:", "egov-dc", ""]))
               + key.split(":")[1]] = config.pop(key)
    return config


@st.composite
def junk_configs(draw) -> dict:
    """Random junk in a random field, or a random key or entry deleted: often broken,
    sometimes still a valid stack."""
    config = copy.deepcopy(LAB["config"])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(places(config)))
        holder = at(config, path[:-1])
        if draw(st.booleans()):
            holder[path[-1]] = draw(JUNK)
        else:
            del holder[path[-1]]
    return config


@FAST
@given(broken_configs())
def test_broken_mutations_raise_stack_error(config):
    try:
        parse(config)
    except StackError as err:
        assert_well_formed(err)
    else:
        raise AssertionError("a broken stack loaded")


@FAST
@given(junk_configs())
def test_junk_raises_stack_error_or_loads(config):
    try:
        stack = parse(config)
    except StackError as err:
        assert_well_formed(err)
    else:
        assert stack.derived.address


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_configs())
def test_command_refuses_broken_mutations(config):
    assert_refused(config)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk_configs())
def test_command_never_shows_a_traceback(config):
    try:
        parse(config)
    except StackError:
        assert_refused(config)
    else:
        code, output, untouched = run_cli(config)
        assert code == 0, output
        assert untouched


LAB_TEXT = (ROOT / "stacks" / "Pulumi.lab.yaml").read_text(encoding="utf-8")


@st.composite
def mangled_texts(draw) -> str:
    """The lab stack file with characters inserted, deleted or replaced: broken YAML,
    broken values, or now and then a file that still loads."""
    text = LAB_TEXT
    for _ in range(draw(st.integers(1, 4))):
        at_ = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        new = draw(st.text(st.sampled_from(":-[]{}#&*!|>'\"%@`, \t\n\x00\x85é0a"), max_size=3))
        text = text[:at_] + new + text[at_ + cut:]
    return text


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_texts())
def test_mangled_files_raise_stack_error_or_load(text):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "stacks").mkdir()
        (Path(tmp) / "stacks" / "Pulumi.fuzz.yaml").write_text(text, encoding="utf-8")
        try:
            load_stack(Path(tmp), "fuzz")
        except StackError as err:
            assert err.problems
            assert all(p.path and p.message and p.fix for p in err.problems)
