"""Fetching the official CIFAR-10 archive when no local copy is given.

The archive (https://www.cs.toronto.edu/~kriz/cifar.html, "CIFAR-10 python version", md5
``c58f30108f718f92721af3b95e74349a``) is downloaded into the cache folder with ``urllib`` and
checked against its MD5 before it is given its final name, so a partial or wrong file is never
mistaken for the real one. The URL can be overridden (argument, or ``$NAT_CIFAR10_URL``) for
mirrors and tests. Without a network the failure is immediate (a short socket timeout) and the
message says how to use a local copy instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import NatError

__all__ = ["CIFAR10_URL", "CIFAR10_MD5", "URL_ENV", "ARCHIVE_NAME", "fetch_cifar10", "download"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
URL_ENV = "NAT_CIFAR10_URL"
ARCHIVE_NAME = "cifar-10-python.tar.gz"

# Seconds to wait to connect and between received blocks: long enough for a slow mirror, short
# enough that an offline machine fails at once instead of appearing to hang.
TIMEOUT = 10.0
_BLOCK = 1 << 20

LOCAL_COPY_HINT = ("point at a local copy instead: --data /path/to/cifar-10-python.tar.gz, or a "
                   "cifar-10-batches-py folder, or an image folder with train/<class>/ and "
                   "test/<class>/")


def fetch_cifar10(cache_dir: Path, *, url: str | None = None, md5: str = CIFAR10_MD5,
                  timeout: float = TIMEOUT, progress: bool = True) -> Path:
    """The path of the official CIFAR-10 archive in ``cache_dir``, downloading it if absent.

    Args:
        url: where to download from; default ``$NAT_CIFAR10_URL``, else :data:`CIFAR10_URL`.
        md5: the expected checksum of the download.
    """
    target = cache_dir / ARCHIVE_NAME
    if not target.exists():  # only a verified download is ever given this name
        download(url or os.environ.get(URL_ENV) or CIFAR10_URL, target, md5=md5,
                 timeout=timeout, progress=progress)
    return target


def download(url: str, target: Path, *, md5: str, timeout: float = TIMEOUT,
             progress: bool = True) -> None:
    """Download ``url`` to ``target`` atomically, if and only if its MD5 is ``md5``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, timeout=timeout, progress=progress)
        if digest != md5.lower():
            raise NatError(f"{url}: checksum mismatch (md5 {digest}, expected {md5}); the "
                           f"download was discarded")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fetch(url: str, out, *, timeout: float, progress: bool) -> str:
    """Stream ``url`` into the open file ``out``; return the MD5 of what was received."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, desc=f"downloading {url.rsplit('/', 1)[-1]}", unit="B",
                      unit_scale=True, disable=not progress, leave=False) as bar:
                while block := response.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise NatError(f"cannot download {url} ({reason}); {LOCAL_COPY_HINT}") from None
    return digest.hexdigest()
