"""The files of a /box, in and out of a sandbox, without binding any host path into it.

Why not bind: a bind mount shows its host source path in /proc/self/mountinfo (the work
directory, the job's name), and a writable host directory is unbounded disk for whoever writes
it. So files go in as copies, written by the executor into the box's size-limited tmpfs of a
sandbox already set up and still blocked before its program (functions/sandbox.py: through the
sandbox's own root, before anything untrusted has run there), and a compile step's results come
out as a tar stream on its stdout, which is untrusted input: only regular files and directories
with plain relative names are taken, up to a number of entries and bytes, with no set-uid,
set-gid or sticky bits.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from functions import forks

# Wraps a compile command: its stdout joins its stderr, then /box leaves as a tar on stdout.
# The exit status stays the compiler's (128+N when a signal killed it).
PACK = (
    "/bin/sh",
    "-c",
    '"$@" </dev/null >&2; s=$?; /usr/bin/tar -c -f - --format=gnu . 2>/dev/null; exit $s',
    "sh",
)
MAX_ENTRIES = 256


class Refused(ValueError):
    """The box's files break a bound (too many, too large) or are not plain files."""


@dataclass(frozen=True)
class BoxFile:
    """One file to put in /box: its relative name, where its bytes are, and its mode."""

    name: str
    path: Path
    size: int
    executable: bool


def listing(box: Path) -> tuple[list[str], list[BoxFile]]:
    """The directories and the regular files under `box` (names relative, sorted, each
    directory's own before those below it); anything else (links, devices, sockets) is left out.
    With os.scandir's cached stat: every run lists its box on the request path."""
    directories: list[str] = []
    files: list[BoxFile] = []

    def walk(path: str, prefix: str) -> None:
        try:
            with os.scandir(path) as found:
                entries = sorted(found, key=lambda entry: entry.name)
        except OSError:
            return  # as os.walk: a directory that cannot be read holds nothing to copy
        below = []
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                directories.append(name)
                below.append((entry.path, name + "/"))
            elif entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                executable = bool(info.st_mode & stat.S_IXUSR)
                files.append(BoxFile(name, Path(entry.path), info.st_size, executable))
        for where, inside in below:
            walk(where, inside)

    walk(str(box), "")
    if len(directories) + len(files) > MAX_ENTRIES:
        raise Refused(f"more than {MAX_ENTRIES} files in the box")
    return directories, files


def unpack(archive: bytes, destination: Path, max_bytes: int) -> None:
    """Write the tar `archive` (a sandbox's /box) into `destination`, plain files only."""
    destination.mkdir(parents=True, exist_ok=True)
    total = entries = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for member in tar:
                name = _relative(member.name)
                if name is None:
                    continue  # "." itself
                entries += 1
                if entries > MAX_ENTRIES:
                    raise Refused(f"more than {MAX_ENTRIES} files in the box")
                target = destination / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    continue  # links, devices, fifos: never leave the sandbox
                total += member.size
                if total > max_bytes:
                    raise Refused(f"the box holds more than {max_bytes // (1024 * 1024)} MB")
                source = tar.extractfile(member)
                assert source is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                with os.fdopen(fd, "wb") as out:
                    out.write(source.read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Refused(f"the box could not be read back: {exc}") from exc


def _relative(name: str) -> PurePosixPath | None:
    """A member's name as a plain relative path, or None for the top; Refused otherwise."""
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "."]
    if not parts:
        return None
    if path.is_absolute() or ".." in parts:
        raise Refused(f"a file name leaves the box: {name!r}")
    return PurePosixPath(*parts)


def write_into(
    box_fd: int,
    directories: list[str],
    files: list[BoxFile],
    creating: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> None:
    """Make the directories and copy each file into the directory open at `box_fd` (a fresh
    sandbox's /box: empty, and nothing but this process has written to it, so no name in it can
    be a link planted to lead elsewhere; O_NOFOLLOW and O_EXCL hold that anyway). Directories and
    files are made inside `creating` (a root executor takes the sandbox's host identity there:
    functions/identity.py); the sources are opened outside it."""
    with creating():
        for name in directories:
            os.mkdir(name, 0o755, dir_fd=box_fd)
    for file in files:
        mode = 0o755 if file.executable else 0o644
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        # no fork while it is open for writing: the copy a child held would make its exec
        # fail (functions/forks.py)
        with open(file.path, "rb") as source, forks.LOCK:
            with creating():
                fd = os.open(file.name, flags, mode, dir_fd=box_fd)
            try:
                os.fchmod(fd, mode)  # the umask left aside
                remaining = file.size
                while remaining > 0:
                    sent = os.sendfile(fd, source.fileno(), None, remaining)
                    if sent == 0:
                        break
                    remaining -= sent
            finally:
                os.close(fd)
