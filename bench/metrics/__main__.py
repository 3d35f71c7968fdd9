"""``python -m bench.metrics``: print the metrics table of the docs; ``--write FILE`` updates it in FILE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.metrics import DOCS_BEGIN, DOCS_END, markdown_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="FILE", help="replace the table between the markers")
    args = parser.parse_args(argv)
    table = markdown_table()
    if args.write is None:
        print(table)
        return 0
    text = args.write.read_text(encoding="utf-8")
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        print(f"{args.write}: no metrics table markers ({DOCS_BEGIN!r} ... {DOCS_END!r})", file=sys.stderr)
        return 2
    args.write.write_text(
        text[: begin + len(DOCS_BEGIN)] + "\n" + table + "\n" + text[end:], encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
