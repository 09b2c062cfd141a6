"""Bus-functional layer of the NMX top-level testbench (docs/rtl_top.md).

* :mod:`tb.bfm.tb_top` - :class:`NmxTb`, the only code that touches ``nmx_tb_top`` pins (needs cocotb);
* :mod:`tb.bfm.memfile` - hex images for the $readmemh/$writememh backdoor (pure Python);
* :mod:`tb.bfm.translog` - the memory model's AXI transfer log (pure Python).

``tb_top`` is not imported here so the pure-Python helpers work outside a simulation.
"""

from tb.bfm.memfile import bytes_to_hex, hex_to_bytes, insns_to_hex
from tb.bfm.translog import Transfer, TransferLog

__all__ = ["Transfer", "TransferLog", "bytes_to_hex", "hex_to_bytes", "insns_to_hex"]
