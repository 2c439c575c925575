"""Each role's README.md, written from its meta/argument_specs.yml (the specs are the one
description of a role's inputs; a test holds the committed READMEs equal to this output).

    .venv/bin/python -m egov.role_docs        # rewrite roles/*/README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from egov.paths import PACKAGE_ROOT


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(spec: dict) -> str:
    if "default" not in spec:
        return "required" if spec.get("required") else ""
    value = spec["default"]
    # JSON is the one-line form of YAML: lists and dicts stay on one table row.
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "`" + _cell(shown).replace("`", "'") + "`"


def _type(spec: dict) -> str:
    kind = spec.get("type", "str")
    if spec.get("elements"):
        kind += f" of {spec['elements']}"
    if spec.get("choices"):
        kind += " (" + ", ".join(f"`{c}`" for c in spec["choices"]) + ")"
    return kind


def _lines(text) -> list[str]:
    return [" ".join(str(t).split()) for t in (text if isinstance(text, list) else [text])]


def render(role: str, root: Path = PACKAGE_ROOT) -> str:
    """The README of roles/<role>, as markdown."""
    specs = yaml.safe_load((root / "roles" / role / "meta" / "argument_specs.yml").read_text())
    main = specs["argument_specs"]["main"]
    out = [
        f"# Role `{role}`",
        "",
        "<!-- Written by `python -m egov.role_docs` from meta/argument_specs.yml: edit that. -->",
        "",
        *_lines(main["short_description"]),
        "",
    ]
    if main.get("description"):
        out += [f"- {line}" for line in _lines(main["description"])] + [""]
    out += [
        "## Variables",
        "",
        "Defaults are those of `defaults/main.yml`; a template is evaluated on each node.",
        "",
        "| Variable | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    for name, spec in main.get("options", {}).items():
        text = " ".join(_lines(spec.get("description", "")))
        out.append(f"| `{name}` | {_type(spec)} | {_default(spec)} | {_cell(text)} |")
    return "\n".join(out) + "\n"


def roles(root: Path = PACKAGE_ROOT) -> list[str]:
    return sorted(p.parent.parent.name
                  for p in (root / "roles").glob("*/meta/argument_specs.yml"))


def main(root: Path = PACKAGE_ROOT) -> int:
    for role in roles(root):
        path = root / "roles" / role / "README.md"
        text = render(role, root)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
