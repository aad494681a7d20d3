"""The command line that generates the stand-in by hand.

``python -m helpers.standin [--root DIR] [--seed N] [--workers N] [--force]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from helpers import config
from helpers.standin import tree
from helpers.standin.errors import CorpusError


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m helpers.standin [--root DIR] [--seed N] [--workers N]
    [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.standin",
                                     description="Generate the synthetic stand-in corpus.")
    parser.add_argument("--root", type=Path, default=config.STANDIN_DIR,
                        help=f"destination folder (default {config.STANDIN_DIR})")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        root = tree.generate_standin(args.root, seed=args.seed, force=args.force,
                                     workers=args.workers)
    except CorpusError as error:
        parser.error(str(error))
    marker = tree.read_marker(root) or {}
    print(f"{root}: {marker.get('counts')} (seed {marker.get('seed')}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
