"""Run a playbook of the project and report what it did, task by task and node by node."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from egov.paths import PACKAGE_ROOT


@dataclass
class RunResult:
    playbook: str
    returncode: int
    log: Path
    seconds: float
    # host -> names of the tasks that changed something there
    changed: dict[str, list[str]] = field(default_factory=dict)
    # (host, task, message) of every failure
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    # host -> what the run left in place: {"files": {path: sha1}, "units": [name]}
    managed: dict[str, dict] = field(default_factory=dict)
    # host -> seconds its tasks took, one after another
    host_seconds: dict[str, float] = field(default_factory=dict)
    # the Ansible strategies its plays ran on
    strategies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed

    @property
    def changed_count(self) -> int:
        return sum(len(v) for v in self.changed.values())


# EGOV_ANSIBLE_STRATEGY chooses among these. mitogen_linear: Mitogen's strategy (one Python
# interpreter per node kept for the whole run instead of a fresh one per task), the default
# where the installed versions are those it was tested with; linear: Ansible's own, which
# always works.
MITOGEN, STOCK = "mitogen_linear", "linear"


def pinned_versions(root: Path = PACKAGE_ROOT) -> dict[str, str]:
    """The ansible-core and Mitogen versions pyproject.toml pins: the pair Mitogen's
    strategy was tested with."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = dict(d.split("==", 1) for d in project["dependencies"] if "==" in d)
    return {name: pins[name] for name in ("ansible-core", "mitogen")}


def installed_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("ansible-core", "mitogen"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def untested_reason(installed: dict[str, str | None], tested: dict[str, str]) -> str | None:
    """Why Mitogen's strategy is not used by default with `installed`, or None. ansible-core
    may differ in its patch release (2.19.x: bug fixes only); Mitogen must be the very
    release, since each one patches ansible-core's internals anew."""
    def minor(v: str | None) -> tuple[str, ...]:
        return tuple((v or "").split(".")[:2])

    core, mitogen = installed["ansible-core"], installed["mitogen"]
    if mitogen is None:
        return "Mitogen is not installed"
    if minor(core) != minor(tested["ansible-core"]) or mitogen != tested["mitogen"]:
        return (f"Mitogen's strategy was tested with ansible-core "
                f"{'.'.join(minor(tested['ansible-core']))}.x and mitogen {tested['mitogen']}; "
                f"installed are ansible-core {core} and mitogen {mitogen}")
    return None


def choose_strategy(environ: dict[str, str]) -> tuple[str, str | None]:
    """The strategy a run uses, and a message for the sysadmin when egov chose Ansible's
    own strategy in place of Mitogen's. A strategy named in EGOV_ANSIBLE_STRATEGY is
    used as it is."""
    chosen = environ.get("EGOV_ANSIBLE_STRATEGY")
    if chosen:
        return chosen, None
    reason = untested_reason(installed_versions(), pinned_versions())
    if reason is None:
        return MITOGEN, None
    return STOCK, (f"{reason}: this run uses Ansible's own linear strategy (slower, always "
                   f"works). EGOV_ANSIBLE_STRATEGY=mitogen_linear uses Mitogen's all the same; "
                   f"EGOV_ANSIBLE_STRATEGY=linear chooses Ansible's and ends this message.")


def strategy_settings(strategy: str) -> dict[str, str]:
    """Ansible's settings for `strategy`. Mitogen's plugins live in the venv, so their path
    is found here rather than in ansible.cfg: `ansible-playbook` run by hand with
    ansible.cfg alone uses Ansible's linear strategy."""
    settings = {"ANSIBLE_STRATEGY": strategy}
    if strategy.startswith("mitogen"):
        import ansible_mitogen

        settings["ANSIBLE_STRATEGY_PLUGINS"] = str(
            Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")
    return settings


# site.yml tags the pending_handlers role with it.
PENDING_HANDLERS_TAG = "pending_handlers"
FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z_][a-z0-9_]*\b")


def installed_collections() -> Path:
    """The ansible_collections folder of the `ansible` package (every bundled collection)."""
    import ansible_collections

    return Path(next(iter(ansible_collections.__path__)))


def used_collections(root: Path, installed: Path) -> set[str]:
    """Collections the project's playbooks and roles name (FQCNs of modules, filters and
    lookups), with the collections they depend on."""
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for pattern in ("*.yml", "roles/**/*.yml", "roles/**/*.j2")
             for p in root.glob(pattern)]
    wanted = {f"{ns}.{name}" for text in texts for ns, name in FQCN.findall(text)
              if (installed / ns / name / "MANIFEST.json").is_file()}
    todo, found = list(wanted), set()
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        manifest = json.loads((installed / Path(*name.split(".")) / "MANIFEST.json").read_text())
        todo += list(manifest["collection_info"].get("dependencies") or {})
    return found


