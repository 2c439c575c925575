"""Service artifacts: the reference service is built into a wheel on the control machine,
byte for byte the same from the same source, so a converge copies it only when it changed.

    python -m egov.artifacts <source folder> <output folder>   # prints the wheel's path
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tomllib
import zipfile
from pathlib import Path

# Zip entries carry this time: the wheel's bytes depend on the source only.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _sources(src: Path, package: str) -> list[Path]:
    return sorted(p for p in (src / package).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def build_wheel(src: Path, out: Path) -> Path:
    """The wheel of the project in `src` (its pyproject.toml names one package), versioned
    with a hash of its files; written to `out` unless already there."""
    meta = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    package = meta["name"].replace("-", "_")
    files = _sources(src, package)
    h = hashlib.sha256((src / "pyproject.toml").read_bytes())
    for f in files:
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes())
    version = f"{meta['version']}+g{h.hexdigest()[:12]}"
    dist = f"{package}-{version}"
    wheel = out / f"{dist}-py3-none-any.whl"
    if wheel.is_file():
        return wheel

    entries: list[tuple[str, bytes]] = [(str(f.relative_to(src)), f.read_bytes()) for f in files]
    info = f"{dist}.dist-info"
    entries.append((f"{info}/METADATA", (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {version}\n"
        f"Summary: {meta.get('description', '')}\n"
        f"Requires-Python: {meta.get('requires-python', '>=3')}\n").encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: egov.artifacts\n"
                                     b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in entries)
    record += f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))

    out.mkdir(parents=True, exist_ok=True)
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    tmp.replace(wheel)
    return wheel


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    print(build_wheel(Path(argv[0]), Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
