"""``python -m tb.blocks ROWS COLS [array|gemm_engine ...]``: run block tests outside pytest."""

import sys

from tb.blocks import BlockConfig, run_block


def main(argv: list[str]) -> int:
    rows, cols = (int(a) for a in argv[:2]) if len(argv) >= 2 else (4, 4)
    which = argv[2:] or ["array", "gemm_engine"]
    for w in which:
        run_block(w, BlockConfig(rows=rows, cols=cols))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
