"""``python -m tb.blocks [CONFIG] [BLOCK ...]``: run block tests outside pytest.

CONFIG is a configuration name of golden.hwcfg (``4x4``, ``8x16-small``, ``8x8:acc_depth=256``;
default ``4x4``); BLOCK any of tb.blocks.BLOCKS (default: array and gemm_engine).
"""

import sys

from golden.hwcfg import parse_hw
from tb.blocks import BLOCKS, run_block


def main(argv: list[str]) -> int:
    cfg = argv[0] if argv and argv[0] not in BLOCKS else "4x4"
    which = [a for a in argv if a in BLOCKS] or ["array", "gemm_engine"]
    hw = parse_hw(cfg)
    for name in which:
        run_block(name, hw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
