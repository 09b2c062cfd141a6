// nmx_top_sva: rules at the accelerator's boundary - the instruction-stream handshake (the source's
// obligation, NMX_ASSUME), the ISA's completion rules (docs/isa.md sections 2 and 5: done and error
// sticky, done only once FINISH is checked, every FIFO empty and every engine idle, or after an error
// once every engine has drained; nothing accepted after FINISH or an error; counters frozen) and the
// AXI4 rule that no transaction is left outstanding when done rises; the state a reset leaves (every
// engine idle, done/error low, counters zero: whatever the registers held before, so random initial
// values - tb.run's random_init - make a dropped reset visible); and the counters the scoreboard
// cannot judge exactly (tb/env/counters.py: CYCLES is an estimate, the stall counters are only
// reported) advancing by exactly their event in every cycle before done.
module nmx_top_sva #(
  parameter int unsigned AXI_DATA_BITS = 128,
  parameter int unsigned AXI_ID_BITS   = 4,
  localparam int unsigned IB  = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB  = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned EB  = nmx_isa_pkg::ERROR_BITS,
  localparam int unsigned CB  = nmx_cfg_pkg::CNT_BITS,
  localparam int unsigned NQ  = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned NCNT = nmx_isa_pkg::NUM_COUNTERS
) (
  input logic                     clk,
  input logic                     rst_n,
  input logic                     insn_valid,
  input logic                     insn_ready,
  input logic [IB-1:0]            insn_data,
  input logic                     m_axi_awvalid,
  input logic                     m_axi_awready,
  input logic                     m_axi_wvalid,
  input logic                     m_axi_bvalid,
  input logic                     m_axi_bready,
  input logic                     m_axi_arvalid,
  input logic                     m_axi_arready,
  input logic                     m_axi_rvalid,
  input logic                     m_axi_rready,
  input logic                     m_axi_rlast,
  input logic                     done,
  input logic                     error,
  input logic [EB-1:0]            error_code,
  input logic [XB-1:0]            error_index,
  input logic                     err_flag,
  input logic                     init_busy,
  input logic                     d_finish,
  input logic                     d_empty,
  input logic                     t_quiescent,
  input logic [NQ-1:0]            eng_idle,
  input logic [NCNT-1:0][CB-1:0]  cnt,
  // the events of the one-bit counters (nmx_top's counter table, restated here from its sources)
  input logic                     started,
  input logic                     d_accept,
  input logic                     d_stall,
  input logic                     ld_stall_mem,
  input logic                     st_stall_mem,
  input logic [NQ-1:0]            stall_token
);

  `NMX_SVA_INIT

  `NMX_SVA_RST_SEEN
  logic active_q = 1'b0;
  logic active;
  assign active = rst_n && rst_seen;

  logic                    stream_wait_q, done_q, error_q;
  logic [IB-1:0]           insn_q;
  logic [EB-1:0]           code_q;
  logic [XB-1:0]           index_q;
  logic [NCNT-1:0][CB-1:0] cnt_q;
  logic [15:0]             rd_out, wr_out;
  logic                    withdrawn;     // an offer was dropped before it was taken (no reset since)
  logic                    rst_q;         // the previous cycle was a reset cycle
  logic [NCNT-1:0]         ev, ev_q;      // one-bit counter events (0 for the counters judged elsewhere)

  always_comb begin
    ev = '0;
    ev[nmx_isa_pkg::CNT_CYCLES]          = started || d_accept;
    ev[nmx_isa_pkg::CNT_STALL_LD_TOKEN]  = stall_token[int'(nmx_isa_pkg::Q_LD)];
    ev[nmx_isa_pkg::CNT_STALL_CMP_TOKEN] = stall_token[int'(nmx_isa_pkg::Q_CMP)];
    ev[nmx_isa_pkg::CNT_STALL_ST_TOKEN]  = stall_token[int'(nmx_isa_pkg::Q_ST)];
    ev[nmx_isa_pkg::CNT_STALL_LD_MEM]    = ld_stall_mem;
    ev[nmx_isa_pkg::CNT_STALL_ST_MEM]    = st_stall_mem;
    ev[nmx_isa_pkg::CNT_STALL_DISPATCH]  = d_stall;
  end

  // the counters stepped by ev (the others are checked exactly by the scoreboard)
  localparam logic [NCNT-1:0] EV_CNT = NCNT'((1 << nmx_isa_pkg::CNT_CYCLES) |
      (1 << nmx_isa_pkg::CNT_STALL_LD_TOKEN) | (1 << nmx_isa_pkg::CNT_STALL_CMP_TOKEN) |
      (1 << nmx_isa_pkg::CNT_STALL_ST_TOKEN) | (1 << nmx_isa_pkg::CNT_STALL_LD_MEM) |
      (1 << nmx_isa_pkg::CNT_STALL_ST_MEM) | (1 << nmx_isa_pkg::CNT_STALL_DISPATCH));

  always @(posedge clk) begin
    active_q      <= active;
    stream_wait_q <= insn_valid && !insn_ready && !done;
    insn_q        <= insn_data;
    done_q        <= done;
    error_q       <= error;
    code_q        <= error_code;
    index_q       <= error_index;
    cnt_q         <= cnt;
    ev_q          <= ev;
    rst_q         <= !rst_n;
    if (!rst_n) begin
      rd_out    <= '0;
      wr_out    <= '0;
      withdrawn <= 1'b0;
    end else begin
      if (active_q && stream_wait_q && !done && !insn_valid) withdrawn <= 1'b1;
      rd_out <= rd_out + 16'(m_axi_arvalid && m_axi_arready) - 16'(m_axi_rvalid && m_axi_rready && m_axi_rlast);
      wr_out <= wr_out + 16'(m_axi_awvalid && m_axi_awready) - 16'(m_axi_bvalid && m_axi_bready);
    end
  end

  always @(posedge clk) begin
    // a reset cycle leaves the reset state, also while the reset is still held
    if (rst_seen && rst_q) begin
      `NMX_ASSERT(a_reset_state, eng_idle == '1 && !done && !error && !err_flag && cnt == '0)
    end
    if (active && active_q && !done_q) begin
      for (int i = 0; i < int'(NCNT); i++) begin
        if (EV_CNT[i]) `NMX_ASSERT_LOOP(a_cnt_event_step, cnt[i] == cnt_q[i] + CB'(ev_q[i]))
      end
    end
    if (active) begin
      `NMX_ASSERT(a_isa_no_accept_after_done, !done || !insn_ready)
      `NMX_ASSERT(a_isa_no_accept_after_error, !err_flag || !insn_ready)
      `NMX_ASSERT(a_isa_no_accept_in_init, !init_busy || !insn_ready)
      `NMX_ASSERT(a_isa_done_rule, !done || (eng_idle == '1) && (error || (d_finish && d_empty && t_quiescent)))
      `NMX_ASSERT(a_isa_error_code, !error || (error_code != '0 && 32'(error_code) <= 7))
      `NMX_ASSERT(a_isa_done_drained, !done || (rd_out == '0 && wr_out == '0 && !m_axi_arvalid &&
                                               !m_axi_awvalid && !m_axi_wvalid))
    end
    if (active && active_q) begin
      // the instruction source holds an offered word, unchanged, until it is taken (or done rises); it
      // may abandon an offer only by resetting the accelerator (the testbench's watchdog does so with a
      // hung run), so a withdrawal is reported when the source offers again without that reset
      `NMX_ASSUME(a_insn_valid_held, !(withdrawn && insn_valid))
      `NMX_ASSUME(a_insn_data_stable, !stream_wait_q || done || !insn_valid || insn_data == insn_q)
      `NMX_ASSERT(a_isa_done_sticky, !done_q || (done && error == error_q && error_code == code_q &&
                                                 error_index == index_q))
      `NMX_ASSERT(a_isa_counters_frozen, !done_q || cnt == cnt_q)
    end
  end

endmodule : nmx_top_sva

`ifndef FORMAL
bind nmx_top nmx_top_sva #(.AXI_DATA_BITS(AXI_DATA_BITS), .AXI_ID_BITS(AXI_ID_BITS)) u_top_sva (.*);
`endif
