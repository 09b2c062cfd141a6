// nmx_top: the NMX accelerator (docs/architecture.md). Integrates the dispatcher, the token
// unit, the three engines (LD: nmx_load_engine, CMP: nmx_gemm_engine, ST: nmx_store_engine),
// the on-chip buffers (INP, WGT, VEC, ROW, and ACC as two nmx_sram copies sharing the gemm
// engine's write port), the sticky error register and the performance counters.
//
//   * error: the first error wins (several in one cycle: the smallest instruction index). It
//     halts everything (halt to every engine, the dispatcher and the token unit); done and error
//     rise once every engine is idle again (outstanding AXI transactions completed).
//   * done: FINISH accepted and all queues empty, no staged or in-flight command, every engine
//     idle; or an error after the drain. Sticky until reset.
//   * counters (docs/isa.md section 6): 64-bit, cleared by reset, frozen once done is high;
//     cnt_value = counter cnt_sel (combinational), 0 for unused selects.
module nmx_top #(
  parameter int unsigned ROWS          = 16,
  parameter int unsigned COLS          = 16,
  parameter int unsigned INP_DEPTH     = 4096,
  parameter int unsigned WGT_DEPTH     = 4096,
  parameter int unsigned ACC_DEPTH     = 1024,
  parameter int unsigned VEC_DEPTH     = 512,
  parameter int unsigned QUEUE_DEPTH   = 8,
  parameter int unsigned TOKEN_BITS    = 16,
  parameter int unsigned AXI_DATA_BITS = 128,
  parameter int unsigned AXI_ADDR_BITS = 32,
  parameter int unsigned AXI_ID_BITS   = 4,
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS,
  localparam int unsigned CB = nmx_cfg_pkg::CNT_BITS,
  localparam int unsigned SB = nmx_isa_pkg::COUNTER_BITS,
  localparam int unsigned STRB_BITS = AXI_DATA_BITS / 8,
  localparam int unsigned ALW = nmx_cfg_pkg::AXI_LEN_BITS,
  localparam int unsigned ASW = nmx_cfg_pkg::AXI_SIZE_BITS,
  localparam int unsigned ABW = nmx_cfg_pkg::AXI_BURST_BITS,
  localparam int unsigned ARW = nmx_cfg_pkg::AXI_RESP_BITS
) (
  input  logic                     clk,
  input  logic                     rst_n,
  // instruction stream
  input  logic                     insn_valid,
  output logic                     insn_ready,
  input  logic [IB-1:0]            insn_data,
  // AXI4 master: write address
  output logic [AXI_ID_BITS-1:0]   m_axi_awid,
  output logic [AXI_ADDR_BITS-1:0] m_axi_awaddr,
  output logic [ALW-1:0]           m_axi_awlen,
  output logic [ASW-1:0]           m_axi_awsize,
  output logic [ABW-1:0]           m_axi_awburst,
  output logic                     m_axi_awvalid,
  input  logic                     m_axi_awready,
  // write data
  output logic [AXI_DATA_BITS-1:0] m_axi_wdata,
  output logic [STRB_BITS-1:0]     m_axi_wstrb,
  output logic                     m_axi_wlast,
  output logic                     m_axi_wvalid,
  input  logic                     m_axi_wready,
  // write response
  input  logic [AXI_ID_BITS-1:0]   m_axi_bid,
  input  logic [ARW-1:0]           m_axi_bresp,
  input  logic                     m_axi_bvalid,
  output logic                     m_axi_bready,
  // read address
  output logic [AXI_ID_BITS-1:0]   m_axi_arid,
  output logic [AXI_ADDR_BITS-1:0] m_axi_araddr,
  output logic [ALW-1:0]           m_axi_arlen,
  output logic [ASW-1:0]           m_axi_arsize,
  output logic [ABW-1:0]           m_axi_arburst,
  output logic                     m_axi_arvalid,
  input  logic                     m_axi_arready,
  // read data
  input  logic [AXI_ID_BITS-1:0]   m_axi_rid,
  input  logic [AXI_DATA_BITS-1:0] m_axi_rdata,
  input  logic [ARW-1:0]           m_axi_rresp,
  input  logic                     m_axi_rlast,
  input  logic                     m_axi_rvalid,
  output logic                     m_axi_rready,
  // status
  output logic                     busy,
  output logic                     done,
  output logic                     error,
  output logic [EB-1:0]            error_code,
  output logic [XB-1:0]            error_index,
  input  logic [SB-1:0]            cnt_sel,
  output logic [CB-1:0]            cnt_value
);

  localparam int unsigned NQ       = nmx_isa_pkg::NUM_QUEUES;
  localparam int unsigned NCNT     = nmx_isa_pkg::NUM_COUNTERS;
  localparam int unsigned QLD      = 32'(nmx_isa_pkg::Q_LD);    // queue_e values as indices
  localparam int unsigned QCMP     = 32'(nmx_isa_pkg::Q_CMP);
  localparam int unsigned QST      = 32'(nmx_isa_pkg::Q_ST);
  localparam int unsigned INP_AW   = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1;
  localparam int unsigned WGT_AW   = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1;
  localparam int unsigned VEC_AW   = (VEC_DEPTH > 1) ? $clog2(VEC_DEPTH) : 1;
  localparam int unsigned ACC_AW   = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1;
  localparam int unsigned INP_W    = ROWS * nmx_isa_pkg::BYTE_ELEM_BITS;
  localparam int unsigned WGT_W    = COLS * nmx_isa_pkg::BYTE_ELEM_BITS;
  localparam int unsigned ACC_W    = COLS * nmx_isa_pkg::WORD_ELEM_BITS;
  localparam int unsigned VEC_W    = COLS * nmx_isa_pkg::WORD_ELEM_BITS;
  localparam int unsigned ROW_W    = nmx_isa_pkg::ROW_LANES * nmx_isa_pkg::WORD_ELEM_BITS;
  localparam int unsigned RDB_W    = $clog2(STRB_BITS) + 1;     // load engine byte strobe
  localparam int unsigned WRB_W    = $clog2(STRB_BITS + 1);     // store engine byte strobe

  logic halt;

  // ---------------------------------------------------------------- buffer clear after reset
  // Buffers read as zero after reset (docs/isa.md section 1): an init sweep writes zero into
  // every row of every buffer (one row per cycle, MAX_DEPTH cycles) before the first instruction
  // is accepted. The engines' write ports are muxed with the sweep.
  localparam int unsigned MAX_D01   = (INP_DEPTH > WGT_DEPTH) ? INP_DEPTH : WGT_DEPTH;
  localparam int unsigned MAX_D23   = (ACC_DEPTH > VEC_DEPTH) ? ACC_DEPTH : VEC_DEPTH;
  localparam int unsigned MAX_DEPTH = (MAX_D01 > MAX_D23) ? MAX_D01 : MAX_D23;
  localparam int unsigned INIT_W    = $clog2(MAX_DEPTH + 1);
  logic              init_busy;
  logic [INIT_W-1:0] init_row;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      init_busy <= 1'b1;
      init_row  <= '0;
    end else if (init_busy) begin
      init_row <= init_row + INIT_W'(1);
      if (init_row == INIT_W'(MAX_DEPTH - 1)) init_busy <= 1'b0;
    end
  end

  // ---------------------------------------------------------------- dispatcher
  logic [NQ-1:0]         q_valid, q_pop;
  logic [NQ-1:0][IB-1:0] q_insn;
  logic [NQ-1:0][XB-1:0] q_index;
  logic                  d_accept, d_dispatched, d_finish, d_stall, d_stuck, d_empty;
  logic                  d_err_valid;
  logic [EB-1:0]         d_err_code;
  logic [XB-1:0]         d_err_index;

  nmx_dispatcher #(
    .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH),
    .VEC_DEPTH(VEC_DEPTH), .QUEUE_DEPTH(QUEUE_DEPTH)
  ) u_dispatcher (
    .clk          (clk),
    .rst_n        (rst_n),
    .insn_valid   (insn_valid),
    .insn_ready   (insn_ready),
    .insn_data    (insn_data),
    .halt         (halt || done || init_busy),
    .q_valid      (q_valid),
    .q_pop        (q_pop),
    .q_insn       (q_insn),
    .q_index      (q_index),
    .accept       (d_accept),
    .dispatched   (d_dispatched),
    .finish_seen  (d_finish),
    .stall        (d_stall),
    .stuck        (d_stuck),
    .queues_empty (d_empty),
    .err_valid    (d_err_valid),
    .err_code     (d_err_code),
    .err_index    (d_err_index)
  );

  // ---------------------------------------------------------------- token unit
  logic [NQ-1:0]         cmd_valid, cmd_ready, cmpl_valid, eng_idle, stall_token;
  logic [NQ-1:0][IB-1:0] cmd_insn;
  logic [NQ-1:0][XB-1:0] cmd_index;
  logic                  t_quiescent, t_err_valid;
  logic [EB-1:0]         t_err_code;
  logic [XB-1:0]         t_err_index;

  nmx_token_unit #(.TOKEN_BITS(TOKEN_BITS)) u_tokens (
    .clk         (clk),
    .rst_n       (rst_n),
    .halt        (halt),
    .q_valid     (q_valid),
    .q_pop       (q_pop),
    .q_insn      (q_insn),
    .q_index     (q_index),
    .disp_stuck  (d_stuck),
    .cmd_valid   (cmd_valid),
    .cmd_ready   (cmd_ready),
    .cmd_insn    (cmd_insn),
    .cmd_index   (cmd_index),
    .cmpl_valid  (cmpl_valid),
    .eng_idle    (eng_idle),
    .stall_token (stall_token),
    .quiescent   (t_quiescent),
    .err_valid   (t_err_valid),
    .err_code    (t_err_code),
    .err_index   (t_err_index)
  );

  // ---------------------------------------------------------------- buffers
  logic              inp_we, inp_re;
  logic [INP_AW-1:0] inp_waddr, inp_raddr;
  logic [INP_W-1:0]  inp_wdata, inp_rdata;
  logic              wgt_we, wgt_re;
  logic [WGT_AW-1:0] wgt_waddr, wgt_raddr;
  logic [WGT_W-1:0]  wgt_wdata, wgt_rdata;
  logic              vec_we, vec_re;
  logic [VEC_AW-1:0] vec_waddr, vec_raddr;
  logic [VEC_W-1:0]  vec_wdata, vec_rdata;
  logic              row_we, row_re;
  logic [ACC_AW-1:0] row_waddr, row_raddr;
  logic [ROW_W-1:0]  row_wdata, row_rdata;
  logic              acc_we, acc_g_re, acc_s_re;
  logic [ACC_AW-1:0] acc_waddr, acc_g_raddr, acc_s_raddr;
  logic [ACC_W-1:0]  acc_wdata, acc_g_rdata, acc_s_rdata;

  // write ports after the init-sweep mux
  logic              inp_we_m, wgt_we_m, vec_we_m, row_we_m, acc_we_m;
  logic [INP_AW-1:0] inp_waddr_m;
  logic [WGT_AW-1:0] wgt_waddr_m;
  logic [VEC_AW-1:0] vec_waddr_m;
  logic [ACC_AW-1:0] row_waddr_m, acc_waddr_m;
  logic [INP_W-1:0]  inp_wdata_m;
  logic [WGT_W-1:0]  wgt_wdata_m;
  logic [VEC_W-1:0]  vec_wdata_m;
  logic [ROW_W-1:0]  row_wdata_m;
  logic [ACC_W-1:0]  acc_wdata_m;

  always_comb begin
    if (init_busy) begin
      inp_we_m    = (32'(init_row) < INP_DEPTH);
      wgt_we_m    = (32'(init_row) < WGT_DEPTH);
      vec_we_m    = (32'(init_row) < VEC_DEPTH);
      row_we_m    = (32'(init_row) < ACC_DEPTH);
      acc_we_m    = (32'(init_row) < ACC_DEPTH);
      inp_waddr_m = INP_AW'(init_row);
      wgt_waddr_m = WGT_AW'(init_row);
      vec_waddr_m = VEC_AW'(init_row);
      row_waddr_m = ACC_AW'(init_row);
      acc_waddr_m = ACC_AW'(init_row);
      inp_wdata_m = '0;
      wgt_wdata_m = '0;
      vec_wdata_m = '0;
      row_wdata_m = '0;
      acc_wdata_m = '0;
    end else begin
      inp_we_m    = inp_we;
      wgt_we_m    = wgt_we;
      vec_we_m    = vec_we;
      row_we_m    = row_we;
      acc_we_m    = acc_we;
      inp_waddr_m = inp_waddr;
      wgt_waddr_m = wgt_waddr;
      vec_waddr_m = vec_waddr;
      row_waddr_m = row_waddr;
      acc_waddr_m = acc_waddr;
      inp_wdata_m = inp_wdata;
      wgt_wdata_m = wgt_wdata;
      vec_wdata_m = vec_wdata;
      row_wdata_m = row_wdata;
      acc_wdata_m = acc_wdata;
    end
  end

  nmx_sram #(.WIDTH(INP_W), .DEPTH(INP_DEPTH)) u_inp (
    .clk(clk), .we(inp_we_m), .waddr(inp_waddr_m), .wdata(inp_wdata_m),
    .re(inp_re), .raddr(inp_raddr), .rdata(inp_rdata));
  nmx_sram #(.WIDTH(WGT_W), .DEPTH(WGT_DEPTH)) u_wgt (
    .clk(clk), .we(wgt_we_m), .waddr(wgt_waddr_m), .wdata(wgt_wdata_m),
    .re(wgt_re), .raddr(wgt_raddr), .rdata(wgt_rdata));
  nmx_sram #(.WIDTH(VEC_W), .DEPTH(VEC_DEPTH)) u_vec (
    .clk(clk), .we(vec_we_m), .waddr(vec_waddr_m), .wdata(vec_wdata_m),
    .re(vec_re), .raddr(vec_raddr), .rdata(vec_rdata));
  nmx_sram #(.WIDTH(ROW_W), .DEPTH(ACC_DEPTH)) u_row (
    .clk(clk), .we(row_we_m), .waddr(row_waddr_m), .wdata(row_wdata_m),
    .re(row_re), .raddr(row_raddr), .rdata(row_rdata));
  // ACC: two copies written together, one read port each (gemm engine, store engine)
  nmx_sram #(.WIDTH(ACC_W), .DEPTH(ACC_DEPTH)) u_acc_gemm (
    .clk(clk), .we(acc_we_m), .waddr(acc_waddr_m), .wdata(acc_wdata_m),
    .re(acc_g_re), .raddr(acc_g_raddr), .rdata(acc_g_rdata));
  nmx_sram #(.WIDTH(ACC_W), .DEPTH(ACC_DEPTH)) u_acc_store (
    .clk(clk), .we(acc_we_m), .waddr(acc_waddr_m), .wdata(acc_wdata_m),
    .re(acc_s_re), .raddr(acc_s_raddr), .rdata(acc_s_rdata));

  // ---------------------------------------------------------------- engines
  logic [NQ-1:0]         e_err_valid;
  logic [NQ-1:0][EB-1:0] e_err_code;
  logic [NQ-1:0][XB-1:0] e_err_index;
  logic                  ld_bytes_valid, st_bytes_valid, ld_stall_mem, st_stall_mem, mac_active;
  logic [RDB_W-1:0]      ld_bytes;
  logic [WRB_W-1:0]      st_bytes;

  nmx_load_engine #(
    .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .VEC_DEPTH(VEC_DEPTH),
    .ACC_DEPTH(ACC_DEPTH), .AXI_DATA_BITS(AXI_DATA_BITS), .AXI_ADDR_BITS(AXI_ADDR_BITS),
    .AXI_ID_BITS(AXI_ID_BITS)
  ) u_load (
    .clk            (clk),
    .rst_n          (rst_n),
    .cmd_valid      (cmd_valid[QLD]),
    .cmd_ready      (cmd_ready[QLD]),
    .cmd_insn       (cmd_insn[QLD]),
    .cmd_index      (cmd_index[QLD]),
    .cmpl_valid     (cmpl_valid[QLD]),
    .err_valid      (e_err_valid[QLD]),
    .err_code       (e_err_code[QLD]),
    .err_index      (e_err_index[QLD]),
    .halt           (halt),
    .idle           (eng_idle[QLD]),
    .m_axi_arid     (m_axi_arid),
    .m_axi_araddr   (m_axi_araddr),
    .m_axi_arlen    (m_axi_arlen),
    .m_axi_arsize   (m_axi_arsize),
    .m_axi_arburst  (m_axi_arburst),
    .m_axi_arvalid  (m_axi_arvalid),
    .m_axi_arready  (m_axi_arready),
    .m_axi_rid      (m_axi_rid),
    .m_axi_rdata    (m_axi_rdata),
    .m_axi_rresp    (m_axi_rresp),
    .m_axi_rlast    (m_axi_rlast),
    .m_axi_rvalid   (m_axi_rvalid),
    .m_axi_rready   (m_axi_rready),
    .inp_we         (inp_we),
    .inp_waddr      (inp_waddr),
    .inp_wdata      (inp_wdata),
    .wgt_we         (wgt_we),
    .wgt_waddr      (wgt_waddr),
    .wgt_wdata      (wgt_wdata),
    .vec_we         (vec_we),
    .vec_waddr      (vec_waddr),
    .vec_wdata      (vec_wdata),
    .row_we         (row_we),
    .row_waddr      (row_waddr),
    .row_wdata      (row_wdata),
    .rd_bytes_valid (ld_bytes_valid),
    .rd_bytes       (ld_bytes),
    .stall_mem      (ld_stall_mem)
  );

  nmx_gemm_engine #(
    .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH)
  ) u_gemm (
    .clk        (clk),
    .rst_n      (rst_n),
    .cmd_valid  (cmd_valid[QCMP]),
    .cmd_ready  (cmd_ready[QCMP]),
    .cmd_insn   (cmd_insn[QCMP]),
    .cmd_index  (cmd_index[QCMP]),
    .cmpl_valid (cmpl_valid[QCMP]),
    .err_valid  (e_err_valid[QCMP]),
    .err_code   (e_err_code[QCMP]),
    .err_index  (e_err_index[QCMP]),
    .halt       (halt),
    .idle       (eng_idle[QCMP]),
    .inp_re     (inp_re),
    .inp_raddr  (inp_raddr),
    .inp_rdata  (inp_rdata),
    .wgt_re     (wgt_re),
    .wgt_raddr  (wgt_raddr),
    .wgt_rdata  (wgt_rdata),
    .acc_re     (acc_g_re),
    .acc_raddr  (acc_g_raddr),
    .acc_rdata  (acc_g_rdata),
    .acc_we     (acc_we),
    .acc_waddr  (acc_waddr),
    .acc_wdata  (acc_wdata),
    .mac_active (mac_active)
  );

  nmx_store_engine #(
    .COLS(COLS), .ACC_DEPTH(ACC_DEPTH), .VEC_DEPTH(VEC_DEPTH), .AXI_DATA_BITS(AXI_DATA_BITS),
    .AXI_ADDR_BITS(AXI_ADDR_BITS), .AXI_ID_BITS(AXI_ID_BITS)
  ) u_store (
    .clk            (clk),
    .rst_n          (rst_n),
    .cmd_valid      (cmd_valid[QST]),
    .cmd_ready      (cmd_ready[QST]),
    .cmd_insn       (cmd_insn[QST]),
    .cmd_index      (cmd_index[QST]),
    .cmpl_valid     (cmpl_valid[QST]),
    .err_valid      (e_err_valid[QST]),
    .err_code       (e_err_code[QST]),
    .err_index      (e_err_index[QST]),
    .halt           (halt),
    .idle           (eng_idle[QST]),
    .acc_re         (acc_s_re),
    .acc_raddr      (acc_s_raddr),
    .acc_rdata      (acc_s_rdata),
    .row_re         (row_re),
    .row_raddr      (row_raddr),
    .row_rdata      (row_rdata),
    .vec_re         (vec_re),
    .vec_raddr      (vec_raddr),
    .vec_rdata      (vec_rdata),
    .m_axi_awid     (m_axi_awid),
    .m_axi_awaddr   (m_axi_awaddr),
    .m_axi_awlen    (m_axi_awlen),
    .m_axi_awsize   (m_axi_awsize),
    .m_axi_awburst  (m_axi_awburst),
    .m_axi_awvalid  (m_axi_awvalid),
    .m_axi_awready  (m_axi_awready),
    .m_axi_wdata    (m_axi_wdata),
    .m_axi_wstrb    (m_axi_wstrb),
    .m_axi_wlast    (m_axi_wlast),
    .m_axi_wvalid   (m_axi_wvalid),
    .m_axi_wready   (m_axi_wready),
    .m_axi_bid      (m_axi_bid),
    .m_axi_bresp    (m_axi_bresp),
    .m_axi_bvalid   (m_axi_bvalid),
    .m_axi_bready   (m_axi_bready),
    .wr_bytes_valid (st_bytes_valid),
    .wr_bytes       (st_bytes),
    .stall_mem      (st_stall_mem)
  );

  // ---------------------------------------------------------------- errors, halt, done
  localparam int unsigned NSRC = NQ + 2;       // engines, dispatcher, token unit
  logic [NSRC-1:0]         s_valid;
  logic [NSRC-1:0][EB-1:0] s_code;
  logic [NSRC-1:0][XB-1:0] s_index;
  logic                    err_flag, done_q, started, all_idle;
  logic [EB-1:0]           err_code_q;
  logic [XB-1:0]           err_index_q;
  logic                    new_valid;
  logic [EB-1:0]           new_code;
  logic [XB-1:0]           new_index;

  always_comb begin
    for (int q = 0; q < int'(NQ); q++) begin
      s_valid[q] = e_err_valid[q];
      s_code[q]  = e_err_code[q];
      s_index[q] = e_err_index[q];
    end
    s_valid[NQ]     = d_err_valid;
    s_code[NQ]      = d_err_code;
    s_index[NQ]     = d_err_index;
    s_valid[NQ + 1] = t_err_valid;
    s_code[NQ + 1]  = t_err_code;
    s_index[NQ + 1] = t_err_index;
    // the first error wins; among simultaneous ones the smallest instruction index
    new_valid = 1'b0;
    new_code  = '0;
    new_index = '1;
    for (int s = 0; s < int'(NSRC); s++) begin
      if (s_valid[s] && (!new_valid || (s_index[s] < new_index))) begin
        new_valid = 1'b1;
        new_code  = s_code[s];
        new_index = s_index[s];
      end
    end
  end

  assign halt     = err_flag;
  assign all_idle = (eng_idle == '1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      err_flag    <= 1'b0;
      err_code_q  <= '0;
      err_index_q <= '0;
      done_q      <= 1'b0;
      started     <= 1'b0;
    end else begin
      if (new_valid && !err_flag && !done_q) begin
        err_flag    <= 1'b1;
        err_code_q  <= new_code;
        err_index_q <= new_index;
      end
      if (d_accept) started <= 1'b1;
      if (err_flag && all_idle) done_q <= 1'b1;
      if (!err_flag && d_finish && d_empty && t_quiescent && all_idle) done_q <= 1'b1;
    end
  end

  assign done        = done_q;
  assign busy        = started && !done_q;
  assign error       = done_q && err_flag;
  assign error_code  = error ? err_code_q : '0;
  assign error_index = error ? err_index_q : '0;

  // ---------------------------------------------------------------- performance counters
  logic [NCNT-1:0][CB-1:0] cnt;
  logic [NCNT-1:0][CB-1:0] inc;

  always_comb begin
    inc = '0;
    inc[nmx_isa_pkg::CNT_CYCLES]          = CB'(started || d_accept);
    inc[nmx_isa_pkg::CNT_MAC_CYCLES]      = CB'(mac_active);
    inc[nmx_isa_pkg::CNT_DMA_RD_BYTES]    = ld_bytes_valid ? CB'(ld_bytes) : '0;
    inc[nmx_isa_pkg::CNT_DMA_WR_BYTES]    = st_bytes_valid ? CB'(st_bytes) : '0;
    inc[nmx_isa_pkg::CNT_INSNS]           = CB'(d_dispatched);
    inc[nmx_isa_pkg::CNT_STALL_LD_TOKEN]  = CB'(stall_token[QLD]);
    inc[nmx_isa_pkg::CNT_STALL_CMP_TOKEN] = CB'(stall_token[QCMP]);
    inc[nmx_isa_pkg::CNT_STALL_ST_TOKEN]  = CB'(stall_token[QST]);
    inc[nmx_isa_pkg::CNT_STALL_LD_MEM]    = CB'(ld_stall_mem);
    inc[nmx_isa_pkg::CNT_STALL_ST_MEM]    = CB'(st_stall_mem);
    inc[nmx_isa_pkg::CNT_STALL_DISPATCH]  = CB'(d_stall);
    inc[nmx_isa_pkg::CNT_GEMM_ROWS]       = CB'(mac_active);
    // buffer SRAM word accesses: the engines' enables (the post-reset clear sweep is not counted;
    // the two ACC copies share acc_we, so ACC_WR is the writes of each copy)
    inc[nmx_isa_pkg::CNT_INP_RD]          = CB'(inp_re);
    inc[nmx_isa_pkg::CNT_INP_WR]          = CB'(inp_we);
    inc[nmx_isa_pkg::CNT_WGT_RD]          = CB'(wgt_re);
    inc[nmx_isa_pkg::CNT_WGT_WR]          = CB'(wgt_we);
    inc[nmx_isa_pkg::CNT_VEC_RD]          = CB'(vec_re);
    inc[nmx_isa_pkg::CNT_VEC_WR]          = CB'(vec_we);
    inc[nmx_isa_pkg::CNT_ROW_RD]          = CB'(row_re);
    inc[nmx_isa_pkg::CNT_ROW_WR]          = CB'(row_we);
    inc[nmx_isa_pkg::CNT_ACC_GEMM_RD]     = CB'(acc_g_re);
    inc[nmx_isa_pkg::CNT_ACC_STORE_RD]    = CB'(acc_s_re);
    inc[nmx_isa_pkg::CNT_ACC_WR]          = CB'(acc_we);
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cnt <= '0;
    end else if (!done_q) begin
      for (int c = 0; c < int'(NCNT); c++) cnt[c] <= cnt[c] + inc[c];
    end
  end

  assign cnt_value = (32'(cnt_sel) < NCNT) ? cnt[cnt_sel] : '0;

endmodule : nmx_top
