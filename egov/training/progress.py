"""What the course keeps in the stack's state folder (outside the project tree, 0600):

- `training/<trainee>.json`, one file per trainee: for each exercise, its attempts, each
  with when it was started and completed, the hints taken and the checks run. Nothing
  about the person but the name given.
- `training/.active.json`: the exercise in progress on the lab, who started it and what its
  start recorded (one exercise at a time: they share one lab).
- `training/.done-<exercise>.json`: what the start of a completed exercise recorded, until
  `egov training reset N` has used it to put the lab back (the stack file as it was).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from egov.i18n import _
from egov.paths import state_dir

ACTIVE = ".active.json"
# A trainee's name: letters (any script), digits, spaces and . ' - _, starting with a
# letter or digit; the file is named after it in lower case, spaces made '-'.
NAME = re.compile(r"^\w[\w .'-]{0,63}$")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def folder(stack: str) -> Path:
    return state_dir(stack) / "training"


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def slug(name: str) -> str:
    """The file name of a trainee; ValueError with a message to show for a name that
    cannot be one."""
    name = " ".join(name.split())
    if not NAME.match(name):
        raise ValueError(_("{name} is not a trainee's name: letters, digits, spaces and . ' - _, "
                           "at most 64").format(name=repr(name)))
    return name.lower().replace(" ", "-")


@dataclass
class Progress:
    trainee: str
    stack: str
    exercises: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return folder(self.stack) / f"{slug(self.trainee)}.json"

    @classmethod
    def load(cls, stack: str, trainee: str) -> Progress:
        trainee = " ".join(trainee.split())
        path = folder(stack) / f"{slug(trainee)}.json"
        if not path.exists():
            return cls(trainee, stack)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data.get("trainee", trainee), stack, data.get("exercises", {}))

    def save(self) -> Path:
        _write(self.file, {"trainee": self.trainee, "stack": self.stack,
                           "exercises": self.exercises})
        return self.file

    def attempt(self, exercise: str) -> dict | None:
        """The latest attempt at an exercise."""
        attempts = self.exercises.get(exercise)
        return attempts[-1] if attempts else None

    def begin(self, exercise: str, when: str | None = None) -> dict:
        attempt = {"started": when or now(), "completed": None, "hints": 0, "checks": 0,
                   "evidence": None}
        self.exercises.setdefault(exercise, []).append(attempt)
        return attempt

    def completed(self) -> dict[str, dict]:
        """Exercise id -> its first completed attempt."""
        return {ex: next(a for a in attempts if a["completed"])
                for ex, attempts in self.exercises.items() if any(a["completed"] for a in attempts)}


def active_file(stack: str) -> Path:
    return folder(stack) / ACTIVE


def load_active(stack: str) -> dict | None:
    path = active_file(stack)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save_active(stack: str, active: dict) -> None:
    _write(active_file(stack), active)


def clear_active(stack: str) -> None:
    active_file(stack).unlink(missing_ok=True)


def done_file(stack: str, exercise: str) -> Path:
    return folder(stack) / f".done-{exercise}.json"


def keep_done(stack: str, exercise: str, data: dict) -> None:
    _write(done_file(stack, exercise), data)


def load_done(stack: str, exercise: str) -> dict:
    path = done_file(stack, exercise)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def clear_done(stack: str, exercise: str) -> None:
    done_file(stack, exercise).unlink(missing_ok=True)
