// nmx_load_engine_sva: the AXI4 read-master rules of the LD engine (AR and R channels), its
// outstanding-burst bound, its issue-path states and buffer write ranges, and the ISA completion rule
// "an engine is idle only when every transaction it started has completed on the bus".
module nmx_load_engine_sva #(
  parameter int unsigned INP_DEPTH      = 4096,
  parameter int unsigned WGT_DEPTH      = 4096,
  parameter int unsigned VEC_DEPTH      = 512,
  parameter int unsigned ACC_DEPTH      = 1024,
  parameter int unsigned AXI_DATA_BITS  = 128,
  parameter int unsigned AXI_ADDR_BITS  = 32,
  parameter int unsigned AXI_ID_BITS    = 4,
  parameter int unsigned RD_OUTSTANDING = 32,
  localparam int unsigned BB     = AXI_DATA_BITS / 8,
  localparam int unsigned INP_AW = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1,
  localparam int unsigned WGT_AW = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1,
  localparam int unsigned VEC_AW = (VEC_DEPTH > 1) ? $clog2(VEC_DEPTH) : 1,
  localparam int unsigned ROW_AW = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned ALW    = nmx_cfg_pkg::AXI_LEN_BITS,
  localparam int unsigned ASW    = nmx_cfg_pkg::AXI_SIZE_BITS,
  localparam int unsigned ABW    = nmx_cfg_pkg::AXI_BURST_BITS
) (
  input logic                     clk,
  input logic                     rst_n,
  input logic                     idle,
  input logic [AXI_ID_BITS-1:0]   m_axi_arid,
  input logic [AXI_ADDR_BITS-1:0] m_axi_araddr,
  input logic [ALW-1:0]           m_axi_arlen,
  input logic [ASW-1:0]           m_axi_arsize,
  input logic [ABW-1:0]           m_axi_arburst,
  input logic                     m_axi_arvalid,
  input logic                     m_axi_arready,
  input logic                     m_axi_rlast,
  input logic                     m_axi_rvalid,
  input logic                     m_axi_rready,
  input logic                     issue,
  input logic                     meta_in_ready,
  input logic                     act,
  input logic                     a_gather,
  input logic                     a_gidx,
  input logic                     a_gwait,
  input logic                     inp_we,
  input logic [INP_AW-1:0]        inp_waddr,
  input logic                     wgt_we,
  input logic [WGT_AW-1:0]        wgt_waddr,
  input logic                     vec_we,
  input logic [VEC_AW-1:0]        vec_waddr,
  input logic                     row_we,
  input logic [ROW_AW-1:0]        row_waddr
);

  `NMX_SVA_INIT

  localparam int unsigned OW = 16;   // outstanding-burst counter
  localparam logic [ASW-1:0] FULL_SIZE = ASW'($clog2(BB));

  `NMX_SVA_RST_SEEN
  logic active_q = 1'b0;
  logic active;
  assign active = rst_n && rst_seen;

  logic                     ar_wait_q;    // AR valid and not taken in the previous cycle
  logic [AXI_ADDR_BITS-1:0] araddr_q;
  logic [ALW-1:0]           arlen_q;
  logic [ASW-1:0]           arsize_q;
  logic [ABW-1:0]           arburst_q;
  logic [AXI_ID_BITS-1:0]   arid_q;
  logic [OW-1:0]            rd_out;       // accepted read bursts whose last beat has not arrived

  logic ar_hs, r_last_hs;
  assign ar_hs     = m_axi_arvalid && m_axi_arready;
  assign r_last_hs = m_axi_rvalid && m_axi_rready && m_axi_rlast;

  always @(posedge clk) begin
    active_q  <= active;
    ar_wait_q <= m_axi_arvalid && !m_axi_arready;
    araddr_q  <= m_axi_araddr;
    arlen_q   <= m_axi_arlen;
    arsize_q  <= m_axi_arsize;
    arburst_q <= m_axi_arburst;
    arid_q    <= m_axi_arid;
    if (!rst_n) rd_out <= '0;
    else        rd_out <= rd_out + OW'(ar_hs) - OW'(r_last_hs);
  end

  logic [AXI_ADDR_BITS:0] ar_end;   // page offset of the byte after the burst
  assign ar_end = (AXI_ADDR_BITS+1)'(m_axi_araddr[nmx_cfg_pkg::AXI_4K_BITS-1:0]) +
                  (((AXI_ADDR_BITS+1)'(m_axi_arlen) + 1) << m_axi_arsize);

  always @(posedge clk) begin
    if (active) begin
      `NMX_ASSERT(a_axi_ar_4k, !m_axi_arvalid || (ar_end <= (AXI_ADDR_BITS+1)'(nmx_cfg_pkg::AXI_4K_BYTES)))
      `NMX_ASSERT(a_axi_ar_size, !m_axi_arvalid || m_axi_arsize == FULL_SIZE)
      `NMX_ASSERT(a_axi_ar_burst, !m_axi_arvalid || m_axi_arburst == nmx_cfg_pkg::AXI_BURST_INCR)
      `NMX_ASSERT(a_axi_ar_aligned, !m_axi_arvalid || (m_axi_araddr & AXI_ADDR_BITS'(BB - 1)) == '0)
      `NMX_ASSERT(a_axi_rd_outstanding, 32'(rd_out) <= RD_OUTSTANDING)
      // every read response is consumed: R is ready whenever a burst is outstanding
      `NMX_ASSERT(a_axi_r_ready, (rd_out == '0) || m_axi_rready)
      // the slave answers only bursts it accepted (an obligation of the memory, checked here)
      `NMX_ASSUME(a_axi_r_expected, !m_axi_rvalid || (rd_out != '0))
      `NMX_ASSERT(a_ld_idle_drained, !idle || ((rd_out == '0) && !m_axi_arvalid))
      `NMX_ASSERT(a_ld_meta_no_overflow, !issue || meta_in_ready)
      `NMX_ASSERT(a_ld_state_legal, !act || (!(a_gidx && a_gwait) && (!(a_gidx || a_gwait) || a_gather)))
      `NMX_ASSERT(a_ld_wr_range, (!inp_we || 32'(inp_waddr) < INP_DEPTH) && (!wgt_we || 32'(wgt_waddr) < WGT_DEPTH) &&
                                 (!vec_we || 32'(vec_waddr) < VEC_DEPTH) && (!row_we || 32'(row_waddr) < ACC_DEPTH))
      `NMX_ASSERT(a_ld_one_write, 3'(inp_we) + 3'(wgt_we) + 3'(vec_we) + 3'(row_we) <= 3'd1)
    end
    if (active && active_q) begin
      // AXI: a valid AR stays valid, with the same payload, until it is taken
      `NMX_ASSERT(a_axi_ar_hold, !ar_wait_q || m_axi_arvalid)
      `NMX_ASSERT(a_axi_ar_stable, !ar_wait_q || (m_axi_araddr == araddr_q && m_axi_arlen == arlen_q &&
                                                  m_axi_arsize == arsize_q && m_axi_arburst == arburst_q &&
                                                  m_axi_arid == arid_q))
    end
  end

endmodule : nmx_load_engine_sva

`ifndef FORMAL
bind nmx_load_engine nmx_load_engine_sva #(
  .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .VEC_DEPTH(VEC_DEPTH), .ACC_DEPTH(ACC_DEPTH),
  .AXI_DATA_BITS(AXI_DATA_BITS), .AXI_ADDR_BITS(AXI_ADDR_BITS), .AXI_ID_BITS(AXI_ID_BITS),
  .RD_OUTSTANDING(RD_OUTSTANDING)
) u_load_engine_sva (.*);
`endif
