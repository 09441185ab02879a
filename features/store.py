"""A resumable, crash-safe on-disk feature store (the "Cache" contract).

Feature extraction runs for hours and may be killed at any moment; two
processes (or a Dask cluster on a shared file system) may fill the same store
at once.  The store therefore keeps three promises:

* an entry is either absent or complete -- every entry is written to a
  uniquely named temporary file in its final directory, flushed, ``fsync``-ed
  and moved onto its final name with :func:`os.replace` (atomic on POSIX);
* a re-run computes only what is missing (:func:`compute_missing`);
* a changed configuration never reuses stale entries: entries live under the
  digest of ``(stage, config, version)`` (:class:`StageKey`), and the config is
  written next to them in ``manifest.json``.

On-disk layout::

    <root>/<dataset>/<stage>/<digest>/manifest.json
    <root>/<dataset>/<stage>/<digest>/<item>.npz
    <root>/<dataset>/<stage>/<digest>/.<item>.npz.tmp-<host>-<pid>-<rand>   (in flight)

Each entry is one ``.npz`` file (readable by :func:`numpy.load`): one
``<name>.npy`` member per array plus a ``__meta__.json`` member.  Members are
stored uncompressed and 64-byte aligned, so :meth:`FeatureStore.get` returns
:class:`numpy.memmap` views straight into the file; ``compress=True`` deflates
them instead (smaller, not memory-mappable).  Files carry fixed time stamps:
the same arrays give bit-identical files.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import shutil
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

import numpy as np

from adl.data.atomic import HOST_TAG, atomic_write, temp_path
from adl.data.errors import StoreError, UnsafePathError

__all__ = ["StageKey", "FeatureStore", "compute_missing", "FORMAT"]

#: Format tag written into every manifest; bump when the entry layout changes.
FORMAT = "adl-feature-store/1"

_MAX_NAME = 200
_ENTRY_SUFFIX = ".npz"
_META_MEMBER = "__meta__.json"
_MANIFEST = "manifest.json"
_DIGEST_RE = re.compile(r"[0-9a-f]{16}")
# ".<base>.tmp-<host>-<pid>-<rand>"; items never start with ".", so a temp
# name can never be mistaken for an entry.
_TEMP_RE = re.compile(r"\.(?P<base>.+)\.tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<rand>[0-9a-f]+)")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member time stamps: bit-identical entries
_PAD_EXTRA_ID = 0xADA1  # private zip extra field used to align stored members
_ALIGN = 64  # numpy pads .npy headers to 64 bytes; we align the member start too




# ---------------------------------------------------------------------------
# names and keys


def _check_name(name, what: str) -> str:
    """Validate one path component (item, stage, dataset, array name).

    Raises
    ------
    TypeError
        ``name`` is not a str.
    UnsafePathError
        ``name`` could escape the store root or collide with the store's
        own temporary files.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__} {name!r}")
    problem = None
    if not name:
        problem = "it is empty"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif "\0" in name:
        problem = "it contains a NUL character"
    elif ".." in name:
        problem = "it contains '..'"
    elif name.startswith("."):
        problem = "it starts with '.' (reserved for the store's temporary files)"
    elif len(name) > _MAX_NAME:
        problem = f"it is {len(name)} characters long (at most {_MAX_NAME})"
    elif len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME:
        # file names are limited in bytes (255 on most file systems), and the
        # temp name adds ~35 bytes to the item's name
        problem = (f"it is {len(name.encode('utf-8', 'surrogatepass'))} bytes long in UTF-8 "
                   f"(at most {_MAX_NAME})")
    if problem is not None:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise UnsafePathError(
            f"unsafe {what} {shown!r}: {problem}; expected a plain file name such as "
            f"a video id or a fold name ('subject_3')")
    return name


