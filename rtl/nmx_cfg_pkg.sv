// nmx_cfg_pkg: shared localparams and types of the NMX RTL that are not part of the ISA
// (the ISA lives in the generated nmx_isa_pkg). Counter widths, index/error widths, AXI4
// protocol constants and the instruction-header helpers used by the dispatcher, the token unit
// and the top.
//
// Written in the SystemVerilog subset that both Verilator and Yosys' native frontend accept
// (docs/rtl_top.md, "Synthesis subset"): no package imports, no functions in packages.
package nmx_cfg_pkg;

  // ---------------------------------------------------------------- widths
  localparam int unsigned CNT_BITS   = 64;   // performance counters (docs/isa.md section 6)
  localparam int unsigned INDEX_BITS = 32;   // instruction index (error_index, cmd_index)
  localparam int unsigned ERR_BITS   = 4;    // error_e
  localparam int unsigned CSEL_BITS  = 4;    // counter_e / cnt_sel
  localparam int unsigned NUM_QUEUES = 3;    // LD, CMP, ST
  localparam int unsigned OPCODE_BITS = 4;

  // ---------------------------------------------------------------- instruction header
  // Every format starts with opcode[3:0], pop_ld/cmp/st [6:4], push_ld/cmp/st [9:7]; bit q of
  // the 3-bit pop/push group names queue q (queue_e order LD, CMP, ST).
  localparam int unsigned POP_LSB  = 4;
  localparam int unsigned PUSH_LSB = 7;

  // ---------------------------------------------------------------- AXI4 constants
  localparam logic [1:0] AXI_BURST_INCR  = 2'b01;
  localparam int unsigned AXI_MAX_BEATS  = 256;    // INCR burst limit
  localparam int unsigned AXI_4K_BITS    = 12;     // bursts never cross a 4 KiB boundary
  localparam int unsigned AXI_4K_BYTES   = 4096;
  localparam int unsigned AXI_RESP_ERR_BIT = 1;    // SLVERR/DECERR have resp[1] set

endpackage : nmx_cfg_pkg
