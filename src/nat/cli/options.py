"""Parsers of what options take: counts, sizes, rates and fractions that make sense, and threads.

Each takes the option's text and returns the number, or raises ``ValueError``; argparse turns
that into one line naming the option and what it wants (``argument --subset: invalid whole number
>= 1 value: '-5'``), exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "non_negative_int", "non_negative", "fraction", "parse_threads"]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(text)
    return value


def fraction(text: str) -> float:
    """A fraction in (0, 1]."""
    value = float(text)
    if not (0 < value <= 1):
        raise ValueError(text)
    return value


positive_int.__name__ = "whole number >= 1"
non_negative_int.__name__ = "whole number >= 0"
non_negative.__name__ = "finite number >= 0"
fraction.__name__ = "fraction in (0, 1]"


def parse_threads(text: str) -> int | str:
    """argparse type of ``--threads``: a positive number or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive number or 'auto', got {text!r}")
    return int(text)


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """``--threads N|auto``, the same on every command that computes."""
    p.add_argument("--threads", type=parse_threads, default="auto",
                   help="CPU threads for torch: a number or auto (default: the cores idle at start)")