def _to_json(value, where: str):
    """Plain-JSON copy of ``value`` (dict / list / str / int / float / bool / None).

    Tuples become lists, numpy scalars and arrays become Python numbers and
    lists, paths become strings and dataclass instances become dicts, so
    the digest depends on the values only, not on their container types.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which JSON cannot represent; "
                             f"use None or a string such as 'inf' instead")
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}; "
                                f"config keys must be str")
            out[k] = _to_json(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, np.ndarray):
        return _to_json(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{where} is a {type(value).__name__} ({value!r}), which is not "
                    f"JSON-serialisable; expected dict, list, str, int, float, bool or None")


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


@dataclass(frozen=True, eq=False)
class StageKey:
    """Identity of one stage configuration: where its entries live.

    Parameters
    ----------
    stage : str
        Stage name, e.g. ``"f1_frames"``, ``"f2_raw"``, ``"skeleton"``,
        ``"f1_fold"``, ``"f3_fold"``.  A plain path component.
    config : Mapping or dataclass instance
        Everything that affects the stage's output (hyper-parameters,
        backbone and weights metadata, ...).  Must be JSON-serialisable;
        it is stored as its plain-JSON copy (tuples become lists), so later
        changes to the caller's dict do not change the key.
    version : str, default "1"
        The code's feature-version for that stage; bump it when the
        extraction code changes its output.

    Notes
    -----
    Two keys are equal when their digests are equal, i.e. when the canonical
    JSON of ``(stage, config, version)`` is the same (dict key order does
    not matter; ``1`` and ``1.0`` do).
    """

    stage: str
    config: Mapping = field(default_factory=dict)
    version: str = "1"
    _canonical: str = field(init=False, repr=False)

    def __post_init__(self):
        _check_name(self.stage, "stage name")
        if not isinstance(self.version, str) or not self.version:
            raise TypeError(f"version must be a non-empty str (e.g. '1'), got {self.version!r}")
        if not (isinstance(self.config, Mapping)
                or (dataclasses.is_dataclass(self.config) and not isinstance(self.config, type))):
            raise TypeError(f"config must be a mapping or a dataclass instance, "
                            f"got {type(self.config).__name__}")
        config = _to_json(self.config, "config")
        object.__setattr__(self, "config", config)
        canonical = _canonical_json({"config": config, "stage": self.stage,
                                     "version": self.version})
        object.__setattr__(self, "_canonical", canonical)

    @property
    def digest(self) -> str:
        """16 hex digits of the sha256 of the canonical JSON of stage, config, version."""
        return hashlib.sha256(self._canonical.encode("ascii")).hexdigest()[:16]

    def manifest(self) -> dict:
        """The content of this key's ``manifest.json`` (deterministic, no time stamp)."""
        return {"format": FORMAT, "stage": self.stage, "version": self.version,
                "digest": self.digest, "config": self.config}

    def __eq__(self, other):
        if not isinstance(other, StageKey):
            return NotImplemented
        return self._canonical == other._canonical

    def __hash__(self):
        return hash(self._canonical)


# ---------------------------------------------------------------------------
# entry format: an .npz (zip) file with aligned, stored .npy members


def _check_arrays(arrays) -> Dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a dict of name -> ndarray, got {type(arrays).__name__}")
    out = {}
    for name, value in arrays.items():
        _check_name(name, "array name")
        if name.startswith("__"):
            raise ValueError(f"array name {name!r} is reserved (names starting with '__' "
                             f"are used by the store)")
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype {arr.dtype}, which holds Python objects "
                            f"and cannot be stored without pickling; convert it to a numeric, "
                            f"bool or fixed-width string dtype")
        out[name] = arr
    return out


def _padding_extra(pos: int, zinfo: zipfile.ZipInfo) -> bytes:
    """A zip extra field that makes the member's data start 64-byte aligned.

    The local header is 30 bytes + file name + extra (ours, then the 20-byte
    zip64 field that ``force_zip64=True`` appends).  numpy pads the ``.npy``
    header to a multiple of 64, so the array data ends up aligned as well.
    """
    head = 30 + len(zinfo.filename.encode("utf-8")) + 4 + 20
    pad = (-(pos + head)) % _ALIGN
    return struct.pack("<HH", _PAD_EXTRA_ID, pad) + b"\0" * pad


def _write_npy(fh, arr: np.ndarray) -> None:
    """Write one array in ``.npy`` format to a (zip member) file object."""
    np.lib.format.write_array(fh, arr, allow_pickle=False)


