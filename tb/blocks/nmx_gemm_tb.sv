// Block-test harness for nmx_gemm_engine (simulation only, not part of the RTL).
// The engine with its buffers built exactly as in docs/architecture.md: INP and WGT as
// nmx_sram (the testbench owns their write ports, as the load engine does in nmx_top), ACC as
// two nmx_sram copies sharing one write port (gemm-side read copy, testbench/store-side read
// copy). The testbench may write ACC (to preset accumulators) only while the engine is idle.
module nmx_gemm_tb
  import nmx_isa_pkg::*;
#(
  parameter int unsigned ROWS      = 4,
  parameter int unsigned COLS      = 4,
  parameter int unsigned INP_DEPTH = 1024,
  parameter int unsigned WGT_DEPTH = 1024,
  parameter int unsigned ACC_DEPTH = 512,
  localparam int unsigned INP_AW   = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1,
  localparam int unsigned WGT_AW   = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1,
  localparam int unsigned ACC_AW   = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1
) (
  input  logic                   clk,
  input  logic                   rst_n,
  input  logic                   cmd_valid,
  output logic                   cmd_ready,
  input  logic [INSN_BITS-1:0]   cmd_insn,
  input  logic [31:0]            cmd_index,
  output logic                   cmpl_valid,
  output logic                   err_valid,
  input  logic                   halt,
  output logic                   idle,
  output logic                   mac_active,
  input  logic                   tb_inp_we,
  input  logic [INP_AW-1:0]      tb_inp_waddr,
  input  logic [ROWS*8-1:0]      tb_inp_wdata,
  input  logic                   tb_wgt_we,
  input  logic [WGT_AW-1:0]      tb_wgt_waddr,
  input  logic [COLS*8-1:0]      tb_wgt_wdata,
  input  logic                   tb_acc_we,
  input  logic [ACC_AW-1:0]      tb_acc_waddr,
  input  logic [COLS*32-1:0]     tb_acc_wdata,
  input  logic                   tb_acc_re,
  input  logic [ACC_AW-1:0]      tb_acc_raddr,
  output logic [COLS*32-1:0]     tb_acc_rdata,
  // the engine's ACC write port, observed by the testbench
  output logic                   acc_we,
  output logic [ACC_AW-1:0]      acc_waddr,
  output logic [COLS*32-1:0]     acc_wdata,
  // counters (cleared by reset)
  output logic [31:0]            cnt_mac,
  output logic [31:0]            cnt_cmpl,
  output logic [31:0]            cnt_busy
);

  logic                  inp_re, wgt_re, acc_re;
  logic [INP_AW-1:0]     inp_raddr;
  logic [WGT_AW-1:0]     wgt_raddr;
  logic [ACC_AW-1:0]     acc_raddr;
  logic [ROWS*8-1:0]     inp_rdata;
  logic [COLS*8-1:0]     wgt_rdata;
  logic [COLS*32-1:0]    acc_rdata;
  logic [3:0]            err_code;
  logic [31:0]           err_index;

  logic                  mem_acc_we;
  logic [ACC_AW-1:0]     mem_acc_waddr;
  logic [COLS*32-1:0]    mem_acc_wdata;

  nmx_gemm_engine #(.ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH),
                    .ACC_DEPTH(ACC_DEPTH)) u_engine (
    .clk, .rst_n, .cmd_valid, .cmd_ready, .cmd_insn, .cmd_index, .cmpl_valid, .err_valid,
    .err_code, .err_index, .halt, .idle, .inp_re, .inp_raddr, .inp_rdata, .wgt_re, .wgt_raddr,
    .wgt_rdata, .acc_re, .acc_raddr, .acc_rdata, .acc_we, .acc_waddr, .acc_wdata, .mac_active
  );

  nmx_sram #(.WIDTH(ROWS*8), .DEPTH(INP_DEPTH)) u_inp (
    .clk, .we(tb_inp_we), .waddr(tb_inp_waddr), .wdata(tb_inp_wdata),
    .re(inp_re), .raddr(inp_raddr), .rdata(inp_rdata));

  nmx_sram #(.WIDTH(COLS*8), .DEPTH(WGT_DEPTH)) u_wgt (
    .clk, .we(tb_wgt_we), .waddr(tb_wgt_waddr), .wdata(tb_wgt_wdata),
    .re(wgt_re), .raddr(wgt_raddr), .rdata(wgt_rdata));

  assign mem_acc_we    = acc_we || tb_acc_we;
  assign mem_acc_waddr = acc_we ? acc_waddr : tb_acc_waddr;
  assign mem_acc_wdata = acc_we ? acc_wdata : tb_acc_wdata;

  nmx_sram #(.WIDTH(COLS*32), .DEPTH(ACC_DEPTH)) u_acc_gemm (
    .clk, .we(mem_acc_we), .waddr(mem_acc_waddr), .wdata(mem_acc_wdata),
    .re(acc_re), .raddr(acc_raddr), .rdata(acc_rdata));

  nmx_sram #(.WIDTH(COLS*32), .DEPTH(ACC_DEPTH)) u_acc_store (
    .clk, .we(mem_acc_we), .waddr(mem_acc_waddr), .wdata(mem_acc_wdata),
    .re(tb_acc_re), .raddr(tb_acc_raddr), .rdata(tb_acc_rdata));

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cnt_mac  <= '0;
      cnt_cmpl <= '0;
      cnt_busy <= '0;
    end else begin
      if (mac_active) cnt_mac <= cnt_mac + 32'd1;
      if (cmpl_valid) cnt_cmpl <= cnt_cmpl + 32'd1;
      if (!idle) cnt_busy <= cnt_busy + 32'd1;
    end
  end

endmodule : nmx_gemm_tb
