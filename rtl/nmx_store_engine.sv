// nmx_store_engine: the ST engine. Executes PPUCFG (VEC -> PPU configuration registers) and
// STORE (ACC row + ROW entry -> nmx_ppu -> bytes -> AXI4 write bursts). docs/rtl_store.md.
//
// Structure (one ACC row per cycle end to end):
//
//   front end (FE)  : accepts commands, reads VEC for PPUCFG, issues acc_re/row_re per STORE row
//   S0              : SRAM output stage (acc_rdata/row_rdata valid; held while the PPU stalls,
//                     relying on nmx_sram keeping rdata while re is low)
//   nmx_ppu         : 10-stage PPU; its output register is the "row" stage of the writer
//   segmenter       : turns a row into byte segments: one segment per contiguous row
//                     (x_stride == element bytes), else one segment per element
//   burst generator : aligns a segment to the bus, splits it at 4 KiB pages (and 256 beats)
//                     with nmx_axi_burst_split (the LD engine's rule), pushes one AW per burst
//                     (plus a B-expectation) and one W beat per cycle
//   AW / W FIFOs    : decouple the AXI channels; W never waits for the AW handshake (AXI rule)
//   B tracking      : in-order B expectations (single AXI ID); SLVERR/DECERR -> err_valid
//   retire queue    : completions in acceptance order (PPUCFG when loaded, STORE on its last B)
//
// After `halt` (or an own AXI error) the engine stops accepting, drops everything not yet turned
// into an AW, finishes the W beats of every queued AW, accepts all B responses, then goes idle.
module nmx_store_engine
#(
  parameter int unsigned COLS          = 16,
  parameter int unsigned ACC_DEPTH     = 1024,
  parameter int unsigned VEC_DEPTH     = 512,
  parameter int unsigned AXI_DATA_BITS = 128,
  parameter int unsigned AXI_ADDR_BITS = 32,
  parameter int unsigned AXI_ID_BITS   = 4,
  localparam int unsigned ACC_AW        = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned VEC_AW        = (VEC_DEPTH > 1) ? $clog2(VEC_DEPTH) : 1,
  localparam int unsigned STRB_BITS     = AXI_DATA_BITS / 8,
  localparam int unsigned WR_BYTES_BITS = $clog2(STRB_BITS + 1),
  localparam int unsigned IB            = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB            = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned EB            = nmx_isa_pkg::ERROR_BITS,
  localparam int unsigned LANE_BITS     = nmx_isa_pkg::WORD_ELEM_BITS,   // ACC/VEC/ROW lanes
  localparam int unsigned ROW_BITS      = nmx_isa_pkg::ROW_LANES * LANE_BITS,
  localparam int unsigned ALW           = nmx_cfg_pkg::AXI_LEN_BITS,
  localparam int unsigned ASW           = nmx_cfg_pkg::AXI_SIZE_BITS,
  localparam int unsigned ABW           = nmx_cfg_pkg::AXI_BURST_BITS,
  localparam int unsigned ARW           = nmx_cfg_pkg::AXI_RESP_BITS
) (
  input  logic                     clk,
  input  logic                     rst_n,
  // engine command interface
  input  logic                     cmd_valid,
  output logic                     cmd_ready,
  input  logic [IB-1:0]            cmd_insn,
  input  logic [XB-1:0]            cmd_index,
  output logic                     cmpl_valid,
  output logic                     err_valid,
  output logic [EB-1:0]            err_code,
  output logic [XB-1:0]            err_index,
  input  logic                     halt,
  output logic                     idle,
  // ACC read port (store-side copy)
  output logic                     acc_re,
  output logic [ACC_AW-1:0]        acc_raddr,
  input  logic [COLS*LANE_BITS-1:0] acc_rdata,
  // ROW read port
  output logic                     row_re,
  output logic [ACC_AW-1:0]        row_raddr,
  input  logic [ROW_BITS-1:0]      row_rdata,
  // VEC read port
  output logic                     vec_re,
  output logic [VEC_AW-1:0]        vec_raddr,
  input  logic [COLS*LANE_BITS-1:0] vec_rdata,
  // AXI4 master write channels
  output logic [AXI_ID_BITS-1:0]   m_axi_awid,
  output logic [AXI_ADDR_BITS-1:0] m_axi_awaddr,
  output logic [ALW-1:0]           m_axi_awlen,
  output logic [ASW-1:0]           m_axi_awsize,
  output logic [ABW-1:0]           m_axi_awburst,
  output logic                     m_axi_awvalid,
  input  logic                     m_axi_awready,
  output logic [AXI_DATA_BITS-1:0] m_axi_wdata,
  output logic [STRB_BITS-1:0]     m_axi_wstrb,
  output logic                     m_axi_wlast,
  output logic                     m_axi_wvalid,
  input  logic                     m_axi_wready,
  input  logic [AXI_ID_BITS-1:0]   m_axi_bid,
  input  logic [ARW-1:0]           m_axi_bresp,
  input  logic                     m_axi_bvalid,
  output logic                     m_axi_bready,
  // performance-counter strobes
  output logic                     wr_bytes_valid,
  output logic [WR_BYTES_BITS-1:0] wr_bytes,
  output logic                     stall_mem
);

  // ------------------------------------------------------------------ constants
  localparam int unsigned LANE_BYTES    = LANE_BITS / 8;
  localparam int unsigned INT8_BITS     = nmx_isa_pkg::BYTE_ELEM_BITS;  // out_int32 = 0 elements
  localparam int unsigned INT8_BYTES    = INT8_BITS / 8;
  localparam int unsigned SHIFT_BITS    = nmx_isa_pkg::SHIFT_BITS;
  localparam int unsigned ADDR_BITS     = nmx_isa_pkg::STORE_EXT_ADDR_BITS;  // ISA addresses
  localparam int unsigned BUS_BYTES     = STRB_BITS;
  localparam int unsigned BUS_LG        = $clog2(BUS_BYTES);
  localparam int unsigned SEG_BYTES     = COLS * LANE_BYTES;    // longest segment: an int32 row
  localparam int unsigned SEG_BEATS_MAX = (SEG_BYTES + 2 * BUS_BYTES - 2) / BUS_BYTES;
  localparam int unsigned SD_BYTES      = SEG_BEATS_MAX * BUS_BYTES;
  localparam int unsigned SEG_LEN_BITS  = $clog2(SEG_BYTES + 1);
  localparam int unsigned BEAT_BITS     = $clog2(SEG_BEATS_MAX + 1);
  localparam int unsigned SPLIT_BITS    = $clog2(SD_BYTES + 1);  // bytes of a segment's beats
  localparam int unsigned BLEN_BITS     = $clog2(nmx_cfg_pkg::AXI_MAX_BEATS + 1);
  localparam int unsigned AWLEN_BITS    = ALW;
  localparam int unsigned PWL_ROWS      = (nmx_isa_pkg::PWL_WORDS + COLS - 1) / COLS;
  localparam int unsigned CFG_STEP_BIAS = 0;
  localparam int unsigned CFG_STEP_MULT = 1;
  localparam int unsigned CFG_STEP_SHFT = 2;
  localparam int unsigned CFG_STEP_PWL  = 3;
  localparam int unsigned CFG_STEPS     = CFG_STEP_PWL + PWL_ROWS;
  localparam int unsigned STEP_BITS     = $clog2(CFG_STEPS + 1);
  localparam int unsigned OUTSTANDING   = 16;                   // bursts between AW queue and B
  localparam int unsigned AW_FIFO_DEPTH = 4;
  localparam int unsigned W_FIFO_DEPTH  = 4;
  localparam int unsigned RETIRE_DEPTH  = 8;
  localparam int unsigned DONE_BITS     = $clog2(RETIRE_DEPTH + 1);
  localparam int unsigned XSIZE_BITS    = nmx_isa_pkg::STORE_X_SIZE_BITS;
  localparam int unsigned XSTRIDE_BITS  = nmx_isa_pkg::STORE_X_STRIDE_BITS;
  localparam int unsigned YSIZE_BITS    = nmx_isa_pkg::STORE_Y_SIZE_BITS;
  localparam int unsigned YSTRIDE_BITS  = nmx_isa_pkg::STORE_Y_STRIDE_BITS;
  localparam int unsigned INDEX_BITS    = XB;
  localparam int unsigned OPW           = nmx_isa_pkg::OPCODE_BITS;
  // widths of the packed structs below (written out: Yosys has no $bits(type))
  localparam int unsigned META_BITS     = ADDR_BITS + 1 + XSTRIDE_BITS + XSIZE_BITS + 1 + INDEX_BITS;
  localparam int unsigned AW_ENT_BITS   = ADDR_BITS + AWLEN_BITS;
  localparam int unsigned W_ENT_BITS    = AXI_DATA_BITS + STRB_BITS + 1;
  localparam int unsigned B_ENT_BITS    = INDEX_BITS + 1;
  localparam logic        RET_CFG       = 1'b0;
  localparam logic        RET_STORE     = 1'b1;

  // ------------------------------------------------------------------ types
  typedef struct packed {
    logic [ADDR_BITS-1:0]    ext;        // external address of element (0) of this row
    logic                    last;       // last row of its STORE
    logic [XSTRIDE_BITS-1:0] x_stride;
    logic [XSIZE_BITS-1:0]   x_size;
    logic                    int32;
    logic [INDEX_BITS-1:0]   index;
  } row_meta_t;

  typedef struct packed {
    logic [ADDR_BITS-1:0]  addr;
    logic [AWLEN_BITS-1:0] len;
  } aw_ent_t;

  typedef struct packed {
    logic [AXI_DATA_BITS-1:0] data;
    logic [STRB_BITS-1:0]     strb;
    logic                     last;
  } w_ent_t;

  typedef struct packed {
    logic [INDEX_BITS-1:0] index;
    logic                  store_last;   // last burst of its STORE
  } b_ent_t;

  typedef enum logic [2:0] {
    FE_IDLE,
    FE_CFG_WAIT,
    FE_CFG_READ,
    FE_CFG_DONE,
    FE_STORE
  } fe_state_e;

  // ------------------------------------------------------------------ unused
  logic [$clog2(AW_FIFO_DEPTH+1)-1:0] aw_fifo_count_unused;
  logic [$clog2(W_FIFO_DEPTH+1)-1:0]  w_fifo_count_unused;
  logic [$clog2(OUTSTANDING+1)-1:0]   b_fifo_count_unused;
  logic [$clog2(RETIRE_DEPTH+1)-1:0]  retire_count_unused;

  // ------------------------------------------------------------------ stop (halt / own error)
  logic stop_q, stop, err_seen_q;
  assign stop = stop_q || halt;

  // ------------------------------------------------------------------ PPU configuration regs
  logic                   cfg_bias_en, cfg_row_en, cfg_requant_en, cfg_pwl_en, cfg_out_int32;
  logic [SHIFT_BITS-1:0]  cfg_row_shift;
  logic [COLS*LANE_BITS-1:0] cfg_bias, cfg_mult;
  logic [COLS*SHIFT_BITS-1:0] cfg_shift;
  logic [nmx_isa_pkg::PWL_WORDS*LANE_BITS-1:0] cfg_pwl;

  // ------------------------------------------------------------------ front end
  fe_state_e              fe_state;
  nmx_isa_pkg::ppucfg_insn_t           ci_cfg;
  nmx_isa_pkg::store_insn_t            ci_st;
  nmx_isa_pkg::ppucfg_insn_t           cfg_q;            // PPUCFG being executed
  logic [STEP_BITS-1:0]   cfg_step;
  logic                   rsp_valid_q;
  logic [STEP_BITS-1:0]   rsp_step_q;
  logic [ACC_AW-1:0]      st_row;
  logic [ADDR_BITS-1:0]   st_ext;
  logic [YSIZE_BITS-1:0]  st_rows_left;
  logic [YSTRIDE_BITS-1:0] st_y_stride;
  logic [XSTRIDE_BITS-1:0] st_x_stride;
  logic [XSIZE_BITS-1:0]  st_x_size;
  logic [INDEX_BITS-1:0]  st_index;

  logic                   cmd_fire, is_store, is_cfg;
  logic                   s0_valid;
  row_meta_t              s0_meta;
  logic                   ppu_in_ready, ppu_busy, ppu_out_valid, ppu_out_ready;
  logic [COLS*LANE_BITS-1:0] ppu_out_data;
  row_meta_t              ppu_out_meta;
  logic                   s0_can_load, issue, issue_last;
  logic                   ret_in_valid, ret_in_ready, ret_in_data, ret_out_valid, ret_out_data;
  logic                   ret_pop;
  logic                   cfg_step_en;
  logic [VEC_AW-1:0]      cfg_step_row;

  assign ci_cfg   = nmx_isa_pkg::ppucfg_insn_t'(cmd_insn);
  assign ci_st    = nmx_isa_pkg::store_insn_t'(cmd_insn);
  assign is_store = (nmx_isa_pkg::opcode_e'(cmd_insn[OPW-1:0]) == nmx_isa_pkg::OP_STORE);
  assign is_cfg   = (nmx_isa_pkg::opcode_e'(cmd_insn[OPW-1:0]) == nmx_isa_pkg::OP_PPUCFG);

  assign s0_can_load = !s0_valid || ppu_in_ready;
  assign issue       = (fe_state == FE_STORE) && !stop && s0_can_load;
  assign issue_last  = issue && (st_rows_left == YSIZE_BITS'(1));

  assign cmd_ready = !stop && ret_in_ready &&
                     ((fe_state == FE_IDLE) || issue_last);
  assign cmd_fire  = cmd_valid && cmd_ready;

  // ACC / ROW reads
  assign acc_re    = issue;
  assign acc_raddr = st_row;
  assign row_re    = issue;
  assign row_raddr = st_row;

  // VEC reads for PPUCFG: steps bias, mult, shift, pwl rows 0..PWL_ROWS-1; only enabled steps
  // are visited (one VEC row per cycle)
  logic [STEP_BITS-1:0] cfg_first_step, cfg_next_step;

  function automatic logic step_enabled(input int unsigned k, input logic bias_en,
                                        input logic requant_en, input logic pwl_en);
    if (k == CFG_STEP_BIAS)                          step_enabled = bias_en;
    else if (k == CFG_STEP_MULT || k == CFG_STEP_SHFT) step_enabled = requant_en;
    else                                             step_enabled = pwl_en;
  endfunction

  always_comb begin
    cfg_first_step = STEP_BITS'(CFG_STEPS);
    cfg_next_step  = STEP_BITS'(CFG_STEPS);
    for (int k = CFG_STEPS - 1; k >= 0; k--) begin
      if (step_enabled(k, cfg_q.bias_en, cfg_q.requant_en, cfg_q.pwl_en)) begin
        cfg_first_step = STEP_BITS'(k);
        if (STEP_BITS'(k) > cfg_step) cfg_next_step = STEP_BITS'(k);
      end
    end
  end

  always_comb begin
    cfg_step_en  = 1'b0;
    cfg_step_row = '0;
    if (cfg_step == STEP_BITS'(CFG_STEP_BIAS)) begin
      cfg_step_en  = cfg_q.bias_en;
      cfg_step_row = VEC_AW'(cfg_q.bias_row);
    end else if (cfg_step == STEP_BITS'(CFG_STEP_MULT)) begin
      cfg_step_en  = cfg_q.requant_en;
      cfg_step_row = VEC_AW'(cfg_q.mult_row);
    end else if (cfg_step == STEP_BITS'(CFG_STEP_SHFT)) begin
      cfg_step_en  = cfg_q.requant_en;
      cfg_step_row = VEC_AW'(cfg_q.shift_row);
    end else begin
      cfg_step_en  = cfg_q.pwl_en;
      cfg_step_row = VEC_AW'(cfg_q.pwl_row) + VEC_AW'(cfg_step - STEP_BITS'(CFG_STEP_PWL));
    end
  end

  assign vec_re    = (fe_state == FE_CFG_READ) && !stop && cfg_step_en;
  assign vec_raddr = cfg_step_row;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      fe_state     <= FE_IDLE;
      cfg_step     <= '0;
      rsp_valid_q  <= 1'b0;
      rsp_step_q   <= '0;
      st_rows_left <= '0;
    end else begin
      rsp_valid_q <= vec_re;
      rsp_step_q  <= cfg_step;
      if (stop) begin
        fe_state <= FE_IDLE;
      end else begin
        unique case (fe_state)
          FE_IDLE, FE_STORE: begin
            if (issue) begin
              st_row       <= st_row + ACC_AW'(1);
              st_ext       <= st_ext + ADDR_BITS'(st_y_stride);
              st_rows_left <= st_rows_left - YSIZE_BITS'(1);
              if (issue_last) fe_state <= FE_IDLE;
            end
            if (cmd_fire) begin
              if (is_store) begin
                fe_state     <= FE_STORE;
                st_row       <= ACC_AW'(ci_st.sram_addr);
                st_ext       <= ci_st.ext_addr;
                st_rows_left <= ci_st.y_size;
                st_y_stride  <= ci_st.y_stride;
                st_x_stride  <= ci_st.x_stride;
                st_x_size    <= ci_st.x_size;
                st_index     <= cmd_index;
              end else if (is_cfg) begin
                fe_state <= FE_CFG_WAIT;
                cfg_q    <= ci_cfg;
              end
            end
          end
          FE_CFG_WAIT: begin
            // the PPU reads its configuration in every stage: wait until no row is in flight
            if (!s0_valid && !ppu_busy) begin
              fe_state <= (cfg_first_step == STEP_BITS'(CFG_STEPS)) ? FE_CFG_DONE : FE_CFG_READ;
              cfg_step <= cfg_first_step;
            end
          end
          FE_CFG_READ: begin
            cfg_step <= cfg_next_step;
            if (cfg_next_step == STEP_BITS'(CFG_STEPS)) fe_state <= FE_CFG_DONE;
          end
          FE_CFG_DONE: begin
            // the last VEC response is written this cycle; completion goes through the queue
            if (ret_in_ready) fe_state <= FE_IDLE;
          end
          default: fe_state <= FE_IDLE;
        endcase
      end
    end
  end

  // configuration registers (zero after reset)
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cfg_bias_en    <= 1'b0;
      cfg_row_en     <= 1'b0;
      cfg_requant_en <= 1'b0;
      cfg_pwl_en     <= 1'b0;
      cfg_out_int32  <= 1'b0;
      cfg_row_shift  <= '0;
      cfg_bias       <= '0;
      cfg_mult       <= '0;
      cfg_shift      <= '0;
      cfg_pwl        <= '0;
    end else begin
      if (fe_state == FE_CFG_WAIT && !stop && !s0_valid && !ppu_busy) begin
        cfg_bias_en    <= cfg_q.bias_en;
        cfg_row_en     <= cfg_q.row_en;
        cfg_requant_en <= cfg_q.requant_en;
        cfg_pwl_en     <= cfg_q.pwl_en;
        cfg_out_int32  <= cfg_q.out_int32;
        cfg_row_shift  <= cfg_q.row_shift;
      end
      if (rsp_valid_q) begin
        if (rsp_step_q == STEP_BITS'(CFG_STEP_BIAS)) begin
          cfg_bias <= vec_rdata;
        end else if (rsp_step_q == STEP_BITS'(CFG_STEP_MULT)) begin
          cfg_mult <= vec_rdata;
        end else if (rsp_step_q == STEP_BITS'(CFG_STEP_SHFT)) begin
          for (int c = 0; c < COLS; c++)
            cfg_shift[c*SHIFT_BITS +: SHIFT_BITS] <= vec_rdata[c*LANE_BITS +: SHIFT_BITS];
        end else begin
          for (int r = 0; r < PWL_ROWS; r++) begin
            if (rsp_step_q == STEP_BITS'(CFG_STEP_PWL + r)) begin
              for (int c = 0; c < COLS; c++) begin
                if (r * COLS + c < nmx_isa_pkg::PWL_WORDS)
                  cfg_pwl[(r*COLS + c)*LANE_BITS +: LANE_BITS] <= vec_rdata[c*LANE_BITS +: LANE_BITS];
              end
            end
          end
        end
      end
    end
  end

  // ------------------------------------------------------------------ S0: SRAM output stage
  always_ff @(posedge clk) begin
    if (!rst_n || stop) begin
      s0_valid <= 1'b0;
    end else if (s0_can_load) begin
      s0_valid <= issue;
    end
  end

  always_ff @(posedge clk) begin
    if (issue) begin
      s0_meta.ext      <= st_ext;
      s0_meta.last     <= (st_rows_left == YSIZE_BITS'(1));
      s0_meta.x_stride <= st_x_stride;
      s0_meta.x_size   <= st_x_size;
      s0_meta.int32    <= cfg_out_int32;
      s0_meta.index    <= st_index;
    end
  end

  // ------------------------------------------------------------------ PPU
  nmx_ppu #(
    .COLS      (COLS),
    .META_BITS (META_BITS)
  ) u_ppu (
    .clk            (clk),
    .rst_n          (rst_n),
    .flush          (stop),
    .in_valid       (s0_valid),
    .in_ready       (ppu_in_ready),
    .in_acc         (acc_rdata),
    .in_row_off     (row_rdata[0 +: LANE_BITS]),
    .in_row_scale   (row_rdata[LANE_BITS +: LANE_BITS]),
    .in_meta        (s0_meta),
    .out_valid      (ppu_out_valid),
    .out_ready      (ppu_out_ready),
    .out_data       (ppu_out_data),
    .out_meta       (ppu_out_meta),
    .busy           (ppu_busy),
    .cfg_bias_en    (cfg_bias_en),
    .cfg_row_en     (cfg_row_en),
    .cfg_requant_en (cfg_requant_en),
    .cfg_pwl_en     (cfg_pwl_en),
    .cfg_out_int32  (cfg_out_int32),
    .cfg_row_shift  (cfg_row_shift),
    .cfg_bias       (cfg_bias),
    .cfg_mult       (cfg_mult),
    .cfg_shift      (cfg_shift),
    .cfg_pwl        (cfg_pwl)
  );

  // ------------------------------------------------------------------ segmenter
  logic [XSIZE_BITS-1:0]   el_idx;
  logic [ADDR_BITS-1:0]    el_off;
  logic                    seg_contig, seg_last_in_row, seg_valid, seg_take;
  logic [ADDR_BITS-1:0]    seg_addr;
  logic [SEG_LEN_BITS-1:0] seg_len;
  logic [SEG_BYTES*8-1:0]  seg_data;
  logic [LANE_BITS-1:0]    el_word;
  logic                    w2_can_load;

  always_comb begin
    seg_contig = ppu_out_meta.int32 ? (ppu_out_meta.x_stride == XSTRIDE_BITS'(LANE_BYTES))
                                    : (ppu_out_meta.x_stride == XSTRIDE_BITS'(INT8_BYTES));
    el_word = '0;
    for (int c = 0; c < COLS; c++)
      if (el_idx == XSIZE_BITS'(c)) el_word = ppu_out_data[c*LANE_BITS +: LANE_BITS];
    seg_data = '0;
    if (seg_contig) begin
      seg_addr        = ppu_out_meta.ext;
      seg_last_in_row = 1'b1;
      if (ppu_out_meta.int32) begin
        seg_len  = SEG_LEN_BITS'(ppu_out_meta.x_size) * SEG_LEN_BITS'(LANE_BYTES);
        seg_data = ppu_out_data;
      end else begin
        seg_len = SEG_LEN_BITS'(ppu_out_meta.x_size);
        for (int c = 0; c < COLS; c++)
          seg_data[c*INT8_BITS +: INT8_BITS] = ppu_out_data[c*LANE_BITS +: INT8_BITS];
      end
    end else begin
      seg_addr        = ppu_out_meta.ext + el_off;
      seg_last_in_row = (el_idx == ppu_out_meta.x_size - XSIZE_BITS'(1));
      seg_len         = ppu_out_meta.int32 ? SEG_LEN_BITS'(LANE_BYTES) : SEG_LEN_BITS'(INT8_BYTES);
      seg_data[0 +: LANE_BITS] = el_word;
    end
  end

  assign seg_valid     = ppu_out_valid && !stop;
  assign seg_take      = seg_valid && w2_can_load;
  assign ppu_out_ready = seg_take && seg_last_in_row;

  always_ff @(posedge clk) begin
    if (!rst_n || stop) begin
      el_idx <= '0;
      el_off <= '0;
    end else if (seg_take) begin
      if (seg_last_in_row) begin
        el_idx <= '0;
        el_off <= '0;
      end else begin
        el_idx <= el_idx + XSIZE_BITS'(1);
        el_off <= el_off + ADDR_BITS'(ppu_out_meta.x_stride);
      end
    end
  end

  // ------------------------------------------------------------------ burst generator
  logic                          w2_valid;
  logic [SD_BYTES*8-1:0]         w2_data;
  logic [SD_BYTES-1:0]           w2_strb;
  logic [ADDR_BITS-1:0]          w2_baddr;       // bus-aligned address of the next beat
  logic [BEAT_BITS-1:0]          w2_beats;       // beats left in the segment
  logic [BLEN_BITS-1:0]          w2_burst_left;  // beats left in the open burst (0: none open)
  logic                          w2_store_last;  // segment is the last of its STORE
  logic [INDEX_BITS-1:0]         w2_index;

  logic [BUS_LG-1:0]             ld_off;
  logic [SD_BYTES*8-1:0]         ld_data;
  logic [SD_BYTES-1:0]           ld_strb;
  logic [BEAT_BITS-1:0]          ld_beats;

  logic                          burst_start, beat_ok, beat_fire, w2_finish;
  logic [BLEN_BITS-1:0]          blen;           // beats of the burst starting at w2_baddr
  logic [AWLEN_BITS-1:0]         split_len;
  logic                          split_last;     // that burst ends the segment
  logic                          aw_in_ready, w_in_ready, b_in_ready;
  aw_ent_t                       aw_in, aw_out;
  w_ent_t                        w_in, w_out;
  b_ent_t                        b_in, b_out;
  logic                          aw_out_valid, w_out_valid, b_out_valid;

  // segment alignment (computed while loading W2)
  always_comb begin
    ld_off  = seg_addr[BUS_LG-1:0];
    ld_data = (SD_BYTES*8)'(seg_data) << (8 * ld_off);
    for (int i = 0; i < SD_BYTES; i++)
      ld_strb[i] = (i >= int'(ld_off)) && (i < int'(ld_off) + int'(seg_len));
    ld_beats = BEAT_BITS'((int'(ld_off) + int'(seg_len) + BUS_BYTES - 1) >> BUS_LG);
  end

  // burst bookkeeping: the segment's remaining beats from the bus-aligned w2_baddr, split at
  // 4 KiB pages and 256 beats
  /* verilator lint_off UNUSEDSIGNAL */
  logic [ADDR_BITS-1:0]  split_addr_unused;   // = w2_baddr (already aligned)
  logic [SPLIT_BITS-1:0] split_off_unused;    // = 0
  logic [SPLIT_BITS-1:0] split_bytes_unused;  // = blen beats
  /* verilator lint_on UNUSEDSIGNAL */

  nmx_axi_burst_split #(.BUS_BYTES(BUS_BYTES), .ADDR_BITS(ADDR_BITS), .BYTES_BITS(SPLIT_BITS)) u_split (
    .addr        (w2_baddr),
    .bytes       (SPLIT_BITS'(w2_beats) << BUS_LG),
    .burst_addr  (split_addr_unused),
    .burst_len   (split_len),
    .burst_off   (split_off_unused),
    .burst_bytes (split_bytes_unused),
    .burst_last  (split_last)
  );

  always_comb begin
    burst_start = (w2_burst_left == '0);
    blen        = BLEN_BITS'(split_len) + BLEN_BITS'(1);
    // a new burst needs room for its AW and its B expectation; after stop only open bursts go on
    beat_ok   = w_in_ready && (burst_start ? (aw_in_ready && b_in_ready && !stop) : 1'b1);
    beat_fire = w2_valid && beat_ok;
    w2_finish = beat_fire && (w2_beats == BEAT_BITS'(1));
  end

  assign w2_can_load = !stop && (!w2_valid || w2_finish);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      w2_valid      <= 1'b0;
      w2_burst_left <= '0;
    end else if (seg_take) begin
      w2_valid      <= 1'b1;
      w2_data       <= ld_data;
      w2_strb       <= ld_strb;
      w2_baddr      <= {seg_addr[ADDR_BITS-1:BUS_LG], BUS_LG'(0)};
      w2_beats      <= ld_beats;
      w2_burst_left <= '0;
      w2_store_last <= ppu_out_meta.last && seg_last_in_row;
      w2_index      <= ppu_out_meta.index;
    end else if (beat_fire) begin
      w2_valid      <= !w2_finish;
      w2_data       <= w2_data >> AXI_DATA_BITS;
      w2_strb       <= w2_strb >> STRB_BITS;
      w2_baddr      <= w2_baddr + ADDR_BITS'(BUS_BYTES);
      w2_beats      <= w2_beats - BEAT_BITS'(1);
      w2_burst_left <= (burst_start ? blen : w2_burst_left) - BLEN_BITS'(1);
    end else if (stop && burst_start) begin
      w2_valid      <= 1'b0;   // not on the bus yet: drop
    end
  end

  assign aw_in.addr      = w2_baddr;
  assign aw_in.len       = AWLEN_BITS'(blen - BLEN_BITS'(1));
  assign b_in.index      = w2_index;
  assign b_in.store_last = w2_store_last && split_last;
  assign w_in.data       = w2_data[0 +: AXI_DATA_BITS];
  assign w_in.strb       = w2_strb[0 +: STRB_BITS];
  assign w_in.last       = burst_start ? (blen == BLEN_BITS'(1)) : (w2_burst_left == BLEN_BITS'(1));

  nmx_fifo #(.WIDTH(AW_ENT_BITS), .DEPTH(AW_FIFO_DEPTH)) u_aw_fifo (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (beat_fire && burst_start),
    .in_ready  (aw_in_ready),
    .in_data   (aw_in),
    .out_valid (aw_out_valid),
    .out_ready (m_axi_awready),
    .out_data  (aw_out),
    .count     (aw_fifo_count_unused)
  );

  nmx_fifo #(.WIDTH(W_ENT_BITS), .DEPTH(W_FIFO_DEPTH)) u_w_fifo (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (beat_fire),
    .in_ready  (w_in_ready),
    .in_data   (w_in),
    .out_valid (w_out_valid),
    .out_ready (m_axi_wready),
    .out_data  (w_out),
    .count     (w_fifo_count_unused)
  );

  nmx_fifo #(.WIDTH(B_ENT_BITS), .DEPTH(OUTSTANDING)) u_b_fifo (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (beat_fire && burst_start),
    .in_ready  (b_in_ready),
    .in_data   (b_in),
    .out_valid (b_out_valid),
    .out_ready (m_axi_bvalid),
    .out_data  (b_out),
    .count     (b_fifo_count_unused)
  );

  // ------------------------------------------------------------------ AXI outputs
  assign m_axi_awid    = '0;
  assign m_axi_awaddr  = AXI_ADDR_BITS'(aw_out.addr);
  assign m_axi_awlen   = aw_out.len;
  assign m_axi_awsize  = ASW'(BUS_LG);
  assign m_axi_awburst = nmx_cfg_pkg::AXI_BURST_INCR;
  assign m_axi_awvalid = aw_out_valid;
  assign m_axi_wdata   = w_out.data;
  assign m_axi_wstrb   = w_out.strb;
  assign m_axi_wlast   = w_out.last;
  assign m_axi_wvalid  = w_out_valid;
  assign m_axi_bready  = 1'b1;

  // ------------------------------------------------------------------ B responses, errors
  logic                  b_fire, b_err;
  logic [DONE_BITS-1:0]  stores_done;
  logic                  store_done_inc, store_done_dec;

  assign b_fire         = m_axi_bvalid && b_out_valid;
  assign b_err          = m_axi_bresp[nmx_cfg_pkg::AXI_RESP_ERR_BIT];   // SLVERR or DECERR
  assign store_done_inc = b_fire && !b_err && b_out.store_last;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      err_seen_q <= 1'b0;
      stop_q     <= 1'b0;
      err_valid  <= 1'b0;
      err_index  <= '0;
    end else begin
      err_valid <= 1'b0;
      if (halt) stop_q <= 1'b1;
      if (b_fire && b_err && !err_seen_q) begin
        err_seen_q <= 1'b1;
        stop_q     <= 1'b1;
        err_valid  <= 1'b1;
        err_index  <= b_out.index;
      end
    end
  end
  assign err_code = nmx_isa_pkg::ERR_AXI_WRITE;

  // ------------------------------------------------------------------ retire queue (in order)
  assign ret_in_valid = (cmd_fire && !is_cfg) || ((fe_state == FE_CFG_DONE) && !stop);
  assign ret_in_data  = (cmd_fire && is_store) ? RET_STORE : RET_CFG;

  nmx_fifo #(.WIDTH(1), .DEPTH(RETIRE_DEPTH)) u_retire (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (ret_in_valid),
    .in_ready  (ret_in_ready),
    .in_data   (ret_in_data),
    .out_valid (ret_out_valid),
    .out_ready (ret_pop),
    .out_data  (ret_out_data),
    .count     (retire_count_unused)
  );

  assign ret_pop        = ret_out_valid && !stop &&
                          ((ret_out_data == RET_CFG) || (stores_done != '0));
  assign store_done_dec = ret_pop && (ret_out_data == RET_STORE);
  assign cmpl_valid     = ret_pop;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      stores_done <= '0;
    end else begin
      stores_done <= stores_done + DONE_BITS'(store_done_inc) - DONE_BITS'(store_done_dec);
    end
  end

  // ------------------------------------------------------------------ status / counters
  logic pipe_empty;
  assign pipe_empty = (fe_state == FE_IDLE) && !s0_valid && !ppu_busy && !ppu_out_valid &&
                      !w2_valid && !aw_out_valid && !w_out_valid;

  assign idle = pipe_empty && !b_out_valid && (!ret_out_valid || stop);

  always_comb begin
    wr_bytes = '0;
    for (int i = 0; i < STRB_BITS; i++) wr_bytes += WR_BYTES_BITS'(m_axi_wstrb[i]);
  end
  assign wr_bytes_valid = m_axi_wvalid && m_axi_wready;

  assign stall_mem = (m_axi_awvalid && !m_axi_awready) || (m_axi_wvalid && !m_axi_wready) ||
                     (b_out_valid && !s0_valid && !ppu_busy && !ppu_out_valid && !w2_valid &&
                      !aw_out_valid && !w_out_valid);

  logic unused_ok;
  assign unused_ok = ^{m_axi_bid, m_axi_bresp, cmd_insn, ci_st, cfg_q};

endmodule : nmx_store_engine
