"""A run folder: the resolved config, one JSON line of metrics per epoch, checkpoints, a summary.

Layout::

    RUN_DIR/config.yaml      the resolved config (what actually ran)
    RUN_DIR/metrics.jsonl    one JSON object per epoch
    RUN_DIR/last.pt          the latest checkpoint (resume from here)
    RUN_DIR/best.pt          the best checkpoint so far (where the run has a notion of best)
    RUN_DIR/summary.json     final figures
    RUN_DIR/.nat.lock        the writer's PID while it runs (see :mod:`nat.runtime.lock`)

The metrics history also lives in the checkpoint; on resume ``metrics.jsonl`` is rewritten from
it, so a run killed between writing a line and writing the checkpoint never repeats or loses an
epoch.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from ..errors import NatError
from .atomic import write_text_atomic
from .checkpoint import load_checkpoint, save_checkpoint
from .config import write_yaml
from .lock import LOCK_NAME, RunLock

__all__ = ["RunDir"]


class RunDir:
    """Args: path: the folder; main: whether this process writes (rank 0)."""

    def __init__(self, path: str | os.PathLike, *, main: bool = True) -> None:
        self.path = Path(path)
        self.main = main

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    def prepare(self, *, resume: bool) -> None:
        """Lock the folder (creating it), then refuse to overwrite a started run unless resuming.

        The lock comes before any check, so that of two processes started together on one folder
        the second stops here, naming the first's PID, instead of interleaving with it.
        """
        if resume and not self.last.exists():
            raise NatError(f"{self.path}: nothing to resume (no last.pt); run without --resume to start")
        if not self.main:
            return
        existed = self.path.exists()
        self.lock.acquire()
        try:
            if not resume and (self.last.exists() or (self.path / "metrics.jsonl").exists()):
                raise NatError(f"{self.path}: already holds a run; use --resume to continue it or choose another --out")
        except BaseException:
            self.close()
            if not existed:  # leave no empty folder behind a refusal
                _remove_if_only_lock(self.path)
            raise
        if self.lock.stale:
            # its lock died with it (the OS drops it); only its note remains, worth a line
            print(f"nat: note: {self.path}: the previous process on this folder ({self.lock.stale}) was killed "
                  f"or crashed" + ("; resuming from its last checkpoint" if resume else ""), file=sys.stderr)

    @property
    def lock(self) -> RunLock:
        if not hasattr(self, "_lock"):
            self._lock = RunLock(self.path)
        return self._lock

    def close(self) -> None:
        """Release the folder's lock (also released by the OS when the process ends)."""
        if hasattr(self, "_lock"):
            self._lock.release()

    def write_config(self, config: Mapping[str, Any]) -> None:
        if self.main:
            write_yaml(config, self.path / "config.yaml")

    def rewrite_metrics(self, history: list[dict]) -> None:
        if self.main:
            write_text_atomic(self.path / "metrics.jsonl", "".join(_json(row) + "\n" for row in history))

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        if self.main:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(_json(dict(row)) + "\n")

    def read_metrics(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def save(self, state: dict, *, best: bool = False) -> None:
        if self.main:
            save_checkpoint(state, self.last)
            if best:
                save_checkpoint(state, self.best)

    def load_last(self, map_location="cpu") -> dict:
        return load_checkpoint(self.last, map_location)

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        if self.main:
            write_text_atomic(self.path / name, _json(dict(data), indent=1) + "\n")


def _remove_if_only_lock(path: Path) -> None:
    try:
        if [p.name for p in path.iterdir()] in ([], [LOCK_NAME]):
            (path / LOCK_NAME).unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(data: Any, **kwargs) -> str:
    """JSON that every reader accepts: NaN and infinity (which Python writes as bare ``NaN``, not
    JSON) become ``null``."""
    return json.dumps(_finite(data), allow_nan=False, **kwargs)
