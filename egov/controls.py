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


@cache
def catalogue() -> dict[str, Control]:
    data = yaml.safe_load(CATALOGUE.read_text())
    return {c["id"]: Control(c["id"], c["title"], " ".join(c["requirement"].split()), family,
                             group["source"])
            for family, group in data.items() for c in group["controls"]}
