"""Atomic file writes: temp file in the same folder, then ``os.replace``.

A reader (or a process killed mid-write) sees either the old file or the
complete new one, never a half-written file.  The one implementation of the
code base: :func:`atomic_write` streams into the file through a callback (the
feature store's entries), :func:`atomic_write_bytes`, :func:`atomic_write_text`
and :func:`atomic_write_joblib` write a value.  A failed write raises the
caller's error type, by default a :class:`~adl.data.errors.StoreError` naming
the path (an ``OSError`` too).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path
from typing import Callable, Optional

from .errors import StoreError


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


#: This host's tag in temp names (hash of the host name).
HOST_TAG = _host_tag()


def temp_path(final: Path) -> Path:
    """A unique temp name beside ``final``: ``.<name>.tmp-<host>-<pid>-<rand>``.

    The host and pid let :meth:`adl.features.store.FeatureStore.cleanup_temp`
    recognise the leftovers of a writer that was killed (SIGKILL leaves them).
    """
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}")


def default_write_error(path: Path, exc: OSError) -> StoreError:
    """The error of a failed write when the caller gives none: a
    :class:`StoreError` (an ``OSError``) naming ``path`` and the reason."""
    err = StoreError(f"could not write {path}: {exc.strerror or exc}")
    err.errno = exc.errno
    return err


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable across a power cut.  Some file systems refuse
    # fsync on directories; the rename itself is still atomic there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable, *, fsync: bool = True,
                 error: Optional[Callable[[Path, OSError], Exception]] = None) -> Path:
    """Fill ``path`` atomically: ``write(fileobj)`` fills a temp file beside it
    (:func:`temp_path`), which then replaces ``path``.

    Parameters
    ----------
    path : path
        The final file.
    write : callable
        Called once with the temp file opened for binary writing.
    fsync : bool
        Flush the file (and its folder, after the rename) to disk.
    error : callable, optional
        ``error(path, oserror)`` returns the exception raised for an
        ``OSError`` (default :func:`default_write_error`); other exceptions,
        and exceptions that already are the caller's, pass unchanged.

    Returns
    -------
    Path
        ``path``.

    On any failure (or interrupt) the temp file is removed and ``path`` keeps
    its previous state; only a SIGKILL can leave the temp file behind, under
    the :func:`temp_path` name.
    """
    path = Path(path)
    tmp = temp_path(path)
    created = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        created = True
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        created = False
    except BaseException as exc:
        if created:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, StoreError):
            raise (error or default_write_error)(path, exc) from exc
        raise
    if fsync:
        _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path, data: bytes, *, fsync: bool = True,
                       error: Optional[Callable[[Path, OSError], Exception]] = None) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data), fsync=fsync, error=error)


def atomic_write_text(path, text: str, *, fsync: bool = True,
                      error: Optional[Callable[[Path, OSError], Exception]] = None) -> Path:
    """Write ``text`` UTF-8 encoded to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync, error=error)


def atomic_write_joblib(path, obj, *, fsync: bool = True,
                        error: Optional[Callable[[Path, OSError], Exception]] = None) -> Path:
    """Write ``obj`` pickled by :func:`joblib.dump` to ``path`` atomically
    (:func:`atomic_write`); ``joblib.load`` reads it back."""
    import io

    import joblib
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return atomic_write_bytes(path, buf.getvalue(), fsync=fsync, error=error)
