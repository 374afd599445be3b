"""Compiled kernels cached on disk by source hash, shared by the GPU backends.

The directory is $EMBER_KERNEL_CACHE, else ~/.cache/ember/kernels. An entry is
one file named by the SHA-256 of (dialect, target, options, source); writes go
through a temporary file and a rename, so concurrent processes never read a
half-written binary. A cache that cannot be written is silently skipped.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["KernelCache", "cache_dir", "source_key"]


def cache_dir() -> Path:
    d = os.environ.get("EMBER_KERNEL_CACHE")
    return Path(d) if d else Path.home() / ".cache" / "ember" / "kernels"


def source_key(dialect: str, target: str, source: str, options=()) -> str:
    h = hashlib.sha256()
    for part in (dialect, target, "\0".join(options), source):
        h.update(part.encode())
        h.update(b"\x00\x01")
    return h.hexdigest()


class KernelCache:
    """get/put compiled binaries (bytes) by (dialect, target, source, options)."""

    def __init__(self, directory: Path | str | None = None):
        self.dir = Path(directory) if directory is not None else cache_dir()

    def path(self, dialect, target, source, options=()) -> Path:
        k = source_key(dialect, target, source, options)
        return self.dir / dialect / k[:2] / (k + ".bin")

    def get(self, dialect: str, target: str, source: str, options=()) -> bytes | None:
        try:
            return self.path(dialect, target, source, options).read_bytes()
        except OSError:
            return None

    def put(self, dialect: str, target: str, source: str, options, binary: bytes) -> None:
        p = self.path(dialect, target, source, options)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(binary)
            os.replace(tmp, p)
        except OSError:
            pass

    def fetch(self, dialect: str, target: str, source: str, options, build, stats=None) -> bytes:
        """The binary of ``source`` for ``target``: from the cache, else ``build()`` and stored.

        ``stats`` (a dict with "compiled" and "cache_hits") counts which it was."""
        options = tuple(options)
        b = self.get(dialect, target, source, options)
        if b:
            if stats is not None:
                stats["cache_hits"] += 1
            return b
        b = build()
        if stats is not None:
            stats["compiled"] += 1
        self.put(dialect, target, source, options, b)
        return b
