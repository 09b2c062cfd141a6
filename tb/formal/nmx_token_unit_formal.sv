// Formal wrapper of nmx_token_unit (tb/formal): the token unit, its three in-flight FIFOs, their
// checkers; heads, engine handshakes and completions free except for the neighbours' obligations
// (NMX_ASSUME rules of rtl/sva/nmx_token_unit_sva.sv); reset in the first cycle.
module nmx_token_unit_formal #(
  parameter int unsigned TOKEN_BITS     = 2,
  parameter int unsigned INFLIGHT_DEPTH = 2,
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic                  halt,
  input  logic [NQ-1:0]         q_valid,
  output logic [NQ-1:0]         q_pop,
  input  logic [NQ-1:0][IB-1:0] q_insn,
  input  logic [NQ-1:0][XB-1:0] q_index,
  input  logic                  disp_stuck,
  output logic [NQ-1:0]         cmd_valid,
  input  logic [NQ-1:0]         cmd_ready,
  output logic [NQ-1:0][IB-1:0] cmd_insn,
  output logic [NQ-1:0][XB-1:0] cmd_index,
  input  logic [NQ-1:0]         cmpl_valid,
  input  logic [NQ-1:0]         eng_idle,
  output logic [NQ-1:0]         stall_token,
  output logic                  quiescent,
  output logic                  err_valid,
  output logic [EB-1:0]         err_code,
  output logic [XB-1:0]         err_index
);
  logic init = 1'b1;
  always @(posedge clk) init <= 1'b0;
  always @(*) if (init) assume (!rst_n);

  nmx_token_unit #(.TOKEN_BITS(TOKEN_BITS), .INFLIGHT_DEPTH(INFLIGHT_DEPTH)) dut (.*);
endmodule
