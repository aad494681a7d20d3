"""Command-line arguments the benchmarks share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def name_list(parser: argparse.ArgumentParser, option: str, text: str,
              allowed: Sequence[str]) -> list[str]:
    """The names in a comma-separated option value, each one of ``allowed``.

    Calls ``parser.error`` (exit status 2, naming the option, the value, the unknown names and
    the allowed ones) when a name is unknown or the list is empty.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        parser.error(f"{option} {text!r}: unknown {unknown}; expected names from {tuple(allowed)}")
    return names
