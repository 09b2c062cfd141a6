// nmx_gemm_engine_sva: rules of the CMP engine's weight banks and its buffer ports (a bank is reloaded
// only when free and drained, the stream reads only a loaded bank, every SRAM access in range, no
// access while idle, no error ever: the dispatcher's static checks make every GEMM legal).
module nmx_gemm_engine_sva #(
  parameter int unsigned ROWS      = 16,
  parameter int unsigned COLS      = 16,
  parameter int unsigned INP_DEPTH = 4096,
  parameter int unsigned WGT_DEPTH = 4096,
  parameter int unsigned ACC_DEPTH = 1024,
  localparam int unsigned INP_AW   = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1,
  localparam int unsigned WGT_AW   = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1,
  localparam int unsigned ACC_AW   = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned DRAIN    = (ROWS + COLS > 3) ? ROWS + COLS - 3 : 0,
  localparam int unsigned DRAIN_W  = (DRAIN > 0) ? $clog2(DRAIN + 1) : 1
) (
  input logic                 clk,
  input logic                 rst_n,
  input logic                 idle,
  input logic                 err_valid,
  input logic                 inp_re,
  input logic [INP_AW-1:0]    inp_raddr,
  input logic                 wgt_re,
  input logic [WGT_AW-1:0]    wgt_raddr,
  input logic                 acc_re,
  input logic [ACC_AW-1:0]    acc_raddr,
  input logic                 acc_we,
  input logic [ACC_AW-1:0]    acc_waddr,
  input logic [1:0]           bank_loaded,
  input logic [2*DRAIN_W-1:0] drain_cnt,
  input logic                 pl_go,
  input logic                 pl_started,
  input logic                 pl_bank,
  input logic                 wl_en,
  input logic                 su_issue,
  input logic                 su_bank
);

  `NMX_SVA_INIT

  `NMX_SVA_RST_SEEN
  logic active;
  assign active = rst_n && rst_seen;

  logic [DRAIN_W-1:0] pl_drain;
  assign pl_drain = pl_bank ? drain_cnt[DRAIN_W +: DRAIN_W] : drain_cnt[0 +: DRAIN_W];

  always @(posedge clk) begin
    if (active) begin
      // a weight tile is shifted only into a bank that holds no loaded tile
      `NMX_ASSERT(a_gemm_wl_bank_free, !wl_en || !bank_loaded[pl_bank])
      // a reload starts only once the bank's last rows have left the array
      `NMX_ASSERT(a_gemm_reload_drained, !(pl_go && !pl_started) || (pl_drain == '0 && !bank_loaded[pl_bank]))
      `NMX_ASSERT(a_gemm_stream_loaded, !su_issue || bank_loaded[su_bank])
      `NMX_ASSERT(a_gemm_sram_range, (!inp_re || 32'(inp_raddr) < INP_DEPTH) && (!wgt_re || 32'(wgt_raddr) < WGT_DEPTH) &&
                                     (!acc_re || 32'(acc_raddr) < ACC_DEPTH) && (!acc_we || 32'(acc_waddr) < ACC_DEPTH))
      `NMX_ASSERT(a_gemm_idle_quiet, !idle || !(inp_re || wgt_re || acc_re || acc_we))
      `NMX_ASSERT(a_gemm_no_error, !err_valid)
    end
  end

endmodule : nmx_gemm_engine_sva

`ifndef FORMAL
bind nmx_gemm_engine nmx_gemm_engine_sva #(
  .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH)
) u_gemm_engine_sva (.*);
`endif
