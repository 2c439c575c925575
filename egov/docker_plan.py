"""What a stack is made of on Docker: networks, volumes, images and containers.

Computed once from the stack model and consumed by both projections that create Docker
objects: the Pulumi program (`infra/`) and the lab provisioner (`roles/lab_docker`).
The parity test compares what each of them makes against this same plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from egov import images
from egov.model import LABEL_NODE, LABEL_ROLE, LABEL_ZONE, Stack, memory_bytes
from egov.paths import role_defaults

# systemd as PID 1 in an unprivileged container (cgroup v1 host): see the design brief.
# The temporary folders are memory too, and nothing there may be a program, a device or
# setuid (path -> mount options).
NODE_TMPFS = {"/run": "", "/run/lock": "",
              "/tmp": "rw,nosuid,nodev,noexec,size=256m",
              "/var/tmp": "rw,nosuid,nodev,noexec,size=64m"}
CGROUP_MOUNT = "/sys/fs/cgroup"
STOP_SIGNAL = "SIGRTMIN+3"
# Each node keeps its own firewall (nftables) in its network namespace.
CAPABILITIES = ("NET_ADMIN",)
RESTART_POLICY = "unless-stopped"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    zone: str
    docker_host: str
    driver: str
    subnet: str
    gateway: str
    internal: bool
    labels: dict[str, str]
    # macvlan only: the VLAN sub-interface the zone lives on
    parent: str | None = None


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    node: str
    docker_host: str
    mount_path: str
    labels: dict[str, str]


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    docker_host: str
    base_image: str
    context: str
    # "node", or the roles whose packages it carries
    kind: str = "node"


@dataclass(frozen=True)
class EndpointSpec:
    network: str
    address: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class PortSpec:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    node: str
    docker_host: str
    hostname: str
    domainname: str
    image: str
    endpoints: tuple[EndpointSpec, ...]
    ports: tuple[PortSpec, ...]
    volumes: tuple[tuple[str, str], ...]  # (volume name, mount path)
    env: dict[str, str]
    labels: dict[str, str]
    memory: int
    cpus: float
    tmpfs: dict[str, str] = field(default_factory=lambda: dict(NODE_TMPFS))
    # Kernel settings of the container's own network namespace (the base role's per-
    # interface ones); the rest of the kernel is the Docker host's.
    sysctls: dict[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = (f"{CGROUP_MOUNT}:{CGROUP_MOUNT}:ro",)
    restart_policy: str = RESTART_POLICY
    stop_signal: str = STOP_SIGNAL
    privileged: bool = False
    capabilities: tuple[str, ...] = CAPABILITIES
    # Name servers behind the engine's resolver (the stack's dns nodes); () keeps the engine's.
    dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class DockerPlan:
    stack: str
    networks: tuple[NetworkSpec, ...]
    volumes: tuple[VolumeSpec, ...]
    images: tuple[ImageSpec, ...]
    containers: tuple[ContainerSpec, ...]
    labels: dict[str, str] = field(default_factory=dict)
    # Docker host name -> its engine's URL (every spec above names its host)
    hosts: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def namespaced_sysctls(root: Path) -> dict[str, str]:
    """The base role's per-interface network settings (net.ipv4.conf.*, net.ipv6.conf.*),
    which Docker sets in each container's network namespace. Forwarding is left alone:
    Docker needs it, and setting it resets accept_redirects."""
    wanted = role_defaults("base", root)["base__sysctl"]
    return {key: str(value) for key, value in sorted(wanted.items())
            if key.startswith(("net.ipv4.conf.", "net.ipv6.conf."))
            and not key.endswith(".forwarding")}


def plan(stack: Stack, root: Path, admin_keys: list[str],
         cpu_limit: float | None = None) -> DockerPlan:
    """The Docker objects of a stack. `admin_keys` are the administrators' public keys the
    nodes accept at first boot (the model's, or the lab's key generated on the machine);
    `cpu_limit` lowers a node's CPU limit to what the engines have (a rehearsal's)."""
    d = stack.derived
    node_images = images.stack_images(stack, root)
    used_hosts = {stack.docker_host(n).name for n in stack.nodes}

    networks = []
    for host in stack.docker_hosts:
        if host.name not in used_hosts:
            continue
        zones_here = {a.zone for n in stack.nodes if stack.docker_host(n).name == host.name
                      for a in d.attachments[n.name]}
        for zone in stack.zones:
            if zone.name not in zones_here:
                continue
            networks.append(NetworkSpec(
                name=stack.network_name(zone), zone=zone.name, docker_host=host.name,
                driver=host.network_driver, subnet=str(zone.subnet),
                gateway=str(zone.router),
                # A zone without egress has no route out on a bridge; a macvlan network made
                # internal loses its parent (the VLAN between hosts): the firewalls keep it in.
                internal=not zone.egress and host.network_driver != "macvlan",
                labels=stack.labels(zone=zone.name),
                parent=f"{host.parent_interface}.{zone.vlan}" if host.network_driver == "macvlan"
                else None,
            ))

    volumes, containers = [], []
    for node in stack.nodes:
        host = stack.docker_host(node).name
        for vol, path in sorted(node.volumes.items()):
            volumes.append(VolumeSpec(stack.volume_name(node, vol), node.name, host, path,
                                      stack.labels(node=node.name)))
        containers.append(ContainerSpec(
            name=stack.container_name(node), node=node.name, docker_host=host,
            hostname=node.name, domainname=stack.domain, image=node_images[node.name].tag,
            endpoints=tuple(
                EndpointSpec(a.network, a.address, (node.name, stack.fqdn(node)))
                for a in d.attachments[node.name]),
            ports=tuple(PortSpec(p.host_ip, p.host_port, p.container_port, p.protocol)
                        for p in d.published[node.name]),
            volumes=tuple((stack.volume_name(node, vol), path)
                          for vol, path in sorted(node.volumes.items())),
            env={"EGOV_ADMIN_USER": stack.access.admin_user,
                 "EGOV_ADMIN_KEYS": "\n".join(admin_keys)},
            labels={**stack.labels(), LABEL_NODE: node.name, LABEL_ZONE: node.zone,
                    LABEL_ROLE: ",".join(r.value for r in node.roles)},
            memory=memory_bytes(node.memory),
            cpus=min(node.cpus, cpu_limit) if cpu_limit else node.cpus,
            dns=tuple(d.resolvers[node.name]),
            sysctls=namespaced_sysctls(root),
        ))

    # Each host builds the images of its nodes, each after the one it is built from.
    image_specs = tuple(
        ImageSpec(image.tag, host, image.base, str(image.context), image.kind)
        for host in sorted(used_hosts)
        for image in images.build_order(root, [
            node_images[n.name] for n in stack.nodes if stack.docker_host(n).name == host]))
    return DockerPlan(stack.name, tuple(networks), tuple(volumes), image_specs,
                      tuple(containers), stack.labels(),
                      {h.name: h.url for h in stack.docker_hosts if h.name in used_hosts})
