"""Command-line plumbing shared by every command: the ``--device`` flag and the lengths flags' syntax."""

from __future__ import annotations

import argparse

import torch

from interp.errors import InterpError
from interp.tasks import LENGTH_LIMIT


def add_device_argument(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help=help or "where to compute (auto: CUDA when available)")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InterpError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def parse_lengths(items: list[str] | None) -> list[int] | None:
    """``["1-8", "12"]`` → [1, …, 8, 12]."""
    if not items:
        return None
    lengths: set[int] = set()
    for item in items:
        try:
            first, _, last = item.partition("-")
            low, high = int(first), int(last or first)
        except ValueError:
            raise InterpError(f"--lengths takes numbers and ranges like 1-40, got {item!r}") from None
        if low < 1:
            raise InterpError("--lengths must be at least 1")
        if high > LENGTH_LIMIT:
            raise InterpError(f"--lengths are at most {LENGTH_LIMIT} (the longest any task accepts), got {item!r}")
        if high < low:
            raise InterpError(f"--lengths {item} is an empty range; write the shorter length first ({high}-{low})")
        lengths.update(range(low, high + 1))
    return sorted(lengths)


def format_lengths(lengths: list[int], separator: str = "_") -> str:
    """[1, 2, 3, 5] → ``1-3_5`` (ascending lengths as ranges; the inverse of :func:`parse_lengths`)."""
    spans: list[list[int]] = []
    for length in lengths:
        if spans and length == spans[-1][1] + 1:
            spans[-1][1] = length
        else:
            spans.append([length, length])
    return separator.join(str(low) if low == high else f"{low}-{high}" for low, high in spans)
