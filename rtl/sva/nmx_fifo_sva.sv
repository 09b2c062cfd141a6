// nmx_fifo_sva: rules of nmx_fifo (bound into every instance: the dispatcher's queues, the token unit's
// in-flight FIFOs, the LD engine's burst metadata, the ST engine's AW/W/B/retire FIFOs).
// docs/verification.md lists every rule with its testplan entry and the test that makes it fire.
module nmx_fifo_sva #(
  parameter int unsigned WIDTH = 32,
  parameter int unsigned DEPTH = 8,
  localparam int unsigned PW = (DEPTH > 1) ? $clog2(DEPTH) : 1,
  localparam int unsigned CW = $clog2(DEPTH + 1)
) (
  input logic          clk,
  input logic          rst_n,
  input logic          in_valid,
  input logic          in_ready,
  input logic          out_valid,
  input logic          out_ready,
  input logic          push,
  input logic          pop,
  input logic [PW-1:0] wr_ptr,
  input logic [PW-1:0] rd_ptr,
  input logic [CW-1:0] count
);

  `NMX_SVA_INIT

  `NMX_SVA_RST_SEEN
  logic          active_q = 1'b0;
  logic          push_q, pop_q;
  logic [CW-1:0] count_q;
  logic          active;
  assign active = rst_n && rst_seen;

  always @(posedge clk) begin
    active_q <= active;
    push_q   <= push;
    pop_q    <= pop;
    count_q  <= count;
  end

  // pointer + count modulo DEPTH, in a width that cannot overflow
  logic [CW+PW:0] rd_plus_count;
  assign rd_plus_count = (CW+PW+1)'(rd_ptr) + (CW+PW+1)'(count);

  always @(posedge clk) begin
    if (active) begin
      `NMX_ASSERT(a_fifo_count_range, 32'(count) <= DEPTH)
      `NMX_ASSERT(a_fifo_no_overflow, !push || (32'(count) < DEPTH))
      `NMX_ASSERT(a_fifo_no_underflow, !pop || (count != '0))
      `NMX_ASSERT(a_fifo_flags, (in_ready == (32'(count) != DEPTH)) && (out_valid == (count != '0)))
      `NMX_ASSERT(a_fifo_handshake, (push == (in_valid && in_ready)) && (pop == (out_valid && out_ready)))
      `NMX_ASSERT(a_fifo_ptr_range, (32'(wr_ptr) < DEPTH) && (32'(rd_ptr) < DEPTH))
      `NMX_ASSERT(a_fifo_ptr_count, 32'(rd_plus_count) % DEPTH == 32'(wr_ptr))
    end
    if (active && active_q) begin
      `NMX_ASSERT(a_fifo_count_step, count == count_q + CW'(push_q) - CW'(pop_q))
    end
  end

endmodule : nmx_fifo_sva

`ifndef FORMAL
bind nmx_fifo nmx_fifo_sva #(.WIDTH(WIDTH), .DEPTH(DEPTH)) u_fifo_sva (.*);
`endif
