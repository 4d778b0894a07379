"""Atomic checkpoints that load with ``weights_only=True``.

A checkpoint is one self-describing dict (model, optimiser, scheduler, RNG states, config,
epoch, metrics so far). It is written to a temporary file in the same folder, flushed to disk,
then renamed over the old one: a crash at any moment leaves either the old or the new
checkpoint, never half of one. Only tensors, numbers, strings and containers go in, so loading
never unpickles code.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import NatError, RunAborted

__all__ = ["save_checkpoint", "load_checkpoint", "MalformedCheckpoint", "malformed"]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically; on a full or failing disk the previous file stays
    whole and the error is a :class:`~nat.errors.RunAborted` (one line, exit status 1)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        kept = _what_survives(path)
        raise RunAborted(f"{path}: could not write the checkpoint ({err.strerror or err}); {kept}free space or "
                         f"fix permissions, then rerun with --resume") from None
    except RuntimeError as err:
        # torch's zip writer reports a full disk as its own error ("[enforce fail at
        # inline_container.cc] unexpected pos ..."), not as an OSError
        text = str(err).lower()
        if not any(word in text for word in ("inline_container", "unexpected pos", "write", "file")):
            raise
        kept = _what_survives(path)
        raise RunAborted(f"{path}: could not write the checkpoint (the disk is probably full: "
                         f"{_free_bytes(path.parent):,} bytes free there); {kept}free space, then rerun with "
                         f"--resume") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _what_survives(path: Path) -> str:
    if path.exists():
        return "the previous checkpoint is intact; "
    last = path.with_name("last.pt")
    return f"{last.name} is intact; " if last != path and last.exists() else ""


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The dict saved at ``path``, loaded with ``weights_only=True`` (no code is ever unpickled).

    A file that is not one, holds Python objects beyond tensors and plain data, or is not a dict
    is refused in one line. Whether the dict has the right keys is for the reader to check
    (:func:`malformed` makes its error)."""
    path = Path(path)
    if not path.is_file():
        raise NatError(f"{path}: no checkpoint there")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        detail = text.split("WeightsUnpickler error:")[-1].strip().splitlines() if "WeightsUnpickler" in text else []
        detail = detail[0].strip() if detail else ""
        # junk or a truncated file fails on an opcode; anything else was an object refused on purpose
        if "Weights only load failed" not in text or detail.startswith(("Unsupported operand", "Unsupported opcode")):
            reason = detail or (text.strip().splitlines() or ["not a torch file"])[0]
            raise NatError(f"{path}: not a readable checkpoint ({reason})") from None
        # torch's message advises weights_only=False, i.e. running whatever the file holds: not ours to repeat
        raise NatError(f"{path}: not a nat checkpoint, or not one to trust: it holds Python objects beyond "
                       f"tensors and plain data, and nat does not load those") from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NatError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(state, dict):
        raise NatError(f"{path}: not a nat checkpoint (it holds a {type(state).__name__}, not a dict)")
    return state


class MalformedCheckpoint(NatError):
    """A checkpoint that loads but lacks what its reader needs, or holds it in the wrong shape."""


def malformed(path: str | Path, err: BaseException) -> MalformedCheckpoint:
    """The one-line error for a checkpoint whose contents broke its reader (``err``)."""
    if isinstance(err, KeyError):
        what = f"missing {err.args[0]!r}" if err.args else "a missing entry"
    else:
        text = str(err).strip()
        what = text.splitlines()[0] if text else type(err).__name__
        if len(what) > 200:
            what = what[:200] + "..."
    return MalformedCheckpoint(f"{path}: a malformed checkpoint ({what}); it was not changed")


def refuse_field(field: str, shown: str, should: str) -> None:
    """Raise the ``ValueError`` that :func:`malformed` turns into one line naming a bad field."""
    raise ValueError(f"field {field!r} is {shown}; it should be {should}")


def check_epochs(state: dict, epochs: int) -> None:
    """The bookkeeping every resumable run keeps: ``epoch``, a whole number of finished epochs in
    ``0..epochs``, and ``history``, one row (a mapping) per finished epoch. Checked on load, so a hand
    edit is refused by name before any work, not found after an epoch of it."""
    epoch, history = state["epoch"], state["history"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= epochs:
        refuse_field("epoch", repr(epoch), f"the number of finished epochs, 0 to {epochs}")
    if not isinstance(history, list) or len(history) != epoch or not all(isinstance(r, dict) for r in history):
        refuse_field("history", f"{len(history)} rows" if isinstance(history, list) else f"a {type(history).__name__}",
                     f"one row (a mapping) per finished epoch, {epoch}")

