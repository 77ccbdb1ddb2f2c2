"""The I/O edge of `asterisk-config`: what would change in an Asterisk config folder,
the diff (secrets masked), applying it (backups, include lines once) and the reloads.

FreePBX-style PBXes generate `extensions.conf`, `ari.conf`, ... and overwrite any edit;
each of those files includes `<name>_custom.conf` for the admin. When a stock file
includes such a custom file, the include line goes there and the generated file is
never written."""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from router.asterisk_config.render import INCLUDED_FROM, NEEDS_GENERAL

MASK = "********"
# What to tell Asterisk after a host file (or the file it includes) changed. `module load`
# first: app_queue is not loaded at all when queues.conf was missing at boot, and
# loading a loaded module only prints a notice.
RELOADS: Mapping[str, tuple[str, ...]] = {
    "http.conf": ("module reload http",),
    "ari.conf": ("module reload res_ari.so",),
    "extensions.conf": ("dialplan reload",),
    "queues.conf": ("module load app_queue.so", "module reload app_queue.so"),
    "musiconhold.conf": ("module load res_musiconhold.so", "moh reload"),
    "queuerules.conf": ("module load app_queue.so", "queue reload rules"),
    "manager.conf": ("manager reload",),
}


@dataclass(frozen=True)
class Change:
    """One file of the folder: its text now (None: missing) and after applying."""

    path: Path
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def has_section(text: str | None, section: str) -> bool:
    """`[section]` (also a template or `(+)` addition) is defined in this text."""
    if not text:
        return False
    pattern = rf"^\s*\[{re.escape(section)}\]"
    return re.search(pattern, text, re.M) is not None


_INCLUDE = re.compile(r'^\s*#(?:try)?include\s+"?([^"\s]+)"?\s*$', re.M)
OURS = "clinic-router-"  # the generated files' prefix


def _includes(text: str, name: str) -> bool:
    return name in _INCLUDE.findall(text)


def _sources(folder: Path, host: str) -> list[tuple[str, str]]:
    """(name, text) of a stock file and the files of this folder it includes, ours left
    out: where the admin (or FreePBX) defined things."""
    text = _read(folder / host)
    if text is None:
        return []
    found = [(host, text)]
    for name in _INCLUDE.findall(text):
        if "/" in name or name.startswith(OURS) or name == host:
            continue
        included = _read(folder / name)
        if included is not None:
            found.append((name, included))
    return found


def defined_in(folder: Path, host: str, section: str) -> str | None:
    """The file (the stock one or one it includes, not ours) that defines `[section]`."""
    for name, text in _sources(folder, host):
        if has_section(text, section):
            return name
    return None


def moh_class_exists(folder: Path, moh_class: str) -> bool:
    """The PBX defines this music-on-hold class itself (not through our own file)."""
    return defined_in(folder, "musiconhold.conf", moh_class) is not None


def include_target(folder: Path, host: str) -> str:
    """The file that gets our `#include`: the stock file itself, or on a FreePBX-style
    PBX the `*_custom.conf` it includes (`<name>_custom.conf` first, else the last one)."""
    customs = [
        name
        for name in _INCLUDE.findall(_read(folder / host) or "")
        if "/" not in name and name.endswith("custom.conf")
    ]
    if not customs:
        return host
    preferred = host.removesuffix(".conf") + "_custom.conf"
    return preferred if preferred in customs else customs[-1]


def with_include(host_text: str | None, name: str, host: str, *, general: bool = False) -> str:
    """The host file with `#include name` at its end, once; a `[general]` first where
    the generated file appends to it with `(+)` and the host file has none (`general`:
    the text is a custom file included where a `[general]` is already defined)."""
    text = host_text or ""
    if _includes(text, name):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    if host in NEEDS_GENERAL and not general and not has_section(text, "general"):
        text += "[general]\n"
    return text + f"\n; clinic-router (clinic-router asterisk-config)\n#include {name}\n"


