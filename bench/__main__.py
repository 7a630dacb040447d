"""``python -m bench NAME``: run one benchmark (``fanout``)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"fanout"}:
        print("usage: python -m bench fanout [--messages N] [--rate R] [--kill-at F]")
        return 2
    from bench import fanout

    return fanout.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