def _write_entry(fileobj, arrays: Dict[str, np.ndarray], meta: dict, compress: bool) -> None:
    """Write a whole entry (arrays + meta) as a zip archive into ``fileobj``."""
    with zipfile.ZipFile(fileobj, "w", allowZip64=True) as zf:
        for name, arr in arrays.items():
            zinfo = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH)
            zinfo.external_attr = 0o644 << 16
            if compress:
                zinfo.compress_type = zipfile.ZIP_DEFLATED
            else:
                zinfo.compress_type = zipfile.ZIP_STORED
                zinfo.extra = _padding_extra(fileobj.tell(), zinfo)
            with zf.open(zinfo, "w", force_zip64=True) as fh:
                _write_npy(fh, arr)
        zinfo = zipfile.ZipInfo(_META_MEMBER, date_time=_ZIP_EPOCH)
        zinfo.external_attr = 0o644 << 16
        zf.writestr(zinfo, _canonical_json(meta).encode("ascii"))


_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error,
            zlib.error, KeyError, UnicodeDecodeError)


def _corrupt(path: Path, why) -> StoreError:
    return StoreError(f"corrupt feature entry {path} ({why}); delete this file and re-run: "
                      f"the entry will be recomputed")


def _read_member_mmap(f, path: Path, zinfo: zipfile.ZipInfo, file_size: int):
    """Memory-map one stored ``.npy`` member, or return None when it cannot be mapped."""
    f.seek(zinfo.header_offset)
    local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise _corrupt(path, f"bad local header for member {zinfo.filename!r}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = zinfo.header_offset + 30 + name_len + extra_len
    f.seek(start)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return None  # rare utf-8 header (format 3.0): read it the slow way
    if dtype.hasobject:
        raise _corrupt(path, f"member {zinfo.filename!r} holds Python objects")
    offset = f.tell()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + nbytes > start + zinfo.file_size or offset + nbytes > file_size:
        raise _corrupt(path, f"member {zinfo.filename!r} is truncated")
    if nbytes == 0:
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


def _read_entry(path: Path, mmap: bool, *, arrays: bool = True):
    """Read ``(arrays, meta)`` from an entry file; raise StoreError if corrupt."""
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            if _META_MEMBER not in names:
                raise _corrupt(path, f"no {_META_MEMBER} member")
            meta = json.loads(zf.read(_META_MEMBER).decode("ascii"))
            out = {}
            if arrays:
                file_size = os.fstat(f.fileno()).st_size
                for zinfo in infos:
                    if not zinfo.filename.endswith(".npy"):
                        continue
                    arr = None
                    if mmap and zinfo.compress_type == zipfile.ZIP_STORED:
                        arr = _read_member_mmap(f, path, zinfo, file_size)
                    if arr is None:
                        with zf.open(zinfo) as fh:
                            arr = np.lib.format.read_array(fh, allow_pickle=False)
                            # reading to the end makes zipfile verify the CRC
                            if fh.read(1):
                                raise _corrupt(path, f"member {zinfo.filename!r} has "
                                                     f"trailing data")
                    elif not mmap:
                        arr = np.array(arr)
                    out[zinfo.filename[:-4]] = arr
            return out, meta
    except StoreError:
        raise
    except FileNotFoundError:
        raise
    except _CORRUPT as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"could not read feature entry {path}: {exc}") from exc


# ---------------------------------------------------------------------------
# atomic file writing

def _discard(path: Optional[Path]) -> None:
    if path is None:
        return
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass  # best effort: cleanup_temp() removes what is left


def _write_error(target: Path, exc: OSError) -> StoreError:
    hint = {errno.ENOSPC: "the disk is full; free some space",
            errno.EDQUOT: "the disk quota is exceeded; free some space",
            errno.EACCES: f"no permission to write in {target.parent}; fix its permissions",
            errno.EPERM: f"no permission to write in {target.parent}; fix its permissions",
            errno.EROFS: f"{target.parent} is on a read-only file system; choose another "
                         f"cache root"}.get(exc.errno, "fix the cause")
    reason = exc.strerror or str(exc) or type(exc).__name__
    err = StoreError(f"could not write {target}: {reason}. Nothing was changed in the store "
                     f"(no partial entry); {hint} and re-run -- only missing entries are "
                     f"computed again")
    err.errno = exc.errno
    return err


def _atomic_write(final: Path, write: Callable, *, fsync: bool) -> None:
    """Write ``final`` via a unique temp file in the same directory + os.replace
    (:func:`adl.data.atomic.atomic_write`, the code base's one atomic write;
    entries stream into the file through ``write(fileobj)``), with the store's
    own message for a failed write (:func:`_write_error`).

    On any failure (or interrupt) the temp file is removed and ``final`` keeps
    its previous state.
    """
    atomic_write(final, write, fsync=fsync, error=_write_error)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


