// nmx_sram: simple dual-port RAM, one write port and one registered read port.
//
//   write: when `we` is high at a rising edge, mem[waddr] <= wdata.
//   read : when `re` is high at a rising edge, rdata <= mem[raddr]; rdata is valid in the next
//          cycle and holds its value while `re` is low.
//   read-during-write to the same address returns the OLD content (read-first). Users that need
//   the new value must forward it themselves (nmx_gemm_engine does).
//
// Written as a plain unpacked array with a synchronous read so Yosys infers a memory ($mem_v2)
// and maps it to block RAM / SRAM macros. There is no reset: the array content is not cleared
// (in Verilator, --x-initial fast gives zeros).
module nmx_sram #(
  parameter int unsigned WIDTH = 32,
  parameter int unsigned DEPTH = 1024,
  localparam int unsigned AW = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic             we,
  input  logic [AW-1:0]    waddr,
  input  logic [WIDTH-1:0] wdata,
  input  logic             re,
  input  logic [AW-1:0]    raddr,
  output logic [WIDTH-1:0] rdata
);

  logic [WIDTH-1:0] mem [DEPTH];

  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end

  always_ff @(posedge clk) begin
    if (re) rdata <= mem[raddr];
  end

endmodule : nmx_sram
