"""The Pulumi program: one stack of the data centre as pulumi-docker resources.

The stack file (`stacks/Pulumi.<stack>.yaml`) is read once, through the stack model;
every Docker object comes from the Docker plan computed from it.
"""

import sys
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
# Pulumi runs this file as a script from infra/; the components are the `infra` package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from egov import docker_plan, images  # noqa: E402
from egov.access import admin_keys  # noqa: E402
from egov.model import StackError, load_stack  # noqa: E402
from infra.components.datacentre import DataCentre, DataCentreArgs  # noqa: E402

try:
    stack = load_stack(ROOT, pulumi.get_stack())
except StackError as exc:
    raise pulumi.RunError(exc.render()) from None

plan = docker_plan.plan(stack, ROOT, admin_keys(stack))
# The node and role images are built from these folders; writing them is idempotent.
for image in images.stack_builds(stack, ROOT):
    images.write_context(image)

dc = DataCentre(stack.name, DataCentreArgs(stack=stack, plan=plan))

derived = stack.derived
bastion_host, bastion_port = stack.ssh_endpoint(stack.bastion)
pulumi.export("domain", stack.domain)
pulumi.export("nodes", {
    n.name: {
        "address": derived.address[n.name],
        "zone": n.zone,
        "roles": [r.value for r in n.roles],
        "dockerHost": stack.docker_host(n).name,
        "container": dc.container_names[n.name],
        "fqdn": stack.fqdn(n),
        "legs": {a.zone: a.address for a in derived.attachments[n.name]},
    }
    for n in stack.nodes
})
pulumi.export("bastion", {"node": stack.bastion.name, "host": bastion_host,
                          "port": bastion_port, "user": stack.access.admin_user})
pulumi.export("networks", {z.name: str(z.subnet) for z in stack.zones})
