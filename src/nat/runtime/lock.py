"""An exclusive lock on a run folder, so that two processes never write one run.

Two ``nat train --out R`` started together would otherwise both pass the "folder already holds a
run" check (it looks for files the first epoch has not written yet) and interleave their metrics
and checkpoints. The lock is an OS advisory lock (``flock``) on ``R/.nat.lock``, taken before
anything else is written to ``R``:

* the OS drops it when the holder exits, however it exits (kill -9 included), so a crash never
  leaves a lock that blocks the next run; the file stays, holding the last holder's PID, which
  is how a lock left by a crashed process is recognised and reported;
* it is re-entrant within one process (a multi-run command locks the top folder, and a library
  user may resume a run in the process that started it), counted, and released when the count
  falls to zero;
* under ``torchrun`` only rank 0 writes, so only rank 0 locks (callers pass ``main``).

Platforms without ``fcntl`` (Windows) run unlocked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import NatError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_NAME", "RunLock", "FolderInUse"]

LOCK_NAME = ".nat.lock"

# realpath of the folder -> [file descriptor, count] for the locks this process holds
_held: dict[str, list[int]] = {}


class FolderInUse(NatError):
    """Another live process holds the folder's lock."""


def _holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


def _pid_of(holder: str) -> int | None:
    word = holder.split()[0] if holder.split() else ""
    return int(word) if word.isdigit() else None


class RunLock:
    """The lock on one folder. ``acquire()`` creates the folder if need be.

    Args:
        folder: the run folder.
        what: how messages name the folder's owner (e.g. "run folder").
    """

    def __init__(self, folder: str | os.PathLike, what: str = "run folder") -> None:
        self.folder = Path(folder)
        self.what = what
        self.stale: str | None = None  # after acquire: the holder line a crashed process left, if any
        self._key: str | None = None

    @property
    def file(self) -> Path:
        return self.folder / LOCK_NAME

    def acquire(self) -> "RunLock":
        if self._key is not None:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NatError(f"{self.folder}: exists and is not a folder; choose another --out") from None
        except OSError as err:
            raise NatError(f"{self.folder}: cannot create the {self.what} ({err.strerror or err})") from None
        key = os.path.realpath(self.folder)
        if key in _held:
            _held[key][1] += 1
            self._key = key
            return self
        if fcntl is None:  # pragma: no cover
            _held[key] = [-1, 1]
            self._key = key
            return self
        try:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise NatError(f"{self.folder}: cannot write the {self.what} ({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _holder(self.file)
            pid = _pid_of(holder)
            raise FolderInUse(f"{self.folder}: in use by another nat process "
                              f"(PID {pid if pid is not None else holder}); wait for it to finish, stop it, "
                              f"or choose another --out") from None
        except OSError as err:  # a file system without locks (some network mounts): refuse rather than risk two writers
            os.close(fd)
            raise NatError(f"{self.folder}: cannot lock the {self.what} ({err.strerror or err})") from None
        previous = _holder(self.file)
        if previous != "unknown":
            pid = _pid_of(previous)
            if pid is not None and pid != os.getpid():
                self.stale = previous  # it held the lock, and no longer does: it ended without releasing
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError:
            pass  # the lock holds without the note; only the message naming the holder suffers
        _held[key] = [fd, 1]
        self._key = key
        return self

    def release(self) -> None:
        if self._key is None:
            return
        key, self._key = self._key, None
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
        fd = entry[0]
        if fd >= 0:
            try:
                os.ftruncate(fd, 0)  # an empty file: released cleanly, nothing to report next time
            except OSError:
                pass
            os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._key is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *_exc) -> None:
        self.release()
