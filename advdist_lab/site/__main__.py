"""``python -m advdist_lab.site [--executed build/executed] [--out build/site]``: build the course site from the
executed notebooks (:func:`advdist_lab.site.build.build_site`), print its pages and their sizes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .build import build_site


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advdist_lab.site", description=__doc__.splitlines()[0])
    parser.add_argument("--executed", default="build/executed", help="the executed notebooks (make course's)")
    parser.add_argument("--out", default="build/site", help="the site's folder (its Sphinx project: OUT-src)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's own progress messages")
    args = parser.parse_args(argv)
    try:
        report = build_site(Path(args.executed), Path(args.out), quiet=not args.verbose)
    except (ValueError, RuntimeError) as error:
        print(f"advdist_lab.site: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
