// Formal wrapper of nmx_dispatcher (tb/formal): the dispatcher with its queues and their checkers at a
// small configuration (depths that are not powers of two, so every range check has a failing side);
// the instruction word, the handshakes and halt free; reset in the first cycle.
module nmx_dispatcher_formal #(
  parameter int unsigned ROWS        = 4,
  parameter int unsigned COLS        = 4,
  parameter int unsigned INP_DEPTH   = 12,
  parameter int unsigned WGT_DEPTH   = 10,
  parameter int unsigned ACC_DEPTH   = 6,
  parameter int unsigned VEC_DEPTH   = 14,
  parameter int unsigned QUEUE_DEPTH = 2,
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic                  insn_valid,
  output logic                  insn_ready,
  input  logic [IB-1:0]         insn_data,
  input  logic                  halt,
  output logic [NQ-1:0]         q_valid,
  input  logic [NQ-1:0]         q_pop,
  output logic [NQ-1:0][IB-1:0] q_insn,
  output logic [NQ-1:0][XB-1:0] q_index,
  output logic                  accept,
  output logic                  dispatched,
  output logic                  finish_seen,
  output logic                  stall,
  output logic                  stuck,
  output logic                  queues_empty,
  output logic                  err_valid,
  output logic [EB-1:0]         err_code,
  output logic [XB-1:0]         err_index
);
  logic init = 1'b1;
  always @(posedge clk) init <= 1'b0;
  always @(*) if (init) assume (!rst_n);

  nmx_dispatcher #(
    .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH),
    .VEC_DEPTH(VEC_DEPTH), .QUEUE_DEPTH(QUEUE_DEPTH)
  ) dut (.*);
endmodule