# ---------------------------------------------------------------------------
# the store


class FeatureStore:
    """On-disk cache of per-item feature arrays, keyed by stage configuration.

    Parameters
    ----------
    root : str or Path
        Cache root; entries live under ``root/<dataset>/``.  Created if missing.
    dataset : str
        Dataset name (a plain path component).
    fsync : bool, default True
        ``fsync`` every entry before it becomes visible, so that a power
        cut cannot leave an entry that looks complete but is not.  Turn off
        only for throw-away stores.

    Attributes
    ----------
    root : Path
    dataset : str
    path : Path
        ``root / dataset``.

    Raises
    ------
    StoreError
        The folder cannot be created.

    Notes
    -----
    Safe for concurrent use by several threads and processes, including
    writers of the same item: every writer uses its own temp file and the
    final :func:`os.replace` is atomic; entries of one key are equal by
    construction, so whichever writer wins, readers see a complete entry.
    A reader that holds memory-mapped arrays keeps seeing the file it opened.
    """

    def __init__(self, root, dataset: str, *, fsync: bool = True):
        self.root = Path(root)
        self.dataset = _check_name(dataset, "dataset name")
        self.path = self.root / dataset
        self.fsync = bool(fsync)
        self._ready: set = set()  # digests whose folder + manifest are verified
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"could not create the feature store folder {self.path}: "
                             f"{exc.strerror or exc}; choose a writable cache root") from exc

    def __repr__(self):
        return f"FeatureStore(root={str(self.root)!r}, dataset={self.dataset!r})"

    def __getstate__(self):
        return {"root": self.root, "dataset": self.dataset, "path": self.path,
                "fsync": self.fsync}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._ready = set()

    # -- paths ---------------------------------------------------------------

    def _stage_path(self, key: StageKey) -> Path:
        if not isinstance(key, StageKey):
            raise TypeError(f"key must be a StageKey, got {type(key).__name__}")
        return self.path / key.stage / key.digest

    def _entry_path(self, key: StageKey, item: str) -> Path:
        _check_name(item, "item")
        return self._stage_path(key) / (item + _ENTRY_SUFFIX)

    def stage_dir(self, key: StageKey) -> Path:
        """The folder of one stage configuration, created with its manifest.

        Parameters
        ----------
        key : StageKey

        Returns
        -------
        Path
            ``root/<dataset>/<stage>/<digest>``.

        Raises
        ------
        StoreError
            The folder or manifest cannot be written, or an existing manifest
            describes a different configuration.
        """
        d = self._stage_path(key)
        if key.digest in self._ready:
            return d
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(d, exc) from exc
        manifest = d / _MANIFEST
        expected = key.manifest()
        if manifest.is_file():
            try:
                found = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StoreError(f"unreadable manifest {manifest} ({exc}); delete the folder "
                                 f"{d} and re-run") from exc
            if {k: found.get(k) for k in expected} != expected:
                raise StoreError(
                    f"manifest {manifest} describes stage {found.get('stage')!r} version "
                    f"{found.get('version')!r} config {found.get('config')!r}, but the key "
                    f"with the same digest is stage {key.stage!r} version {key.version!r} "
                    f"config {key.config!r}; the folder was modified by hand -- delete {d} "
                    f"and re-run")
        else:
            text = json.dumps(expected, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
            # Concurrent writers may both get here: they write equal bytes and
            # each os.replace is atomic, so readers only ever see a whole file.
            _atomic_write(manifest, lambda f: f.write(text.encode("ascii")), fsync=self.fsync)
        self._ready.add(key.digest)
        return d

    def entry_path(self, key: StageKey, item: str) -> Path:
        """Path of the entry file of ``item`` (whether or not it exists)."""
        return self._entry_path(key, item)

    # -- reading -------------------------------------------------------------

    def has(self, key: StageKey, item: str) -> bool:
        """Whether a complete entry for ``item`` exists under ``key``.

        Only presence is checked (an entry is never visible half-written);
        a file damaged later on is reported by :meth:`get`.

        Raises
        ------
        UnsafePathError
            ``item`` is not a safe file name.
        """
        return self._entry_path(key, item).is_file()

    def keys(self, key: StageKey) -> List[str]:
        """Items that have an entry under ``key``, sorted; temp files are ignored."""
        d = self._stage_path(key)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"could not list {d}: {exc.strerror or exc}") from exc
        return sorted(n[: -len(_ENTRY_SUFFIX)] for n in names
                      if n.endswith(_ENTRY_SUFFIX) and not n.startswith("."))

    def get(self, key: StageKey, item: str, *, mmap: bool = True) -> Dict[str, np.ndarray]:
        """Arrays of one entry.

        Parameters
        ----------
        key : StageKey
        item : str
            Video id or fold name.
        mmap : bool, default True
            Return read-only :class:`numpy.memmap` arrays for members stored
            uncompressed (the default of :meth:`put`); compressed members and
            ``mmap=False`` are read into memory.

        Returns
        -------
        dict of str -> ndarray
            In the order they were put.

        Raises
        ------
        KeyError
            No entry for ``item``.
        StoreError
            The entry is corrupt (truncated, not a store entry); the message
            names the file to delete so that it is recomputed.
        """
        path = self._entry_path(key, item)
        try:
            arrays, _ = _read_entry(path, mmap)
        except FileNotFoundError:
            raise KeyError(self._missing(key, item)) from None
        return arrays

    def get_meta(self, key: StageKey, item: str) -> dict:
        """The ``meta`` dict stored with an entry (``{}`` when none was given).

        Raises
        ------
        KeyError
            No entry for ``item``.
        StoreError
            The entry is corrupt.
        """
        path = self._entry_path(key, item)
        try:
            _, meta = _read_entry(path, False, arrays=False)
        except FileNotFoundError:
            raise KeyError(self._missing(key, item)) from None
        return meta

    def _missing(self, key: StageKey, item: str) -> str:
        return (f"no entry {item!r} for stage {key.stage!r} (config {key.digest}) "
                f"in {self._stage_path(key)}")

    # -- writing -------------------------------------------------------------

    def put(self, key: StageKey, item: str, arrays: Mapping[str, np.ndarray],
            meta: Optional[dict] = None, *, compress: bool = False) -> None:
        """Store the arrays of one item, atomically.

        Parameters
        ----------
        key : StageKey
        item : str
            Video id or fold name (a plain file name, at most 200 characters).
        arrays : dict of str -> array_like
            Any shape and non-object dtype; names are plain file names not
            starting with ``'__'``.
        meta : dict, optional
            JSON-serialisable facts about the entry (frame count, ...).
        compress : bool, default False
            Deflate the arrays (e.g. float16 raw trajectory descriptors);
            compressed entries are read into memory instead of mapped.

        Raises
        ------
        UnsafePathError, TypeError, ValueError
            Bad item, array name, dtype or meta.
        StoreError
            The entry could not be written (disk full, no permission, ...).
            The store is left as it was: no temp file, previous entries intact.

        Notes
        -----
        Overwrites an existing entry of the same item (atomically).
        """
        path = self._entry_path(key, item)
        arrays = _check_arrays(arrays)
        meta = _to_json({} if meta is None else meta, "meta")
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        self.stage_dir(key)
        _atomic_write(path, lambda f: _write_entry(f, arrays, meta, bool(compress)),
                      fsync=self.fsync)

    def remove(self, key: StageKey, item: str) -> bool:
        """Delete the entry of ``item``; return whether there was one."""
        path = self._entry_path(key, item)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"could not delete {path}: {exc.strerror or exc}") from exc
        return True

    # -- housekeeping --------------------------------------------------------

    def cleanup_temp(self, older_than: float = 3600.0) -> List[Path]:
        """Remove temp files left by writers that died.

        A temp file is removed when it was last modified more than
        ``older_than`` seconds ago, or when it belongs to a process of this
        host that no longer exists.  Temps of live writers are kept (a live
        writer keeps touching its file; one entry never takes an hour).

        Parameters
        ----------
        older_than : float, default 3600
            Age in seconds above which any temp file counts as abandoned.  Keep
        it well above the time one :meth:`put` takes: a temp younger than
        that may belong to a live writer on another host, whose pid cannot
        be checked.

        Returns
        -------
        list of Path
            The removed temp files (and temp folders of :meth:`clear_stale`).
        """
        removed = []
        now = time.time()
        for parent in self._temp_parents():
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            for entry in entries:
                m = _TEMP_RE.fullmatch(entry.name)
                if m is None:
                    continue
                try:
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                dead = m["host"] == HOST_TAG and not _pid_alive(int(m["pid"]))
                if age > older_than or dead:
                    path = Path(entry.path)
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            shutil.rmtree(path)
                        else:
                            path.unlink()
                    except FileNotFoundError:
                        continue  # another cleaner was faster
                    except OSError as exc:
                        raise StoreError(f"could not remove the stale temp {path}: "
                                         f"{exc.strerror or exc}") from exc
                    removed.append(path)
        return sorted(removed)

    def _temp_parents(self) -> Iterable[Path]:
        try:
            stages = [e for e in os.scandir(self.path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        parents = [self.path]  # the dataset folder: index.json's temp files
        for stage in stages:
            parents.append(Path(stage.path))
            try:
                parents.extend(Path(e.path) for e in os.scandir(stage.path)
                               if e.is_dir(follow_symlinks=False)
                               and _DIGEST_RE.fullmatch(e.name))
            except OSError:
                continue
        return parents

    def clear_stale(self, stage: str, keep: StageKey) -> List[Path]:
        """Remove every other configuration of ``stage`` than ``keep``.

        Each stale folder is first renamed to a temp name (so it vanishes
        atomically for readers), then deleted.

        Parameters
        ----------
        stage : str
        keep : StageKey
            The configuration to keep; ``keep.stage`` must equal ``stage``.

        Returns
        -------
        list of Path
            The removed configuration folders (their former paths).

        Raises
        ------
        ValueError
            ``keep`` belongs to another stage.
        """
        _check_name(stage, "stage name")
        if not isinstance(keep, StageKey) or keep.stage != stage:
            raise ValueError(f"keep must be a StageKey of stage {stage!r}, got "
                             f"{getattr(keep, 'stage', keep)!r}")
        d = self.path / stage
        try:
            children = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        removed = []
        for name in children:
            if name == keep.digest or not _DIGEST_RE.fullmatch(name) or not (d / name).is_dir():
                continue
            tmp = temp_path(d / name)
            try:
                os.rename(d / name, tmp)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"could not remove the stale configuration {d / name}: "
                                 f"{exc.strerror or exc}") from exc
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(d / name)
        return removed


def compute_missing(store: FeatureStore, key: StageKey, items: Iterable[str],
                    fn: Callable[[str], Any], *, compress: bool = False,
                    n_jobs: int = 1) -> List[str]:
    """Compute and store the entries of ``items`` that are not in the store yet.

    Parameters
    ----------
    store : FeatureStore
    key : StageKey
    items : iterable of str
        Video ids or fold names; duplicates are computed once.
    fn : callable
        ``fn(item)`` returns a dict of arrays, or a tuple ``(arrays, meta)``.
        Must be a pure function of (item, key.config).  Picklable when
        ``n_jobs != 1``.
    compress : bool, default False
        Passed to :meth:`FeatureStore.put`.
    n_jobs : int, default 1
        Run ``fn`` through :class:`joblib.Parallel` with that many workers;
        each worker writes its own entries (safe by construction).

    Returns
    -------
    list of str
        The items that were computed, in input order.
    """
    items = list(dict.fromkeys(items))
    for item in items:
        _check_name(item, "item")
    missing = [item for item in items if not store.has(key, item)]
    if n_jobs == 1 or len(missing) <= 1:
        for item in missing:
            _compute_one(store, key, item, fn, compress)
    else:
        from joblib import Parallel, delayed

        Parallel(n_jobs=n_jobs)(delayed(_compute_one)(store, key, item, fn, compress)
                                for item in missing)
    return missing


def _compute_one(store: FeatureStore, key: StageKey, item: str, fn, compress: bool) -> None:
    result = fn(item)
    if isinstance(result, tuple):
        if len(result) != 2:
            raise TypeError(f"fn({item!r}) returned a tuple of {len(result)} values; expected "
                            f"a dict of arrays or (arrays, meta)")
        arrays, meta = result
    else:
        arrays, meta = result, None
    store.put(key, item, arrays, meta, compress=compress)
