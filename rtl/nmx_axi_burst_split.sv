// nmx_axi_burst_split: the AXI4 INCR burst rule shared by both DMA engines (LD: nmx_load_engine,
// ST: nmx_store_engine), as one combinational block.
//
// Input: the rest of a request, i.e. its next byte `addr` and the number of bytes left `bytes`
// (>= 1). Output: the next burst of full-width beats,
//
//   burst_addr  = addr rounded down to the bus width (AxADDR)
//   burst_off   = addr - burst_addr, byte offset of the request's next byte in the first beat
//   burst_bytes = request bytes the burst carries: min(bytes, bytes to the next 4 KiB boundary,
//                 AXI_MAX_BEATS * BUS_BYTES - burst_off)
//   burst_len   = beats - 1 (AxLEN), beats = ceil((burst_off + burst_bytes) / BUS_BYTES)
//   burst_last  = the burst ends the request (burst_bytes == bytes)
//
// so no burst crosses a 4 KiB boundary or has more than AXI_MAX_BEATS beats, and a burst only
// ends early at one of those two limits. The caller issues it and continues with
// addr + burst_bytes, bytes - burst_bytes until burst_last. Addresses wrap modulo 2**ADDR_BITS
// (which is also a 4 KiB boundary). BUS_BYTES must be a power of two; BYTES_BITS must hold the
// longest request.
module nmx_axi_burst_split #(
  parameter int unsigned BUS_BYTES  = 16,
  parameter int unsigned ADDR_BITS  = 32,
  parameter int unsigned BYTES_BITS = 16,
  localparam int unsigned LEN_BITS  = nmx_cfg_pkg::AXI_LEN_BITS
) (
  input  logic [ADDR_BITS-1:0]  addr,
  input  logic [BYTES_BITS-1:0] bytes,
  output logic [ADDR_BITS-1:0]  burst_addr,
  output logic [LEN_BITS-1:0]   burst_len,
  output logic [BYTES_BITS-1:0] burst_off,
  output logic [BYTES_BITS-1:0] burst_bytes,
  output logic                  burst_last
);

  localparam int unsigned BUS_LG     = $clog2(BUS_BYTES);
  localparam int unsigned PAGE_BYTES = nmx_cfg_pkg::AXI_4K_BYTES;
  localparam int unsigned MAX_BYTES  = nmx_cfg_pkg::AXI_MAX_BEATS * BUS_BYTES;
  // working width: the byte counts, a whole page and a whole maximal burst (plus the offset)
  localparam int unsigned LIM_BITS   = $clog2(((PAGE_BYTES > MAX_BYTES) ? PAGE_BYTES : MAX_BYTES)
                                              + BUS_BYTES);
  localparam int unsigned W          = (BYTES_BITS > LIM_BITS) ? BYTES_BITS : LIM_BITS;
  localparam logic [ADDR_BITS-1:0] BEAT_MASK = ADDR_BITS'(BUS_BYTES - 1);
  localparam logic [ADDR_BITS-1:0] PAGE_MASK = ADDR_BITS'(PAGE_BYTES - 1);

  logic [W-1:0] off, to_page, to_max, take, last_byte;

  always_comb begin
    off       = W'(addr & BEAT_MASK);
    to_page   = W'(PAGE_BYTES) - W'(addr & PAGE_MASK);
    to_max    = W'(MAX_BYTES) - off;
    take      = W'(bytes);
    if (to_page < take) take = to_page;
    if (to_max < take)  take = to_max;
    last_byte = off + take - W'(1);          // offset of the burst's last byte from burst_addr
  end

  assign burst_addr  = addr & ~BEAT_MASK;
  assign burst_off   = BYTES_BITS'(off);
  assign burst_bytes = BYTES_BITS'(take);
  assign burst_len   = LEN_BITS'(last_byte >> BUS_LG);
  assign burst_last  = (take == W'(bytes));

endmodule : nmx_axi_burst_split
