"""The egov command as a sysadmin runs it, for the benchmark scripts of this folder."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def egov_command() -> list[str]:
    # The installed console script; else the same app through -c.
    script = Path(sys.executable).parent / "egov"
    return [str(script)] if script.is_file() else [
        sys.executable, "-c", "from egov.cli import app; app()"]
