"""Problems with a stack file: each one a field path, what is wrong and how to fix it.

:class:`StackError` carries every problem of a file at once; pydantic's validation
errors are turned here into problems worded for the stack file's author.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egov.model.schema import PROJECT


class StackError(Exception):
    """A stack file that cannot be used: every problem, each with its field path and fix."""

    def __init__(self, file: Path | str, problems: list[Problem]):
        self.file = str(file)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for p in self.problems:
            lines.append(f"{self.file}: {p.path}: {p.message}")
            lines.append(f"  fix: {p.fix}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fix: str


def config_problem(path: str, message: str, fix: str) -> Problem:
    """A problem at a path under the project's config keys (`egov-dc:<path>`)."""
    return Problem(f"{PROJECT}:{path}", message, fix)


_FIX_BY_TYPE = {
    "missing": "add this field",
    "extra_forbidden": "remove this field or correct its spelling",
    "enum": "use one of the listed values",
    "literal_error": "use one of the listed values",
    "ip_v4_address": "write an IPv4 address such as 10.0.0.10",
    "ip_v4_network": "write the subnet in CIDR form such as 10.0.3.0/24 (host bits zero)",
    "string_pattern_mismatch": "write a value of the documented form",
    "too_short": "give at least one entry",
    "int_parsing": "write a whole number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "greater_than": "use a larger number",
    "bool_parsing": "write true or false",
    "list_type": "write a list",
    "model_type": "write a mapping of fields",
    "dict_type": "write a mapping",
    "string_type": "write a text value",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "int_parsing_size": "write a whole number in the allowed range",
    "finite_number": "write a finite number",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "bool_type": "write true or false",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = f"{PROJECT}:{part}"
        else:
            out += path_step(part)
    return out or PROJECT


def path_step(key: Any) -> str:
    """A mapping key as a path step; odd keys (empty, spaces, control characters) quoted."""
    return f".{key}" if isinstance(key, str) and re.fullmatch(r"[\w-]+", key, re.ASCII) \
        else f"[{key!r}]"


def _shown(value: Any) -> str:
    """A value as a stack file's author wrote it, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return repr(value)
    return "a list" if isinstance(value, list) else "a mapping"


# Fields checked by a pattern: what the value should be, and how to write it.
_PATTERN_FIELDS = {
    "domain": ("a lower-case DNS domain",
               "write a lower-case DNS domain such as lab.bengkulukota.go.id"),
    "url": ("a Docker host URL", "write unix:///var/run/docker.sock, ssh://user@host "
            "or tcp://host:2376"),
    "volumes": ("an absolute mount path", "write an absolute path without spaces or ':', "
                "such as /var/lib/data"),
    "adminKeys": ("an SSH public key", "paste the whole public key line, starting with "
                  "ssh-ed25519 or ssh-rsa"),
    "healthPath": ("a URL path", "write a path starting with '/', such as /healthz"),
}
# Union branches pydantic names in an error's location; they are not fields.
_BRANCH = re.compile(r"^[a-z_-]+\[")


def problems_from_pydantic(errors: list[Any], stack: str) -> list[Problem]:
    """One problem per field: the errors of a union's branches become a single problem."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in errors:
        parts = [p for p in err["loc"] if p != "[key]"]
        branch = next((i for i, p in enumerate(parts) if isinstance(p, str) and (
            _BRANCH.match(p) or (i >= 2 and parts[i - 1] == "address")
            or (i == 2 and parts[0] == "secrets"))), None)
        if branch is None:
            problem = _problem_from_pydantic(err, tuple(parts))
        else:
            problem = _union_problem(err, tuple(parts[:branch]), stack)
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    return problems


def _union_problem(err: dict[str, Any], loc: tuple[Any, ...], stack: str) -> Problem:
    if len(loc) == 2 and loc[0] == "secrets":
        return Problem(_path(loc), "not a Pulumi secret",
                       "encrypt it: pulumi config set --secret --path "
                       f"'secrets{path_step(loc[1])}' -s {stack}")
    if loc and loc[-1] == "address":
        return Problem(_path(loc), f"{_shown(err['input'])} is neither an IPv4 address nor 'auto'",
                       "write an IPv4 address such as 10.0.0.10, or 'auto'")
    return _problem_from_pydantic(err, loc)


def _problem_from_pydantic(err: dict[str, Any], loc: tuple[Any, ...]) -> Problem:
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    # Name the offending value: "Input should be ..." alone does not say what was found.
    if message.startswith("Input "):
        message = _shown(value) + message.removeprefix("Input")
    message = re.sub(r" or instance of \w+", "", message)
    if err["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    fix = _FIX_BY_TYPE.get(err["type"], "correct this value")
    field = next((p for p in reversed(loc) if isinstance(p, str) and p in _PATTERN_FIELDS), None)
    if err["type"] == "string_pattern_mismatch" and field:
        what, fix = _PATTERN_FIELDS[field]
        message = f"{value!r} is not {what}"
    if err["type"] == "ip_v4_network" and isinstance(value, str):
        try:
            net = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            pass
        else:
            message = f"{value!r} has host bits set"
            fix = f"write the network address: {net}"
    if err["type"] == "value_error" and "DNS-safe" in message:
        fix = "rename it: lower-case letters, digits and '-', starting with a letter"
    elif err["type"] == "value_error" and "memory size" in message:
        fix = "write the limit as a number followed by k, m or g"
    return Problem(_path(loc), message, fix)
