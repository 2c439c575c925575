"""Node images: the debootstrap base image and the node images built on it.

The base image is Debian trixie (13) made with debootstrap and `docker import` (no registry
can be reached); its tag is the hash of its recipe, so it is rebuilt only when the recipe
changes. The node image is rendered from `templates/node/`; a node whose roles install
packages gets a role image built on it with those packages (what the registry of node
roles, roles/node_roles.yml, says to bake). Every image is tagged by the
hash of its build context; the Pulumi program and the lab provisioner both build them
from here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from egov.i18n import _
from egov.model import LABEL_PREFIX, Stack
from egov.node_roles import baseline, node_roles
from egov.paths import role_defaults

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo",
    "ca-certificates", "iproute2", "procps", "netbase", "less",
)
BASE_REPOSITORY = "egov-base"
NODE_REPOSITORY = "egov-node"
IMAGE_LABEL = f"{LABEL_PREFIX}.image"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:12]


def base_recipe(root: Path) -> tuple[str, bytes]:
    script = (root / "templates" / "base" / "finish-rootfs.sh").read_bytes()
    recipe = f"{SUITE} {MIRROR} {' '.join(BASE_PACKAGES)}".encode()
    return f"{BASE_REPOSITORY}:{SUITE}-{_digest(recipe, script)}", script


def base_image(root: Path) -> str:
    return base_recipe(root)[0]


@dataclass(frozen=True)
class NodeImage:
    """A node image: its tag and the build context it is made from."""

    tag: str
    context: Path
    files: dict[str, bytes]
    # the image it is built FROM
    base: str = ""
    # "node", or the roles whose packages a role image carries ("dns-monitoring")
    kind: str = "node"


def preinstalled_packages(root: Path) -> list[str]:
    """The packages of the roles every node carries, baked into the node image (the
    registry of node roles' baseline)."""
    return sorted(baseline(root).bake)


# EGOV_NODE_PACKAGES=converge: a node image with no package baked in, so that every role
# installs its packages at converge time (a benchmark's baseline; the tag differs).
PACKAGES_ENV = "EGOV_NODE_PACKAGES"


def node_image(root: Path, baked: bool | None = None) -> NodeImage:
    """Render the node image's build context (not yet written) and its content tag; with
    `baked` false (default: EGOV_NODE_PACKAGES) no package is baked in."""
    if baked is None:
        baked = os.environ.get(PACKAGES_ENV, "image") != "converge"
    packages = preinstalled_packages(root) if baked else []
    folder = root / "templates" / "node"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    files = {
        "Dockerfile": env.get_template("Dockerfile.j2").render(
            base_image=base_image(root), packages=packages, image_label=IMAGE_LABEL,
            locales=role_defaults("base", root)["base__locales"] if baked else [],
            disabled_units=baseline(root).disabled_units if baked else [],
        ).encode(),
    }
    for path in sorted((folder / "files").iterdir()):
        files[path.name] = path.read_bytes()
    return _image(root, files, base_image(root))


def _image(root: Path, files: dict[str, bytes], base: str, kind: str = "node") -> NodeImage:
    digest = _digest(*(name.encode() + b"\0" + files[name] for name in sorted(files)))
    return NodeImage(f"{NODE_REPOSITORY}:{digest}", root / "build" / "images" / digest, files,
                     base, kind)


def role_packages(root: Path, roles) -> list[str]:
    """The packages baked for a node carrying `roles` (the registry of node roles)."""
    registry = node_roles(root)
    return sorted({p for role in roles for p in registry[role].bake})


def role_image(root: Path, roles, baked: bool | None = None) -> NodeImage:
    """The image of a node carrying `roles`: the node image, plus the roles' packages unless
    `baked` is false (default: EGOV_NODE_PACKAGES)."""
    if baked is None:
        baked = os.environ.get(PACKAGES_ENV, "image") != "converge"
    common = node_image(root, baked)
    packages = role_packages(root, roles)
    if not packages or not baked:
        return common
    registry = node_roles(root)
    after = [command for role in sorted(roles) for command in registry[role].after_bake]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root / "templates" / "node"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    named = sorted(r.value for r in roles if registry[r].bake)
    dockerfile = env.get_template("Dockerfile.roles.j2").render(
        node_image=common.tag, roles=named, packages=packages, after=after,
        image_label=IMAGE_LABEL)
    return _image(root, {"Dockerfile": dockerfile.encode()}, common.tag, "-".join(named))


def stack_images(stack: Stack, root: Path, baked: bool | None = None) -> dict[str, NodeImage]:
    """Each node's image, by node name."""
    by_roles: dict[frozenset, NodeImage] = {}
    result = {}
    for node in stack.nodes:
        key = frozenset(node.roles)
        if key not in by_roles:
            by_roles[key] = role_image(root, key, baked)
        result[node.name] = by_roles[key]
    return result


def stack_builds(stack: Stack, root: Path, baked: bool | None = None) -> list[NodeImage]:
    """Every image the stack's nodes need, in build order: what to write and build."""
    return build_order(root, stack_images(stack, root, baked).values(), baked)


def build_order(root: Path, images, baked: bool | None = None) -> list[NodeImage]:
    """The distinct images, with the node image role images are built from, each after the
    image it is built from."""
    unique = {i.tag: i for i in images}
    common = node_image(root, baked)
    if any(i.base == common.tag for i in unique.values()):
        unique.setdefault(common.tag, common)
    return sorted(unique.values(), key=lambda i: (i.base in unique, i.tag))


def write_context(image: NodeImage) -> Path:
    """Write the build context once; identical content gives the identical folder."""
    if not (image.context / ".complete").exists():
        image.context.mkdir(parents=True, exist_ok=True)
        for name, content in image.files.items():
            (image.context / name).write_bytes(content)
        (image.context / ".complete").touch()
    return image.context


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build_base_image(root: Path, log=print) -> str:
    """debootstrap + docker import, unless the image of this recipe is already there."""
    tag, script = base_recipe(root)
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise RuntimeError(_("debootstrap is not installed: run ./scripts/setup first"))
    work = Path(tempfile.mkdtemp(prefix="egov-rootfs-", dir="/var/tmp"))
    rootfs = work / "rootfs"
    try:
        log(_("debootstrap {suite} into {path} (a few minutes)").format(suite=SUITE, path=rootfs))
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             SUITE, str(rootfs), MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        (rootfs / "finish-rootfs.sh").write_bytes(script)
        subprocess.run(["chroot", str(rootfs), "/bin/sh", "/finish-rootfs.sh"], check=True)
        (rootfs / "finish-rootfs.sh").unlink()
        log(_("docker import as {tag}").format(tag=tag))
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["/sbin/init"]',
             "--change", f"LABEL {IMAGE_LABEL}=base", "-", tag],
            stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise RuntimeError(_("tar of the root file system failed"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tag
