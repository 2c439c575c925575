"""Render a report in headless Chromium: a screenshot and the DOM as the browser built it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

WIDTH, HEIGHT = 1280, 1600


class Elements(HTMLParser):
    """Every element's id and classes, and the text inside each element with an id."""

    def __init__(self):
        super().__init__()
        self.ids: dict[str, str] = {}
        self.classes: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for c in (a.get("class") or "").split():
            self.classes[c] = self.classes.get(c, 0) + 1
        if a.get("id"):
            self.ids.setdefault(a["id"], "")
            self._open.append(a["id"])
        elif tag not in ("br", "img", "meta", "link", "input"):
            self._open.append("")

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            if element:
                self.ids[element] += data


def render(page: Path, out_dir: Path) -> tuple[Path, Elements]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (scripts/setup installs it)"
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={out_dir / 'chromium-profile'}", f"--window-size={WIDTH},{HEIGHT}"]
    png = out_dir / f"{page.stem}.png"
    shot = subprocess.run([*base, f"--screenshot={png}", page.as_uri()], capture_output=True,
                          text=True, timeout=180)
    assert png.is_file(), f"no screenshot of {page}: {shot.stderr[-2000:]}"
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=180)
    assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
    parsed = Elements()
    parsed.feed(dom.stdout)
    return png, parsed


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data: a blank
    page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))
