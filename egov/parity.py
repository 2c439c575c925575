"""Parity: what Docker really has for a stack against what the Pulumi program plans.

Both sides are brought to one shape (networks, volumes, containers with the fields that
matter) and compared field by field; every difference names the object and the field.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from egov.lab import labelled
from egov.plan import CONTAINER, IMAGE, NETWORK, VOLUME, ProgramRun

MIB = 1024 * 1024
Shape = dict[str, dict[str, dict[str, Any]]]


def _labels(items: list[dict] | None) -> dict[str, str]:
    return {i["label"]: i["value"] for i in items or []}


def from_plan(run: ProgramRun) -> Shape:
    """The Docker objects the Pulumi program registers, in the common shape."""
    shape: Shape = {"network": {}, "volume": {}, "container": {}, "image": {}}
    for r in run.of_type(NETWORK):
        p = r.props
        ipam = (p.get("ipamConfigs") or [{}])[0]
        shape["network"][p["name"]] = {
            "driver": p.get("driver", "bridge"), "subnet": ipam.get("subnet"),
            "gateway": ipam.get("gateway"), "internal": bool(p.get("internal", False)),
            "labels": _labels(p.get("labels"))}
    for r in run.of_type(VOLUME):
        shape["volume"][r.props["name"]] = {"labels": _labels(r.props.get("labels"))}
    for r in run.of_type(IMAGE):
        shape["image"][r.props["imageName"]] = {}
    for r in run.of_type(CONTAINER):
        p = r.props
        mounts = set()
        for v in p.get("volumes") or []:
            if v.get("volumeName"):
                mounts.add(("volume", v["volumeName"], v["containerPath"], False))
            else:
                mounts.add(("bind", v["hostPath"], v["containerPath"], bool(v.get("readOnly"))))
        shape["container"][p["name"]] = {
            "image": p["image"], "hostname": p.get("hostname"),
            "domainname": p.get("domainname"),
            "networks": {n["name"]: (n["ipv4Address"], tuple(sorted(n.get("aliases") or [])))
                         for n in p.get("networksAdvanced") or []},
            "ports": sorted((pt["ip"], int(pt["external"]), int(pt["internal"]),
                             pt.get("protocol", "tcp")) for pt in p.get("ports") or []),
            "mounts": sorted(mounts),
            "tmpfs": dict(sorted((p.get("tmpfs") or {}).items())),
            "sysctls": dict(sorted((p.get("sysctls") or {}).items())),
            "env": dict(e.split("=", 1) for e in p.get("envs") or []),
            "labels": _labels(p.get("labels")),
            "memory": int(p["memory"]) * MIB if p.get("memory") else 0,
            "cpus": float(p["cpus"]) if p.get("cpus") else 0.0,
            "restart": p.get("restart"), "stop_signal": p.get("stopSignal"),
            "privileged": bool(p.get("privileged", False)),
            "capabilities": sorted((p.get("capabilities") or {}).get("adds") or []),
            "dns": list(p.get("dns") or []),
        }
    return shape


def _inspect(kind: str, names: list[str]) -> list[dict]:
    if not names:
        return []
    cmd = {"container": ["docker", "inspect"], "network": ["docker", "network", "inspect"],
           "volume": ["docker", "volume", "inspect"], "image": ["docker", "image", "inspect"]}
    out = subprocess.run([*cmd[kind], *names], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def from_docker(stack: str) -> Shape:
    """What the local engine has for the stack (found by its label), in the common shape."""
    shape: Shape = {"network": {}, "volume": {}, "container": {}, "image": {}}
    for n in _inspect("network", labelled("network", stack)):
        ipam = (n["IPAM"]["Config"] or [{}])[0]
        shape["network"][n["Name"]] = {
            "driver": n["Driver"], "subnet": ipam.get("Subnet"), "gateway": ipam.get("Gateway"),
            "internal": n["Internal"], "labels": n["Labels"] or {}}
    for v in _inspect("volume", labelled("volume", stack)):
        shape["volume"][v["Name"]] = {"labels": v["Labels"] or {}}
    containers = _inspect("container", labelled("container", stack))
    images = {i["Id"]: i for i in _inspect("image", sorted({c["Image"] for c in containers}))}
    for c in containers:
        image = images[c["Image"]]
        shape["image"][c["Config"]["Image"]] = {}
        image_env = set(image["Config"].get("Env") or [])
        image_labels = image["Config"].get("Labels") or {}
        host = c["HostConfig"]
        short_id = c["Id"][:12]
        shape["container"][c["Name"].lstrip("/")] = {
            "image": c["Config"]["Image"], "hostname": c["Config"]["Hostname"],
            "domainname": c["Config"]["Domainname"],
            "networks": {
                net: ((cfg.get("IPAMConfig") or {}).get("IPv4Address"),
                      tuple(sorted(a for a in cfg.get("Aliases") or [] if a != short_id)))
                for net, cfg in c["NetworkSettings"]["Networks"].items()},
            "ports": sorted((b["HostIp"], int(b["HostPort"]), int(port.split("/")[0]),
                             port.split("/")[1])
                            for port, binds in (host.get("PortBindings") or {}).items()
                            for b in binds or []),
            "mounts": sorted((m["Type"], m["Name"] if m["Type"] == "volume" else m["Source"],
                              m["Destination"], not m["RW"])
                             for m in c["Mounts"] if m["Type"] in ("volume", "bind")),
            "tmpfs": dict(sorted((host.get("Tmpfs") or {}).items())),
            "sysctls": dict(sorted((host.get("Sysctls") or {}).items())),
            "env": dict(e.split("=", 1) for e in c["Config"]["Env"] if e not in image_env),
            "labels": {k: v for k, v in c["Config"]["Labels"].items()
                       if image_labels.get(k) != v},
            "memory": host["Memory"], "cpus": host["NanoCpus"] / 1e9,
            "restart": host["RestartPolicy"]["Name"],
            "stop_signal": c["Config"].get("StopSignal"), "privileged": host["Privileged"],
            "capabilities": sorted(c.removeprefix("CAP_") for c in host.get("CapAdd") or []),
            "dns": list(host.get("Dns") or []),
        }
    return shape


def differences(planned: Shape, real: Shape) -> list[str]:
    """Every difference, as '<kind> <name>: <field>: plan=<x> docker=<y>'."""
    out = []
    for kind in ("network", "volume", "image", "container"):
        for name in sorted(set(planned[kind]) | set(real[kind])):
            if name not in real[kind]:
                out.append(f"{kind} {name}: planned but not in Docker")
                continue
            if name not in planned[kind]:
                out.append(f"{kind} {name}: in Docker but not planned")
                continue
            a, b = planned[kind][name], real[kind][name]
            for field in sorted(set(a) | set(b)):
                if a.get(field) != b.get(field):
                    out.append(f"{kind} {name}: {field}: plan={a.get(field)!r} "
                               f"docker={b.get(field)!r}")
    return out
