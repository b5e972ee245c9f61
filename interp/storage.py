"""Crash-safe files: every write goes to a temporary file in the same directory and is renamed into place.

A reader therefore sees either the old file or the new one, never half of one, even after ``kill -9``. Results
(evaluations, analyses) follow one rule for replacing each other (:func:`save_result`, :func:`fullest_result`).
:class:`RunLock` is an advisory ``flock`` on ``DIR/.lock`` that the kernel drops when its process dies, so
a crashed trainer never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from interp.errors import InterpError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        write(temporary_path)
        # after the write: mkstemp's 0600 would make results private, and a writer may recreate the file
        # (safetensors' save_file does), so the mode is set on what was written
        os.chmod(temporary_path, 0o666 & ~current_umask())
        with open(temporary_path, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary_path, path)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def check_writable(folder: Path) -> None:
    """Refuse in one line, before any work, a ``folder`` (there or still to be made) that cannot be written: one
    that is a file or lies under one, or whose nearest existing folder does not take a new file."""
    folder = existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f"cannot make {folder}: "
        raise InterpError(f"{where}{existing} is a file, not a directory")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".write-probe.", suffix=".tmp")
    except OSError as error:
        raise InterpError(f"cannot write to {existing}: {error.strerror}") from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: Path) -> None:
    """Refuse, before any work, a file a command writes at its end but could not: a folder by that name, or one in
    a folder that cannot be written."""
    if Path(path).is_dir():
        raise InterpError(f"{path} is a folder; give a file name")
    check_writable(Path(path).parent)


@contextmanager
def made_folder(folder: Path) -> Iterator[Path]:
    """Make ``folder`` (and its missing parents) for the body; if the body fails before anything but a lock file
    is written there, remove what was made, so a refused command leaves nothing behind."""
    folder = Path(folder)
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for made in missing:  # the deepest first; stop at the first that holds something
            if {path.name for path in made.iterdir()} - {RunLock.FILE}:
                break
            (made / RunLock.FILE).unlink(missing_ok=True)
            made.rmdir()
        raise


def remove_interrupted_writes(folder: Path, name: str = "*") -> None:
    """Remove the temporary files that writes of files named ``name`` (a glob) into ``folder`` left when they were
    killed (``kill -9`` before the rename). Only for a caller that holds the folder's lock: no other process is
    writing them."""
    for path in Path(folder).glob(f".{name}.*.tmp"):
        path.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temporary: temporary.write_text(text))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temporary: temporary.write_bytes(data))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise InterpError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InterpError(f"{path} is not UTF-8 text: byte {error.start} is {error.object[error.start]:#04x}") from None
    except json.JSONDecodeError as error:
        raise InterpError(f"{path} is not valid JSON: {error}") from None


# ---- results on disk (evaluations, analyses): when one may replace another, and which a reader uses -------


def save_result(path: Path, record: Any, current: Callable[[Path, Any], bool], covers: Callable[[Any, Any], bool],
                tag: str) -> Path:
    """Write ``record`` by the one rule for results on disk; returns where it went.

    The result at ``path`` is replaced only by one that covers at least as much (``covers(record, saved)``), or
    when it is no current result (``current(path, saved)`` false: absent, unreadable, of another shape, made
    from a checkpoint since rewritten). Otherwise ``record`` is kept beside it under its own name,
    ``NAME.TAG.json``, so a narrower result never silently replaces a fuller one; readers take the fullest
    (:func:`fullest_result`) and say which file it is."""
    saved = read_result(path)
    if saved is not None and current(path, saved) and not covers(record, saved):
        path = path.with_name(f"{path.stem}.{tag}{path.suffix}")
    write_json(path, record)
    return path


def fullest_result(
    path: Path, current: Callable[[Path, Any], bool], fullness: Callable[[Any], Any],
    accept: Callable[[Any], bool] = lambda record: True,
) -> tuple[Path, Any] | None:
    """Of the current results at ``path`` and beside it (``NAME.*.json``, :func:`save_result`) that ``accept``
    takes, the one of greatest ``fullness``, with its file; None when there is none."""
    candidates = [(candidate, read_result(candidate))
                  for candidate in [path, *sorted(path.parent.glob(f"{path.stem}.*{path.suffix}"))]]
    usable = [(candidate, record) for candidate, record in candidates
              if record is not None and current(candidate, record) and accept(record)]
    return max(usable, key=lambda found: fullness(found[1]), default=None)


def read_result(path: Path) -> Any | None:
    """A saved result, or None where there is none or it cannot be read (a torn file is no result)."""
    if not Path(path).is_file():
        return None
    try:
        return read_json(path)
    except InterpError:
        return None


class RunLock:
    """An exclusive lock on a run directory, held while one process writes it."""

    FILE = ".lock"

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / self.FILE
        self.handle = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise InterpError(f"{self.path.parent} is being written by {holder}; wait for it or stop it") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"process {os.getpid()}")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
