// nmx_store_engine_sva: the AXI4 write-master rules of the ST engine (AW, W and B channels: valid held,
// payload stable, no 4 KiB crossing, full-width INCR bursts, WLAST on exactly the last beat of each
// burst, outstanding bound, every response consumed), its FIFO room checks, its front-end state and
// the ISA completion rule of STORE (complete only after its write responses).
module nmx_store_engine_sva #(
  parameter int unsigned COLS          = 16,
  parameter int unsigned ACC_DEPTH     = 1024,
  parameter int unsigned VEC_DEPTH     = 512,
  parameter int unsigned AXI_DATA_BITS = 128,
  parameter int unsigned AXI_ADDR_BITS = 32,
  parameter int unsigned AXI_ID_BITS   = 4,
  parameter int unsigned OUTSTANDING   = 16,
  localparam int unsigned STRB_BITS = AXI_DATA_BITS / 8,
  localparam int unsigned ACC_AW    = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned VEC_AW    = (VEC_DEPTH > 1) ? $clog2(VEC_DEPTH) : 1,
  localparam int unsigned ALW       = nmx_cfg_pkg::AXI_LEN_BITS,
  localparam int unsigned ASW       = nmx_cfg_pkg::AXI_SIZE_BITS,
  localparam int unsigned ABW       = nmx_cfg_pkg::AXI_BURST_BITS
) (
  input logic                     clk,
  input logic                     rst_n,
  input logic                     idle,
  input logic                     cmpl_valid,
  input logic [AXI_ID_BITS-1:0]   m_axi_awid,
  input logic [AXI_ADDR_BITS-1:0] m_axi_awaddr,
  input logic [ALW-1:0]           m_axi_awlen,
  input logic [ASW-1:0]           m_axi_awsize,
  input logic [ABW-1:0]           m_axi_awburst,
  input logic                     m_axi_awvalid,
  input logic                     m_axi_awready,
  input logic [AXI_DATA_BITS-1:0] m_axi_wdata,
  input logic [STRB_BITS-1:0]     m_axi_wstrb,
  input logic                     m_axi_wlast,
  input logic                     m_axi_wvalid,
  input logic                     m_axi_wready,
  input logic                     m_axi_bvalid,
  input logic                     m_axi_bready,
  input logic [2:0]               fe_state,
  input logic                     beat_fire,
  input logic                     burst_start,
  input logic                     aw_in_ready,
  input logic                     w_in_ready,
  input logic                     b_in_ready,
  input logic                     b_fire,
  input logic                     b_err,
  input logic                     ret_out_data,
  input logic [nmx_cfg_pkg::INDEX_BITS:0] b_out_bits,   // the B FIFO head {index, store_last}
  input logic                     acc_re,
  input logic [ACC_AW-1:0]        acc_raddr,
  input logic                     vec_re,
  input logic [VEC_AW-1:0]        vec_raddr
);

  `NMX_SVA_INIT

  localparam int unsigned OW = 16;
  localparam int unsigned QD = 64;                     // burst-length queues of the WLAST check
  localparam int unsigned QA = $clog2(QD);
  localparam logic [ASW-1:0] FULL_SIZE = ASW'($clog2(STRB_BITS));
  localparam int unsigned NUM_FE_STATES = 5;           // nmx_store_engine fe_state_e

  `NMX_SVA_RST_SEEN
  logic active_q = 1'b0;
  logic active;
  assign active = rst_n && rst_seen;

  logic aw_hs, w_hs, b_hs;
  assign aw_hs = m_axi_awvalid && m_axi_awready;
  assign w_hs  = m_axi_wvalid && m_axi_wready;
  assign b_hs  = m_axi_bvalid && m_axi_bready;

  logic                     aw_wait_q, w_wait_q;
  logic [AXI_ADDR_BITS-1:0] awaddr_q;
  logic [ALW-1:0]           awlen_q;
  logic [ASW-1:0]           awsize_q;
  logic [ABW-1:0]           awburst_q;
  logic [AXI_ID_BITS-1:0]   awid_q;
  logic [AXI_DATA_BITS-1:0] wdata_q;
  logic [STRB_BITS-1:0]     wstrb_q;
  logic                     wlast_q;
  logic [OW-1:0]            wr_out;      // accepted AW without a B response
  logic [OW-1:0]            n_bursts;    // bursts started (AW + B expectation queued) without a B response
  logic [31:0]              n_store_b, n_store_cmpl;

  // WLAST: each W burst (ended by WLAST) matched in order with its AW (W may run ahead of AW). While every
  // completed W burst has its AW, the open burst's length is known (head of the AW queue, or the AW taken
  // in this cycle): a beat is checked as it is transferred (WLAST on it exactly when it is the last);
  // a W burst that ended before its AW is checked when that AW is taken; > 256 beats fails at once
  logic [QD-1:0][8:0] awq, wq;            // AW lengths without their W burst / W lengths without their AW
  logic [QA:0]        aw_n, w_n;
  logic [QA-1:0]      aw_rd, aw_wr, w_rd, w_wr;
  logic [8:0]         w_beats;            // beats of the open W burst before this one
  logic [8:0]         w_cur, len_open;
  logic               len_known, w_end, aw_now, w_bad, aw_bad, w_too_long;
  always @(*) begin
    w_cur     = w_beats + 9'd1;
    w_end     = w_hs && m_axi_wlast;
    len_known = (w_n == '0) && ((aw_n != '0) || aw_hs);
    len_open  = (aw_n != '0) ? awq[aw_rd] : 9'(m_axi_awlen) + 9'd1;
    aw_now    = (w_n == '0) && (aw_n == '0) && aw_hs && w_end;    // this AW is consumed at once
    w_bad     = w_hs && len_known && (m_axi_wlast ? (w_cur != len_open) : (w_cur >= len_open));
    aw_bad    = aw_hs && (w_n != '0) && (wq[w_rd] != 9'(m_axi_awlen) + 9'd1);
    w_too_long = w_hs && !m_axi_wlast && (w_cur == 9'(nmx_cfg_pkg::AXI_MAX_BEATS));
  end

  always @(posedge clk) begin
    active_q  <= active;
    aw_wait_q <= m_axi_awvalid && !m_axi_awready;
    w_wait_q  <= m_axi_wvalid && !m_axi_wready;
    awaddr_q  <= m_axi_awaddr;
    awlen_q   <= m_axi_awlen;
    awsize_q  <= m_axi_awsize;
    awburst_q <= m_axi_awburst;
    awid_q    <= m_axi_awid;
    wdata_q   <= m_axi_wdata;
    wstrb_q   <= m_axi_wstrb;
    wlast_q   <= m_axi_wlast;
    if (!rst_n) begin
      wr_out       <= '0;
      n_bursts     <= '0;
      n_store_b    <= '0;
      n_store_cmpl <= '0;
      aw_n <= '0; w_n <= '0; aw_rd <= '0; aw_wr <= '0; w_rd <= '0; w_wr <= '0; w_beats <= '0;
    end else begin
      wr_out   <= wr_out + OW'(aw_hs) - OW'(b_hs);
      n_bursts <= n_bursts + OW'(beat_fire && burst_start) - OW'(b_fire);
      if (b_fire && !b_err && b_out_bits[0]) n_store_b <= n_store_b + 1;
      if (cmpl_valid && ret_out_data) n_store_cmpl <= n_store_cmpl + 1;
      if (w_hs) w_beats <= m_axi_wlast ? 9'd0 : w_cur;
      // W side: a completed burst pops its known AW, else waits for it
      if (w_end && (w_n == '0) && (aw_n != '0)) aw_rd <= aw_rd + QA'(1);
      if (w_end && !((w_n == '0) && ((aw_n != '0) || aw_hs))) begin
        wq[w_wr] <= w_cur;
        w_wr     <= w_wr + QA'(1);
      end
      // AW side: matches the oldest waiting W burst, is consumed now, or waits for its W burst
      if (aw_hs && (w_n != '0)) w_rd <= w_rd + QA'(1);
      if (aw_hs && (w_n == '0) && !aw_now) begin
        awq[aw_wr] <= 9'(m_axi_awlen) + 9'd1;
        aw_wr      <= aw_wr + QA'(1);
      end
      aw_n <= aw_n + (QA+1)'(aw_hs && (w_n == '0) && !aw_now) - (QA+1)'(w_end && (w_n == '0) && (aw_n != '0));
      w_n  <= w_n + (QA+1)'(w_end && !((w_n == '0) && ((aw_n != '0) || aw_hs))) - (QA+1)'(aw_hs && (w_n != '0));
    end
  end

  logic [AXI_ADDR_BITS:0] aw_end;
  assign aw_end = (AXI_ADDR_BITS+1)'(m_axi_awaddr[nmx_cfg_pkg::AXI_4K_BITS-1:0]) +
                  (((AXI_ADDR_BITS+1)'(m_axi_awlen) + 1) << m_axi_awsize);

  always @(posedge clk) begin
    if (active) begin
      `NMX_ASSERT(a_axi_aw_4k, !m_axi_awvalid || (aw_end <= (AXI_ADDR_BITS+1)'(nmx_cfg_pkg::AXI_4K_BYTES)))
      `NMX_ASSERT(a_axi_aw_size, !m_axi_awvalid || m_axi_awsize == FULL_SIZE)
      `NMX_ASSERT(a_axi_aw_burst, !m_axi_awvalid || m_axi_awburst == nmx_cfg_pkg::AXI_BURST_INCR)
      `NMX_ASSERT(a_axi_aw_aligned, !m_axi_awvalid || (m_axi_awaddr & AXI_ADDR_BITS'(STRB_BITS - 1)) == '0)
      `NMX_ASSERT(a_axi_wlast, !w_bad && !aw_bad && !w_too_long)
      `NMX_ASSERT(a_axi_wr_outstanding, 32'(n_bursts) <= OUTSTANDING && 32'(wr_out) <= OUTSTANDING)
      `NMX_ASSERT(a_axi_b_ready, (wr_out == '0) || m_axi_bready)
      `NMX_ASSUME(a_axi_b_expected, !m_axi_bvalid || (wr_out != '0))
      `NMX_ASSERT(a_st_idle_drained, !idle || ((wr_out == '0) && !m_axi_awvalid && !m_axi_wvalid))
      `NMX_ASSERT(a_st_fifo_room, !beat_fire || (w_in_ready && (!burst_start || (aw_in_ready && b_in_ready))))
      `NMX_ASSERT(a_st_fe_state_legal, 32'(fe_state) < NUM_FE_STATES)
      `NMX_ASSERT(a_st_store_cmpl_after_b, n_store_cmpl <= n_store_b)
      `NMX_ASSERT(a_st_rd_range, (!acc_re || 32'(acc_raddr) < ACC_DEPTH) && (!vec_re || 32'(vec_raddr) < VEC_DEPTH))
    end
    if (active && active_q) begin
      `NMX_ASSERT(a_axi_aw_hold, !aw_wait_q || m_axi_awvalid)
      `NMX_ASSERT(a_axi_aw_stable, !aw_wait_q || (m_axi_awaddr == awaddr_q && m_axi_awlen == awlen_q &&
                                                  m_axi_awsize == awsize_q && m_axi_awburst == awburst_q &&
                                                  m_axi_awid == awid_q))
      `NMX_ASSERT(a_axi_w_hold, !w_wait_q || m_axi_wvalid)
      `NMX_ASSERT(a_axi_w_stable, !w_wait_q || (m_axi_wdata == wdata_q && m_axi_wstrb == wstrb_q &&
                                                m_axi_wlast == wlast_q))
    end
  end

endmodule : nmx_store_engine_sva

`ifndef FORMAL
bind nmx_store_engine nmx_store_engine_sva #(
  .COLS(COLS), .ACC_DEPTH(ACC_DEPTH), .VEC_DEPTH(VEC_DEPTH), .AXI_DATA_BITS(AXI_DATA_BITS),
  .AXI_ADDR_BITS(AXI_ADDR_BITS), .AXI_ID_BITS(AXI_ID_BITS), .OUTSTANDING(OUTSTANDING)
) u_store_engine_sva (.*, .b_out_bits(b_out));
`endif