def plan_changes(folder: Path, files: Mapping[str, str]) -> list[Change]:
    """Every file `apply` would write: the generated ones, then the include lines."""
    changes = [Change(folder / name, _read(folder / name), text) for name, text in files.items()]
    hosts: dict[str, tuple[str | None, str]] = {}  # target -> (text now, with our includes)
    for name in files:
        host = INCLUDED_FROM[name]
        target = include_target(folder, host)
        old = _read(folder / target)
        so_far = hosts[target][1] if target in hosts else old  # two of ours in queues.conf
        general = target != host and has_section(_read(folder / host), "general")
        new = with_include(so_far, name, host, general=general)
        if target != host and _includes(_read(folder / host) or "", name):
            new = so_far or ""  # included by the stock file already (an earlier apply)
        hosts[target] = (old, new)
    changes += [Change(folder / target, old, new) for target, (old, new) in hosts.items()]
    return changes


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def render_diff(changes: Sequence[Change], secrets: Sequence[str]) -> str:
    """A unified diff of what would change; the secrets are masked (it goes to a terminal)."""
    out: list[str] = []
    for change in changes:
        if not change.changed:
            continue
        old = mask(change.old or "", secrets).splitlines(keepends=True)
        new = mask(change.new, secrets).splitlines(keepends=True)
        before = str(change.path) if change.old is not None else "/dev/null"
        out.extend(difflib.unified_diff(old, new, before, str(change.path)))
    return "".join(out)


def apply_changes(changes: Sequence[Change], *, now: datetime | None = None) -> list[Path]:
    """Write what changed (atomically; the generated files readable by their owner's
    group only, since ari.conf's part holds the password), keeping a copy of each
    replaced file as `<name>.clinic-router-<UTC stamp>.bak`. Returns the written paths."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    written = []
    for change in changes:
        if not change.changed:
            continue
        if change.old is not None:
            backup = change.path.with_name(f"{change.path.name}.clinic-router-{stamp}.bak")
            backup.write_text(change.old)
            _copy_mode(change.path, backup)
        tmp = change.path.with_name(f".{change.path.name}.tmp")
        tmp.write_text(change.new)
        if change.old is not None:
            _copy_mode(change.path, tmp)
        else:
            # A new file takes the folder's owner and group (Debian's /etc/asterisk is
            # asterisk:asterisk, and Asterisk runs as that user), readable by them only.
            _copy_owner(change.path.parent, tmp)
            tmp.chmod(0o640)
        tmp.replace(change.path)
        written.append(change.path)
    return written


def _copy_mode(source: Path, target: Path) -> None:
    target.chmod(source.stat().st_mode & 0o777)
    _copy_owner(source, target)


def _copy_owner(source: Path, target: Path) -> None:
    stat = source.stat()
    try:
        os.chown(target, stat.st_uid, stat.st_gid)
    except PermissionError:
        pass  # not root: the file stays ours, which is all we may do


def reload_commands(written: Sequence[Path]) -> list[str]:
    """The CLI commands that make Asterisk read the changed files, each once."""
    hosts = []
    for path in written:
        host = INCLUDED_FROM.get(path.name, path.name)
        if host not in RELOADS and host.endswith("custom.conf"):
            host = host.partition("_")[0] + ".conf"  # FreePBX: extensions_custom.conf
        if host in RELOADS and host not in hosts:
            hosts.append(host)
    return [command for host in hosts for command in RELOADS[host]]


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


def run_reloads(
    commands: Sequence[str], asterisk: str = "asterisk", runner: Runner = _run
) -> list[tuple[str, bool, str]]:
    """Run each command through `asterisk -rx`; (command, ok, output) for each."""
    results = []
    for command in commands:
        try:
            done = runner([*shlex.split(asterisk), "-rx", command])
        except (OSError, subprocess.TimeoutExpired) as exc:
            results.append((command, False, str(exc)))
            continue
        output = (done.stdout + done.stderr).strip()
        results.append((command, done.returncode == 0, output))
    return results