def collections_path(root: Path) -> Path:
    """A collections folder holding only the collections the project uses, as links into
    the `ansible` package. Ansible lists every installed collection for each task that
    runs a collection module (about a hundred bundled ones here): a tenth of a warm
    converge's CPU. Made again only when the set changes."""
    installed = installed_collections()
    base = root / "build" / "collections"
    tree = base / "ansible_collections"
    wanted = {name: installed / Path(*name.split(".")) for name in used_collections(root,
                                                                                  installed)}
    present = {f"{p.parent.name}.{p.name}": p for p in tree.glob("*/*") if p.is_symlink()}
    if {k: p.resolve() for k, p in present.items()} != {k: p.resolve()
                                                         for k, p in wanted.items()}:
        for link in present.values():
            link.unlink()
        for name, target in wanted.items():
            link = tree / Path(*name.split("."))
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    return base


def ansible_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(root / "ansible.cfg")
    env.update(strategy_settings(choose_strategy({**env, **(extra or {})})[0]))
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["PYTHONUNBUFFERED"] = "1"
    # The project's Ansible and pytest live beside this interpreter (the venv).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def new_events(path: Path, offset: int) -> tuple[list[dict], int]:
    """The complete JSON lines appended to `path` since `offset`, and the offset after
    them; a partial last line is left for the next read."""
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        chunk = fh.read()
    cut = chunk.rfind("\n") + 1
    return ([json.loads(line) for line in chunk[:cut].splitlines()],
            offset + len(chunk[:cut].encode()))


def follow(proc: subprocess.Popen, path: Path, take, interval: float = 0.2) -> None:
    """Hand every complete JSON line appended to `path` to `take` while `proc` runs, and
    the last ones after it ends."""
    offset = 0
    while True:
        done = proc.poll() is not None
        events, offset = new_events(path, offset)
        for event in events:
            take(event)
        if done:
            return
        time.sleep(interval)


def pending_handlers(pending: dict, events_files: list[Path]) -> dict:
    """Handlers notified and not yet run, {play: {host: [handler]}}: `pending` with the
    events of `events_files` (in order) applied. A run killed or failed half-way leaves
    its notified handlers here, so the next run can run them (the pending_handlers role)."""
    state = {play: {host: list(names) for host, names in hosts.items()}
             for play, hosts in pending.items()}
    for path in events_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a run killed while writing it
            kind = ev.get("event")
            if kind == "notified":
                names = state.setdefault(ev["play"], {}).setdefault(ev["host"], [])
                names += [n for n in ev["handlers"] if n not in names]
            elif kind == "handled":
                names = state.get(ev["play"], {}).get(ev["host"], [])
                names[:] = [n for n in names if n not in ev["names"]]
    return _without_empty(state)


def _without_empty(pending: dict) -> dict:
    return {play: {host: names for host, names in hosts.items() if names}
            for play, hosts in pending.items() if any(hosts.values())}


