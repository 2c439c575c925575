"""The node image on one Docker host, built from the rendered build context."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from egov.docker_plan import ImageSpec


@dataclass
class NodeImageArgs:
    spec: ImageSpec
    provider: docker.Provider


class NodeImage(pulumi.ComponentResource):
    """The node image: the debootstrap base image already on the host plus systemd and the
    first-boot admin account. No registry can be reached, so nothing is pulled or pushed."""

    def __init__(self, name: str, args: NodeImageArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("egov:image:NodeImage", name, None, opts)
        spec = args.spec
        self.image = docker.Image(
            f"{name}-image",
            image_name=spec.tag,
            skip_push=True,
            build=docker.DockerBuildArgs(
                context=spec.context,
                dockerfile=f"{spec.context}/Dockerfile",
                # The classic builder takes FROM from the local image store; BuildKit would
                # try to resolve the base image against a registry first.
                builder_version=docker.BuilderVersion.BUILDER_V1,
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.image_name = self.image.image_name
        self.register_outputs({"imageName": self.image.image_name, "baseImage": spec.base_image,
                               "dockerHost": spec.docker_host})
