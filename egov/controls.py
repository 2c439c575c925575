"""The controls catalogue (controls.yaml): what each verification check gives evidence for."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).with_name("controls.yaml")


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    requirement: str
    family: str  # "spbe" or "platform"
    source: str


def _text(value: str) -> str:
    return " ".join(value.split())


@cache
def catalogue() -> dict[str, Control]:
    data = yaml.safe_load(CATALOGUE.read_text())
    return {c["id"]: Control(c["id"], c["title"], _text(c["requirement"]), family,
                             group["source"])
            for family, group in data.items() for c in group["controls"]}


def extract_messages(fileobj, keywords, comment_tags, options):
    """Babel extractor (babel.cfg, entry point `egov_controls`): each control's title and
    requirement and each family's source are messages of the catalogue, so the controls
    speak Indonesian through the same .po as every other text, while the evidence JSON keeps
    the English text that is their msgid."""
    data = yaml.compose(fileobj.read().decode("utf-8"))
    for family in data.value:
        group = {k.value: v for k, v in family[1].value}
        yield group["source"].start_mark.line + 1, None, group["source"].value, []
        for control in group["controls"].value:
            fields = {k.value: v for k, v in control.value}
            for key in ("title", "requirement"):
                node = fields[key]
                yield node.start_mark.line + 1, None, _text(node.value), [fields["id"].value]
