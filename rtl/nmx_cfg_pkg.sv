// nmx_cfg_pkg: shared localparams of the NMX RTL that are not part of the ISA (the ISA, including
// the instruction-header layout, enum, field and element widths, lives in the generated
// nmx_isa_pkg). Status-port widths and the AXI4 protocol constants used by both DMA engines and
// their burst splitter (nmx_axi_burst_split).
//
// Written in the SystemVerilog subset that both Verilator and Yosys' native frontend accept
// (docs/rtl_top.md, "Synthesis subset"): no package imports, no functions in packages.
package nmx_cfg_pkg;

  // ---------------------------------------------------------------- widths
  localparam int unsigned CNT_BITS   = 64;   // performance counters (docs/isa.md section 6)
  localparam int unsigned INDEX_BITS = 32;   // instruction index (error_index, cmd_index)

  // ---------------------------------------------------------------- AXI4 constants
  localparam int unsigned AXI_LEN_BITS    = 8;     // AxLEN
  localparam int unsigned AXI_SIZE_BITS   = 3;     // AxSIZE
  localparam int unsigned AXI_BURST_BITS  = 2;     // AxBURST
  localparam int unsigned AXI_RESP_BITS   = 2;     // RRESP / BRESP
  localparam logic [AXI_BURST_BITS-1:0] AXI_BURST_INCR = 2'b01;
  localparam int unsigned AXI_MAX_BEATS   = 1 << AXI_LEN_BITS;   // INCR burst limit (256)
  localparam int unsigned AXI_4K_BITS     = 12;    // bursts never cross a 4 KiB boundary
  localparam int unsigned AXI_4K_BYTES    = 1 << AXI_4K_BITS;
  localparam int unsigned AXI_RESP_ERR_BIT = 1;    // SLVERR/DECERR have resp[1] set

endpackage : nmx_cfg_pkg
