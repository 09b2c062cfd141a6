// nmx_axi_burst_split_sva: rules of nmx_axi_burst_split, the AXI4 INCR burst rule of both DMA engines
// (combinational: checked whenever the request changes, for every request with bytes >= 1).
module nmx_axi_burst_split_sva #(
  parameter int unsigned BUS_BYTES  = 16,
  parameter int unsigned ADDR_BITS  = 32,
  parameter int unsigned BYTES_BITS = 16,
  localparam int unsigned LEN_BITS  = nmx_cfg_pkg::AXI_LEN_BITS
) (
  input logic [ADDR_BITS-1:0]  addr,
  input logic [BYTES_BITS-1:0] bytes,
  input logic [ADDR_BITS-1:0]  burst_addr,
  input logic [LEN_BITS-1:0]   burst_len,
  input logic [BYTES_BITS-1:0] burst_off,
  input logic [BYTES_BITS-1:0] burst_bytes,
  input logic                  burst_last
);

  `NMX_SVA_INIT

  localparam int unsigned PAGE  = nmx_cfg_pkg::AXI_4K_BYTES;
  localparam int unsigned PB    = nmx_cfg_pkg::AXI_4K_BITS;
  localparam int unsigned MAXB  = nmx_cfg_pkg::AXI_MAX_BEATS;
  localparam int unsigned W     = BYTES_BITS + LEN_BITS + 16;   // no overflow below
  localparam logic [ADDR_BITS-1:0] BMASK = ADDR_BITS'(BUS_BYTES - 1);

  logic [W-1:0] beats, span, page_off, end_off;
  logic [ADDR_BITS-1:0] next_addr;
  always @(*) begin
    beats     = W'(burst_len) + W'(1);
    span      = W'(burst_off) + W'(burst_bytes);                 // bytes from burst_addr to the end
    page_off  = W'(burst_addr[PB-1:0]);
    end_off   = page_off + beats * W'(BUS_BYTES);                // <= PAGE: inside one 4 KiB page
    next_addr = addr + ADDR_BITS'(burst_bytes);
  end

  always @(*) begin
    if (bytes != '0) begin
      `NMX_ASSERT(a_split_aligned, (burst_addr == (addr & ~BMASK)) && (ADDR_BITS'(burst_off) == (addr & BMASK)))
      `NMX_ASSERT(a_split_progress, (burst_bytes != '0) && (burst_bytes <= bytes))
      `NMX_ASSERT(a_split_no_4k, end_off <= W'(PAGE))
      // exactly the beats the payload needs: (beats-1)*BUS < off + bytes <= beats*BUS, beats <= 256
      `NMX_ASSERT(a_split_len_legal, (beats <= W'(MAXB)) && (span <= beats * W'(BUS_BYTES)) &&
                                     (span > (beats - W'(1)) * W'(BUS_BYTES)))
      `NMX_ASSERT(a_split_last, burst_last == (burst_bytes == bytes))
      // a request is cut only at a 4 KiB boundary or at 256 beats
      `NMX_ASSERT(a_split_maximal, burst_last || (next_addr[PB-1:0] == '0) || (span == W'(MAXB * BUS_BYTES)))
    end
  end

endmodule : nmx_axi_burst_split_sva

`ifndef FORMAL
bind nmx_axi_burst_split nmx_axi_burst_split_sva #(
  .BUS_BYTES(BUS_BYTES), .ADDR_BITS(ADDR_BITS), .BYTES_BITS(BYTES_BITS)
) u_axi_burst_split_sva (.*);
`endif
