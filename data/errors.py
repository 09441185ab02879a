"""The project's own small error hierarchy.

Every error a user can trigger with bad input is an :class:`AdlError`.  Data
errors name the file, the place inside it (line or frame), what was expected
and what was found, so that the one-line CLI message is enough to fix the
input without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class AdlError(Exception):
    """Base class of every error the project raises on purpose."""


class DataFormatError(AdlError, ValueError):
    """A dataset file does not have the expected native format.

    Parameters
    ----------
    path : str or Path
        The offending file (or folder).
    expected : str
        What the reader expected.
    found : str
        What it found instead.
    line : int, optional
        1-based line number inside a text file.
    frame : int, optional
        Frame number (as written in the file, or 1-based position).
    """

    def __init__(self, path, expected: str, found: str, *, line: int | None = None,
                 frame: int | None = None):
        self.path = Path(path) if path is not None else None
        self.expected = expected
        self.found = found
        self.line = line
        self.frame = frame
        where = str(self.path) if self.path is not None else "<input>"
        if line is not None:
            where += f", line {line}"
        if frame is not None:
            where += f", frame {frame}"
        super().__init__(f"{where}: expected {expected}, found {found}")


class DatasetLayoutError(AdlError, FileNotFoundError):
    """The dataset root does not look like the named dataset."""


class UnsafePathError(AdlError, ValueError):
    """A path read from a dataset file or a cache key escapes its root."""


class StoreError(AdlError, OSError):
    """The feature store could not be read or written."""


def short_repr(text, limit: int = 60) -> str:
    """A bounded repr of a value found in a file, for error messages."""
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def read_file_bytes(path, what: str) -> bytes:
    """The bytes of the file ``path``; a missing path or a folder there is a
    :class:`DataFormatError` saying ``what`` was expected."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, what, "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(path, what, "a folder") from None