def defined_handlers(root: Path, playbook: str) -> set[str]:
    """Every name a task may notify in `playbook`: the names and `listen` topics of the
    handlers of the roles on ansible.cfg's roles_path and of the playbook's own plays,
    each also as "role : name"."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(root / "ansible.cfg")
    roles_path = cfg.get("defaults", "roles_path", fallback="roles")
    sources: list[tuple[str | None, list]] = []
    for folder in roles_path.split(os.pathsep):
        for path in sorted((root / folder).glob("*/handlers/*.y*ml")):
            sources.append((path.parent.parent.name,
                            yaml.safe_load(path.read_text(encoding="utf-8")) or []))
    plays = yaml.safe_load((root / playbook).read_text(encoding="utf-8")) or []
    sources += [(None, play.get("handlers") or []) for play in plays if isinstance(play, dict)]
    names: set[str] = set()
    for role, handlers in sources:
        for handler in handlers:
            listen = handler.get("listen") or []
            for name in [handler.get("name"), *([listen] if isinstance(listen, str) else listen)]:
                if name:
                    names.add(name)
                    if role:
                        names.add(f"{role} : {name}")
    return names


def drop_undefined(pending: dict, defined: set[str]) -> tuple[dict, list[str]]:
    """`pending` without the handlers the playbook no longer defines (an upgrade renamed
    or removed them: notifying them would fail every run), and the names dropped."""
    known = _handler_matcher(defined)
    kept = {play: {host: [n for n in names if known(n)] for host, names in hosts.items()}
            for play, hosts in pending.items()}
    dropped = sorted({n for hosts in pending.values() for names in hosts.values()
                      for n in names if not known(n)})
    return _without_empty(kept), dropped


def _handler_matcher(defined: set[str]):
    """Whether a handler name, as a run recorded it, is one of `defined`: a name with a
    template in it ("Restart {{ unit }}") stands for every name it may render to."""
    exact = {n for n in defined if "{{" not in n}
    patterns = [re.compile("".join(".+" if part.startswith("{{") else re.escape(part)
                                   for part in re.split(r"(\{\{.*?\}\})", n)))
                for n in defined if "{{" in n]
    return lambda name: name in exact or any(p.fullmatch(name) for p in patterns)


# Facts kept between runs are used for a day, then gathered again.
FACT_CACHE_SECONDS = 86400


def fact_cache_env(folder: Path) -> dict[str, str]:
    """Ansible's settings that keep the nodes' facts in `folder` (one JSON file per node)
    between runs, so that a converge gathers only the facts it does not have."""
    return {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(folder),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": str(FACT_CACHE_SECONDS)}


def run_playbook(root: Path, playbook: str, *, inventory: Path | None = None,
                 extra_vars: list[str] = (), log_dir: Path, progress_label: str,
                 limit: str | None = None, show: bool = True,
                 fact_cache: Path | None = None) -> RunResult:
    """Run `ansible-playbook` with the events callback; show a progress line per task.
    Handlers that an earlier run of the same playbook notified but never ran (it was
    killed or failed) are handed to this one as egov_pending_handlers. With `fact_cache`,
    the nodes' facts are kept there between runs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(playbook).stem
    log = log_dir / f"{stem}.log"
    pending_file = log_dir / f"pending-handlers-{stem}.json"
    leftovers = sorted(log_dir.glob(f"egov-{stem}-*.jsonl"), key=lambda p: p.stat().st_mtime)
    pending = pending_handlers(_read_pending(pending_file), leftovers)
    dropped: list[str] = []
    if pending:
        pending, dropped = drop_undefined(pending, defined_handlers(root, playbook))
    _write_pending(pending_file, pending)
    for path in leftovers:
        path.unlink()
    events_fd, events_name = tempfile.mkstemp(prefix=f"egov-{stem}-", suffix=".jsonl",
                                              dir=log_dir)
    os.close(events_fd)
    events = Path(events_name)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook")]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    for ev in extra_vars:
        cmd += ["-e", ev]
    if pending:
        cmd += ["-e", f"@{pending_file}"]
    if limit:
        cmd += ["--limit", limit]
    if not pending:
        # Nothing to notify again: leave the role's tasks out of every play at once.
        cmd += ["--skip-tags", PENDING_HANDLERS_TAG]
    cmd.append(str(root / playbook))
    env = ansible_env(root, {"EGOV_EVENTS_FILE": str(events)})
    # Only the collections the project uses; a caller's own setting (a benchmark's
    # baseline of Ansible's defaults) wins.
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(collections_path(root)))
    env.setdefault("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "False")
    if fact_cache is not None:
        fact_cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        for key, value in fact_cache_env(fact_cache).items():
            env.setdefault(key, value)
    notes = []
    if dropped:
        notes.append("left out, no longer in the playbook, the handlers an earlier run left "
                     f"pending: {', '.join(dropped)}")
    strategy_note = choose_strategy(os.environ)[1]
    if strategy_note:
        notes.append(strategy_note)
    result = RunResult(playbook, -1, log, 0.0)
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        for note in notes:
            out.write(f"egov: {note}\n")
            out.flush()
            # Once per egov command: `egov up` runs several playbooks.
            if show and note not in _shown_notes:
                _shown_notes.add(note)
                Console(stderr=True).print(f"[yellow]{note}[/yellow]", highlight=False)
        proc = subprocess.Popen(cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        with Watch(result, progress_label, Console() if show else None) as watch:
            follow(proc, events, watch.take)
    result.returncode = proc.returncode
    result.seconds = time.monotonic() - start
    _write_pending(pending_file, pending_handlers(pending, [events]))
    events.unlink(missing_ok=True)
    return result


def _read_pending(path: Path) -> dict:
    return json.loads(path.read_text())["egov_pending_handlers"] if path.exists() else {}


def _write_pending(path: Path, pending: dict) -> None:
    if pending:
        path.write_text(json.dumps({"egov_pending_handlers": pending}, indent=1))
    else:
        path.unlink(missing_ok=True)


_shown_notes: set[str] = set()


class Watch:
    """What a sysadmin sees while a playbook runs, from its events. On a terminal, a
    progress line naming the current task. Elsewhere (a log file, a pipe) that line is
    never drawn: a line as each play starts, and as it ends with its elapsed time."""

    def __init__(self, result: RunResult, label: str, console: Console | None):
        self.result, self.label, self.console = result, label, console
        self.progress: Progress | None = None
        self.play: tuple[str, float] | None = None  # the play running, and when it started

    def __enter__(self) -> Watch:
        if self.console is not None and self.console.is_terminal:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.start()
            self.bar = self.progress.add_task(self.label, total=None)
        return self

    def __exit__(self, *exc) -> None:
        self._play_ended(time.time())
        if self.progress is not None:
            self.progress.stop()

    def take(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "play":
            self._play_ended(ev["time"])
            self.play = (ev["name"], ev["time"])
            self._line(f"play started: {ev['name']}")
        elif kind == "stats":
            self._play_ended(ev["time"])
        elif kind == "task" and self.progress is not None:
            self.progress.update(self.bar, description=f"{self.label}: {ev['name']}")
        _take(self.result, ev)

    def _play_ended(self, at: float) -> None:
        if self.play is not None:
            name, started = self.play
            self.play = None
            self._line(f"play ended in {at - started:.0f} s: {name}")

    def _line(self, text: str) -> None:
        if self.console is not None and self.progress is None:
            # Not wrapped: a log file has no width.
            self.console.print(f"{self.label}: {text}", highlight=False, markup=False,
                               soft_wrap=True)


def _take(result: RunResult, ev: dict) -> None:
    kind = ev.get("event")
    if kind == "play" and ev.get("strategy") not in result.strategies:
        result.strategies.append(ev.get("strategy"))
    elif kind == "result":
        host = ev["host"]
        result.host_seconds[host] = result.host_seconds.get(host, 0.0) + ev.get("seconds", 0.0)
        if ev["status"] == "changed":
            result.changed.setdefault(ev["host"], []).append(ev["task"])
        elif ev["status"] in ("failed", "unreachable"):
            result.failed.append((ev["host"], ev["task"], ev.get("msg", "")))
    elif kind == "managed":
        seen = result.managed.setdefault(ev["host"], {"files": {}, "units": []})
        if ev["kind"] == "file":
            seen["files"][ev["name"]] = ev["checksum"]  # the last write of a file wins
        elif ev["name"] not in seen["units"]:
            seen["units"].append(ev["name"])
    elif kind == "stats":
        result.stats = ev["hosts"]


def recap(result: RunResult, verbose: bool = False) -> list[str]:
    """A line per node: its tasks that were ok (changed ones included, as Ansible counts
    them), changed and failed (unreachable included), and the time its tasks took; with
    `verbose`, each task that changed something, under its node."""
    hosts = sorted(set(result.stats) | set(result.host_seconds))
    if not hosts:
        return []
    width = max(len("node"), *map(len, hosts))
    lines = [f"  {'node':<{width}}  {'ok':>5}  {'changed':>7}  {'failed':>6}  {'time':>7}"]
    for host in hosts:
        counts = result.stats.get(host, {})
        failed = counts.get("failures", 0) + counts.get("unreachable", 0)
        lines.append(f"  {host:<{width}}  {counts.get('ok', 0):>5}  "
                     f"{counts.get('changed', 0):>7}  {failed:>6}  "
                     f"{result.host_seconds.get(host, 0.0):>5.0f} s")
        if verbose:
            lines += [f"      changed: {task}" for task in result.changed.get(host, [])]
    return lines
