// Formal wrapper of nmx_fifo (tb/formal, `make formal`): the FIFO with its checker (rtl/sva/nmx_fifo_sva.sv,
// inserted by the runner in place of its `bind`), every input free, reset in the first cycle.
module nmx_fifo_formal #(
  parameter int unsigned WIDTH = 4,
  parameter int unsigned DEPTH = 3,
  localparam int unsigned CW = $clog2(DEPTH + 1)
) (
  input  logic             clk,
  input  logic             rst_n,
  input  logic             in_valid,
  output logic             in_ready,
  input  logic [WIDTH-1:0] in_data,
  output logic             out_valid,
  input  logic             out_ready,
  output logic [WIDTH-1:0] out_data,
  output logic [CW-1:0]    count
);
  logic init = 1'b1;
  always @(posedge clk) init <= 1'b0;
  always @(*) if (init) assume (!rst_n);

  nmx_fifo #(.WIDTH(WIDTH), .DEPTH(DEPTH)) dut (.*);
endmodule
