// Block-test wrapper of nmx_axi_burst_split (simulation only, not part of the RTL): one splitter
// per beat size BUS_BYTES = 2**i, i < NUM_SIZES (1 .. 128 bytes, every AXI data width), all fed
// the same request, so one Verilator build checks every bus width. Output i is element i of each
// packed output array.
module nmx_axi_burst_split_tb #(
  parameter int unsigned ADDR_BITS  = 32,
  parameter int unsigned BYTES_BITS = 16,
  parameter int unsigned NUM_SIZES  = 8,
  localparam int unsigned LEN_BITS  = nmx_cfg_pkg::AXI_LEN_BITS
) (
  input  logic [ADDR_BITS-1:0]                 addr,
  input  logic [BYTES_BITS-1:0]                bytes,
  output logic [NUM_SIZES-1:0][ADDR_BITS-1:0]  burst_addr,
  output logic [NUM_SIZES-1:0][LEN_BITS-1:0]   burst_len,
  output logic [NUM_SIZES-1:0][BYTES_BITS-1:0] burst_off,
  output logic [NUM_SIZES-1:0][BYTES_BITS-1:0] burst_bytes,
  output logic [NUM_SIZES-1:0]                 burst_last
);

  for (genvar i = 0; i < int'(NUM_SIZES); i++) begin : g_size
    nmx_axi_burst_split #(
      .BUS_BYTES  (1 << i),
      .ADDR_BITS  (ADDR_BITS),
      .BYTES_BITS (BYTES_BITS)
    ) u_split (
      .addr        (addr),
      .bytes       (bytes),
      .burst_addr  (burst_addr[i]),
      .burst_len   (burst_len[i]),
      .burst_off   (burst_off[i]),
      .burst_bytes (burst_bytes[i]),
      .burst_last  (burst_last[i])
    );
  end

endmodule : nmx_axi_burst_split_tb
