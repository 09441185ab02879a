"""Atomic file writes: temp file in the same folder, then ``os.replace``.

A reader (or a process killed mid-write) sees either the old file or the
complete new one, never a half-written file.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


#: This host's tag in temp names (hash of the host name).
HOST_TAG = _host_tag()


def temp_path(final: Path) -> Path:
    """A unique temp name beside ``final``: ``.<name>.tmp-<host>-<pid>-<rand>``.

    The host and pid let :meth:`features.store.FeatureStore.cleanup_temp`
    recognise the leftovers of a writer that was killed (SIGKILL leaves them).
    """
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write_bytes(path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; the temp file is removed on any
    error (only a SIGKILL can leave it, under the :func:`temp_path` name)."""
    path = Path(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
