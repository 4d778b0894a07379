"""Atomic file writes: a reader (or a crash) never sees half a file.

The text goes to a temporary file in the destination's folder (so the rename stays on one file
system) and is renamed over the destination. The result gets the permissions an ordinary write
would give (``0o666`` less the umask), not the private mode of a temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import NatError

__all__ = ["write_text_atomic", "write_bytes_atomic", "check_output_path", "written"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # a full disk shows here, not after the rename
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_path(path: str | os.PathLike, verb: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` if a file can be written there, checked *before* any work so that nothing computed
    is lost: its suffix among ``suffixes`` (any case), not a folder, its folder created if missing
    (as run folders are), and a file really creatable in that folder (a read-only or special file
    system such as /proc fails here). Else the one-line error every writer gives ("cannot draw to
    'x.png': ...")."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        allowed = (" or ".join(suffixes) if len(suffixes) <= 2 else "one of " + ", ".join(suffixes))
        raise NatError(f"cannot {verb} to '{path}': the suffix must be {allowed}")
    if path.is_dir():
        raise NatError(f"cannot {verb} to '{path}': it is a folder (give a file name in it)")
    if path.exists() and not path.is_file():  # a FIFO would block the write, a device swallow it
        raise NatError(f"cannot {verb} to '{path}': it is not a regular file (a device or a pipe)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise NatError(f"cannot {verb} to '{path}': {err.strerror or err}") from None
    return path


def written(path: str | os.PathLike, verb: str, write) -> None:
    """Run ``write()``; a failure of the disk (full, gone read-only) is the one-line error."""
    try:
        write()
    except OSError as err:
        raise NatError(f"cannot {verb} to '{path}': {err.strerror or err}") from None
