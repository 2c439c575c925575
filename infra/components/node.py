"""A node: one server of the data centre as a systemd container, with its named volumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from egov.docker_plan import ContainerSpec, VolumeSpec

MIB = 1024 * 1024


@dataclass
class NodeArgs:
    spec: ContainerSpec
    image: pulumi.Input[str]
    provider: docker.Provider
    volumes: Sequence[VolumeSpec] = ()
    # The zone networks the node joins: they must exist before the container starts.
    networks: Sequence[pulumi.Resource] = field(default_factory=list)


def _bind(spec: str) -> docker.ContainerVolumeArgs:
    source, target, *mode = spec.split(":")
    return docker.ContainerVolumeArgs(host_path=source, container_path=target,
                                      read_only=mode == ["ro"])


class Node(pulumi.ComponentResource):
    def __init__(self, name: str, args: NodeArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("egov:node:Node", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        self.volumes = [
            docker.Volume(
                f"{name}-{v.name.removeprefix(spec.name + '-')}",
                name=v.name,
                labels=[docker.VolumeLabelArgs(label=k, value=val)
                        for k, val in sorted(v.labels.items())],
                opts=child,
            )
            for v in args.volumes
        ]
        self.container = docker.Container(
            f"{name}-container",
            name=spec.name,
            image=args.image,
            hostname=spec.hostname,
            domainname=spec.domainname,
            # Start on the home network instead of Docker's default bridge, then join the
            # other legs: the container is on its zone networks and nothing else.
            network_mode=spec.endpoints[0].network,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=e.network, ipv4_address=e.address,
                                                     aliases=list(e.aliases))
                for e in spec.endpoints
            ],
            ports=[
                docker.ContainerPortArgs(internal=p.container_port, external=p.host_port,
                                         ip=p.host_ip, protocol=p.protocol)
                for p in spec.ports
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=vol, container_path=path)
                     for vol, path in spec.volumes] + [_bind(b) for b in spec.binds],
            tmpfs=dict(spec.tmpfs),
            sysctls=dict(spec.sysctls),
            envs=[f"{k}={v}" for k, v in sorted(spec.env.items())],
            labels=[docker.ContainerLabelArgs(label=k, value=v)
                    for k, v in sorted(spec.labels.items())],
            memory=spec.memory // MIB,
            cpus=f"{spec.cpus:g}",
            restart=spec.restart_policy,
            stop_signal=spec.stop_signal,
            privileged=spec.privileged,
            capabilities=docker.ContainerCapabilitiesArgs(adds=list(spec.capabilities)),
            dns=list(spec.dns),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[*args.networks, *self.volumes])),
        )
        self.register_outputs({
            "containerName": self.container.name,
            "addresses": {e.network: e.address for e in spec.endpoints},
            "volumes": [v.name for v in self.volumes],
        })
