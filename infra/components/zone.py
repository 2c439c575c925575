"""A zone's Docker network on one Docker host."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from egov.docker_plan import NetworkSpec


@dataclass
class ZoneNetworkArgs:
    spec: NetworkSpec
    provider: docker.Provider


class ZoneNetwork(pulumi.ComponentResource):
    """One zone (mgmt, dmz, app, data, idm) as a Docker network: bridge on a single host,
    or the zone's VLAN through macvlan where several hosts share one layer-2 segment."""

    def __init__(self, name: str, args: ZoneNetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("egov:zone:ZoneNetwork", name, None, opts)
        spec = args.spec
        self.network = docker.Network(
            f"{name}-network",
            name=spec.name,
            driver=spec.driver,
            internal=spec.internal,
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=spec.subnet, gateway=spec.gateway)],
            # macvlan: the zone lives on its VLAN sub-interface of the host's trunk.
            options={"parent": spec.parent} if spec.parent else None,
            labels=[docker.NetworkLabelArgs(label=k, value=v)
                    for k, v in sorted(spec.labels.items())],
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.network_name = self.network.name
        self.register_outputs({"name": self.network.name, "subnet": spec.subnet,
                               "dockerHost": spec.docker_host})
