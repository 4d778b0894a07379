"""Reading a file a user named, safely: only regular files, and never more than a cap.

A path can lead to things that are not files: a FIFO (opening it waits for a writer that never
comes), a device (``/dev/zero`` reads forever and reports size 0, so a check of the file's size
lets it through), a folder. And a regular file can be far larger than what it claims to be. So
the file is opened without blocking, checked to be regular *after* opening (no window in which it
is swapped), and read up to the cap plus one byte: what is read is capped, not what the file says
its size is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import NatError

__all__ = ["read_bytes_capped", "read_text_capped", "check_regular_file"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _refuse_unless_regular(path: Path, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise NatError(f"{path}: {kind}, not a regular file (a {what} must be one)")


def check_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a regular file (following links), else one line saying what it is."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError as err:
        raise NatError(f"{p}: cannot read the {what} ({err.strerror or err})") from None
    _refuse_unless_regular(p, mode, what)
    return p


def read_bytes_capped(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused in one line if it is anything else or holds
    more than ``limit`` bytes. ``what`` names the file in messages ("config file")."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise NatError(f"{p}: cannot read the {what} ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as f:
        _refuse_unless_regular(p, os.fstat(f.fileno()).st_mode, what)
        try:
            data = f.read(limit + 1)
        except OSError as err:
            raise NatError(f"{p}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > limit:
        raise NatError(f"{p}: more than {limit:,} bytes, more than a {what} may have")
    return data


def read_text_capped(path: str | os.PathLike, limit: int, what: str) -> str:
    """:func:`read_bytes_capped`, decoded as UTF-8; a byte that is not UTF-8 is named by offset."""
    data = read_bytes_capped(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NatError(f"{path}: the {what} is not UTF-8 text (byte {err.start}: "
                       f"{data[err.start:err.start + 1]!r})") from None
