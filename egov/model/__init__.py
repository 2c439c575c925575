"""The stack model: one typed description of a stack, validated once.

- :mod:`~egov.model.schema`: the types of a stack file, its enums, names and labels
- :mod:`~egov.model.problems`: a problem's path, message and fix; :class:`StackError`
- :mod:`~egov.model.loading`: from a stack file on disk to a validated :class:`Stack`
- :mod:`~egov.model.rules`: the rules across fields, one module per concern
- :mod:`~egov.model.derive`: the facts derived once (addresses, legs, flows, sites)

Callers import from here.
"""

from egov.model.derive import (
    PACKAGE_CACHE_PORT,
    SSO_BACKEND_PORT,
    SSO_SITE,
    Allowed,
    Attachment,
    Derived,
    Published,
    Site,
)
from egov.model.loading import load_stack, parse_stack, stack_file
from egov.model.problems import Problem, StackError
from egov.model.schema import (
    ACCESS_POLICIES,
    DNS_LABEL,
    DOMAIN,
    FIRST_AUTO_HOST,
    LABEL_NODE,
    LABEL_PREFIX,
    LABEL_ROLE,
    LABEL_STACK,
    LABEL_ZONE,
    MEMORY,
    PROJECT,
    ROLE_PURPOSE,
    ROLE_STATE,
    Access,
    AccessPolicy,
    DockerHost,
    Environment,
    Flow,
    Gateway,
    IPv4Address,
    IPv4Network,
    MemorySize,
    Name,
    Node,
    Port,
    Purpose,
    Relation,
    Role,
    Service,
    Stack,
    Zone,
    ZoneRefs,
    memory_bytes,
)

__all__ = [
    "ACCESS_POLICIES", "DNS_LABEL", "DOMAIN", "FIRST_AUTO_HOST", "LABEL_NODE", "LABEL_PREFIX",
    "LABEL_ROLE", "LABEL_STACK", "LABEL_ZONE", "MEMORY", "PACKAGE_CACHE_PORT", "PROJECT",
    "ROLE_PURPOSE", "ROLE_STATE",
    "SSO_BACKEND_PORT", "SSO_SITE", "Access", "AccessPolicy", "Allowed", "Attachment",
    "Derived", "DockerHost", "Environment", "Flow", "Gateway", "IPv4Address", "IPv4Network",
    "MemorySize", "Name", "Node", "Port", "Problem", "Published", "Purpose", "Relation", "Role",
    "Service", "Site", "Stack", "StackError", "Zone", "ZoneRefs",
    "load_stack", "memory_bytes", "parse_stack", "stack_file",
]
