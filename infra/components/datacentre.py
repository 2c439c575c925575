"""The data centre of one stack: its Docker hosts, zone networks, node images and nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from egov.docker_plan import DockerPlan
from egov.model import Stack
from infra.components.image import NodeImage, NodeImageArgs
from infra.components.node import Node, NodeArgs
from infra.components.zone import ZoneNetwork, ZoneNetworkArgs


@dataclass
class DataCentreArgs:
    stack: Stack
    # Every Docker object, computed once from the model (shared with the lab provisioner).
    plan: DockerPlan


class DataCentre(pulumi.ComponentResource):
    def __init__(self, name: str, args: DataCentreArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("egov:datacentre:DataCentre", name, None, opts)
        stack, plan = args.stack, args.plan
        used = {c.docker_host for c in plan.containers}

        # One provider per Docker host: the local socket, or ssh:// hosts of the data centre.
        self.providers = {
            h.name: docker.Provider(f"{name}-{h.name}", host=h.url,
                                    opts=pulumi.ResourceOptions(parent=self))
            for h in stack.docker_hosts if h.name in used
        }
        self.networks = {
            (n.docker_host, n.name): ZoneNetwork(
                f"{name}-{n.docker_host}-{n.zone}",
                ZoneNetworkArgs(spec=n, provider=self.providers[n.docker_host]),
                opts=pulumi.ResourceOptions(parent=self))
            for n in plan.networks
        }
        # By (host, tag); the plan lists each image after the one it is built from.
        self.images: dict[tuple[str, str], NodeImage] = {}
        for i in plan.images:
            base = self.images.get((i.docker_host, i.base_image))
            self.images[(i.docker_host, i.tag)] = NodeImage(
                f"{name}-{i.docker_host}-{i.kind}-image",
                NodeImageArgs(spec=i, provider=self.providers[i.docker_host]),
                opts=pulumi.ResourceOptions(parent=self,
                                            depends_on=[base.image] if base else None))
        self.nodes = {}
        for c in plan.containers:
            self.nodes[c.node] = Node(
                f"{name}-{c.node}",
                NodeArgs(
                    spec=c,
                    image=self.images[(c.docker_host, c.image)].image_name,
                    provider=self.providers[c.docker_host],
                    volumes=[v for v in plan.volumes if v.node == c.node],
                    networks=[self.networks[(c.docker_host, e.network)] for e in c.endpoints],
                ),
                opts=pulumi.ResourceOptions(parent=self))

        self.container_names = {node: n.container.name for node, n in self.nodes.items()}
        self.register_outputs({
            "containers": self.container_names,
            "networks": sorted({n.name for n in plan.networks}),
            "dockerHosts": sorted(used),
        })
