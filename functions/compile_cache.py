"""The compile cache: a compile's output kept by the content hash of everything that made it.

Key: sha256 over the language id, the toolchain's version line, the compile command as
configured, the submission's compiler options, the compile's limits (a compiler short of memory
fails, and that failure belongs to those limits only) and every file the compile step sees
(names and bytes). Two different sources therefore never share an entry; the same source
resubmitted, or the next test case of a job, reuses it without running the compiler.

Layout, all on one filesystem (so renames are atomic and hard links work):
  <root>/<key>/box/        the box after the compile (sources and artifacts)
  <root>/<key>/meta.json   the compile stage's result; a compile error is cached too
  <root>/.tmp/             staging dirs where compiles happen, and entries being evicted

Concurrency: a compile runs in its own staging dir and becomes an entry with one rename. Two
identical submissions at once may both compile, but the second rename fails and that copy is
dropped: nobody ever sees a half-written entry. A job takes a hard-linked copy of the entry's box,
so eviction (rename out of the way, then delete) never pulls files from under a running job.

Size: LRU by total bytes, each entry counted for its bytes and INODE_BYTES per file or
directory (recorded in its meta; a hit touches the entry's mtime); evicted after each store until
the total is within the bound. What a compile leaves is bounded before it gets here
(functions/box_files.py: at most MAX_ENTRIES files and the compile's tmpfs size).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TMP = ".tmp"  # staging and eviction directories, named <what>-<pid>-… (functions/leftovers.py)


@dataclass(frozen=True)
class Entry:
    """A cached compile: its box of artifacts and the compile stage's recorded result."""

    path: Path
    meta: dict[str, Any]

    @property
    def box(self) -> Path:
        return self.path / "box"


@dataclass
class Stats:
    """Counters for /health: how often the compiler was skipped, and how often it ran."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0


class CompileCache:
    """Compiled artifacts by content hash, bounded to `max_bytes` (0 disables the cache)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.stats = Stats()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def staging(self) -> Path:
        """A fresh dir on the cache's filesystem to write sources into and compile in."""
        tmp = self.root / _TMP
        tmp.mkdir(parents=True, exist_ok=True)
        # The pid in the name lets a later executor remove what a killed one left
        # (functions/leftovers.py).
        staged = Path(tempfile.mkdtemp(prefix=f"stage-{os.getpid()}-", dir=tmp))
        (staged / "box").mkdir()
        return staged

    @staticmethod
    def key(parts: Iterable[str], box: Path) -> str:
        """The content hash of `parts` (language, version, command, options) and every file
        under `box`, names included."""
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part.encode() + b"\0")
        for path in sorted(p for p in box.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(box)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def lookup(self, key: str) -> Entry | None:
        """The entry for `key`, touched as recently used, or None."""
        if not self.enabled:
            return None
        path = self.root / key
        try:
            meta = json.loads((path / "meta.json").read_text())
            os.utime(path)
        except (OSError, ValueError):
            with self._lock:
                self.stats.misses += 1
            return None
        with self._lock:
            self.stats.hits += 1
        return Entry(path, meta)

    def store(self, key: str, staged: Path, meta: dict[str, Any]) -> Entry:
        """Make the compiled `staged` dir the entry for `key` (one rename) and evict; when
        another compile of the same key got there first, theirs is kept and ours dropped."""
        meta = {**meta, "bytes": _size(staged)}
        (staged / "meta.json").write_text(json.dumps(meta))
        target = self.root / key
        try:
            staged.rename(target)
        except OSError:  # ENOTEMPTY/EEXIST: an identical compile won the race
            shutil.rmtree(staged, ignore_errors=True)
            found = self.lookup(key)
            if found is not None:
                return found
            raise
        with self._lock:
            self.stats.stores += 1
        self.evict()
        return Entry(target, meta)

    def discard(self, staged: Path) -> None:
        """Drop a staging dir that will not become an entry."""
        shutil.rmtree(staged, ignore_errors=True)

    def evict(self) -> None:
        """Remove least recently used entries until the total size is within the bound."""
        entries = []
        for path in self.root.iterdir() if self.root.exists() else ():
            if path.name == _TMP:
                continue
            try:
                size = int(json.loads((path / "meta.json").read_text()).get("bytes", 0))
                entries.append((path.stat().st_mtime, size, path))
            except (OSError, ValueError):
                continue
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            doomed = self.root / _TMP / f"evict-{os.getpid()}-{path.name}-{threading.get_ident()}"
            try:
                path.rename(doomed)
            except OSError:
                continue  # another process evicted or is evicting it
            shutil.rmtree(doomed, ignore_errors=True)
            total -= size
            with self._lock:
                self.stats.evictions += 1

    def total_bytes(self) -> int:
        """The bytes the entries hold (as recorded when stored)."""
        total = 0
        for path in self.root.iterdir() if self.root.exists() else ():
            with contextlib.suppress(OSError, ValueError):
                total += int(json.loads((path / "meta.json").read_text()).get("bytes", 0))
        return total


def link_copy(source: Path, destination: Path) -> None:
    """`source`'s tree at `destination`, files hard-linked (cheap, and immune to eviction), or
    copied where the job's directory is on another filesystem (SENTINEL_SCRATCH_DIR)."""
    shutil.copytree(source, destination, copy_function=_link_or_copy, dirs_exist_ok=True)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(source, destination)


INODE_BYTES = 512  # what an entry is counted for on top of its bytes: a directory is not free


def _size(path: Path) -> int:
    """Bytes and inodes of an entry: a tree of empty directories is not zero-sized."""
    total = 0
    for item in path.rglob("*"):
        info = item.lstat()
        total += INODE_BYTES + (info.st_size if item.is_file() and not item.is_symlink() else 0)
    return total
