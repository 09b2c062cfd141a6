// nmx_load_engine: the LD engine. Executes LOAD (docs/isa.md section 3):
//
//   BUF[sram_addr + y][x] = x < x_size ? elem(ext_addr + y*y_stride + x*x_stride) : 0
//
// Structure (docs/rtl_top.md, "Load engine"):
//   * command register: one accepted LOAD waits here while the previous one is being issued, so
//     consecutive LOADs issue back to back.
//   * AR issue path: walks the LOAD as a sequence of *segments* - a whole row when the row is
//     contiguous (x_stride = element bytes), one element otherwise (gather, incl. x_stride 0) -
//     and cuts each segment into INCR bursts of full-width beats aligned to the bus, never
//     crossing a 4 KiB boundary, at most 256 beats (nmx_axi_burst_split; an element straddling
//     a beat boundary is a 2-beat burst). One burst per cycle goes into the registered AR
//     output; its metadata (destination buffer row, byte offsets, payload length,
//     last-of-row/command flags, index) goes into a FIFO of RD_OUTSTANDING entries, which
//     bounds the outstanding bursts.
//   * R receive path: beats arrive in order (single ID); each beat's payload bytes are shifted
//     into a row assembly register (zero at the start of every row, so bytes beyond x_size are
//     zero). On the last beat of a row the row is written into its buffer (one registered write
//     per cycle at most); on the last row of a command cmpl_valid pulses in the same cycle.
//   * An error response (SLVERR/DECERR) raises err_valid once with the LOAD's index. After an
//     error or halt nothing new is issued or written, but every outstanding burst is still
//     received (rready stays high) before idle rises.
// GATHER (same engine): per destination row, a one-beat read of its int32 index (idx_addr + 4y;
// the R path hands the index to the issue path), then the row's bursts from ext_addr +
// index * y_stride as a contiguous segment; the next row's index read follows the row's last
// burst. Index reads travel through the same metadata FIFO (is_idx) and count in rd_bytes.
// Counter strobes: rd_bytes (payload bytes of an accepted beat, DMA_RD_BYTES) and stall_mem
// (reads outstanding but no beat this cycle, STALL_LD_MEM).
module nmx_load_engine #(
  parameter int unsigned ROWS           = 16,
  parameter int unsigned COLS           = 16,
  parameter int unsigned INP_DEPTH      = 4096,
  parameter int unsigned WGT_DEPTH      = 4096,
  parameter int unsigned VEC_DEPTH      = 512,
  parameter int unsigned ACC_DEPTH      = 1024,   // depth of ROW
  parameter int unsigned AXI_DATA_BITS  = 128,
  parameter int unsigned AXI_ADDR_BITS  = 32,
  parameter int unsigned AXI_ID_BITS    = 4,
  parameter int unsigned RD_OUTSTANDING = 32,   // bursts in flight: covers ~28 cycles of latency
  localparam int unsigned IB       = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB       = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned EB       = nmx_isa_pkg::ERROR_BITS,
  localparam int unsigned BB       = AXI_DATA_BITS / 8,             // bytes per beat
  localparam int unsigned BBW      = $clog2(BB),
  localparam int unsigned INP_AW   = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1,
  localparam int unsigned WGT_AW   = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1,
  localparam int unsigned VEC_AW   = (VEC_DEPTH > 1) ? $clog2(VEC_DEPTH) : 1,
  localparam int unsigned ROW_AW   = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned INP_W    = ROWS * nmx_isa_pkg::BYTE_ELEM_BITS,
  localparam int unsigned WGT_W    = COLS * nmx_isa_pkg::BYTE_ELEM_BITS,
  localparam int unsigned VEC_W    = COLS * nmx_isa_pkg::WORD_ELEM_BITS,
  localparam int unsigned ROW_W    = nmx_isa_pkg::ROW_LANES * nmx_isa_pkg::WORD_ELEM_BITS,
  localparam int unsigned BYTES_W  = BBW + 1,
  localparam int unsigned ALW      = nmx_cfg_pkg::AXI_LEN_BITS,
  localparam int unsigned ASW      = nmx_cfg_pkg::AXI_SIZE_BITS,
  localparam int unsigned ABW      = nmx_cfg_pkg::AXI_BURST_BITS,
  localparam int unsigned ARW      = nmx_cfg_pkg::AXI_RESP_BITS
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
  // AXI4 read channels
  output logic [AXI_ID_BITS-1:0]   m_axi_arid,
  output logic [AXI_ADDR_BITS-1:0] m_axi_araddr,
  output logic [ALW-1:0]           m_axi_arlen,
  output logic [ASW-1:0]           m_axi_arsize,
  output logic [ABW-1:0]           m_axi_arburst,
  output logic                     m_axi_arvalid,
  input  logic                     m_axi_arready,
  input  logic [AXI_ID_BITS-1:0]   m_axi_rid,
  input  logic [AXI_DATA_BITS-1:0] m_axi_rdata,
  input  logic [ARW-1:0]           m_axi_rresp,
  input  logic                     m_axi_rlast,
  input  logic                     m_axi_rvalid,
  output logic                     m_axi_rready,
  // buffer write ports
  output logic                     inp_we,
  output logic [INP_AW-1:0]        inp_waddr,
  output logic [INP_W-1:0]         inp_wdata,
  output logic                     wgt_we,
  output logic [WGT_AW-1:0]        wgt_waddr,
  output logic [WGT_W-1:0]         wgt_wdata,
  output logic                     vec_we,
  output logic [VEC_AW-1:0]        vec_waddr,
  output logic [VEC_W-1:0]         vec_wdata,
  output logic                     row_we,
  output logic [ROW_AW-1:0]        row_waddr,
  output logic [ROW_W-1:0]         row_wdata,
  // performance-counter strobes
  output logic                     rd_bytes_valid,
  output logic [BYTES_W-1:0]       rd_bytes,
  output logic                     stall_mem
);

  // ---------------------------------------------------------------- sizes
  localparam int unsigned MAX2 = (INP_W > WGT_W) ? INP_W : WGT_W;
  localparam int unsigned MAX3 = (MAX2 > VEC_W) ? MAX2 : VEC_W;
  localparam int unsigned RB   = ((MAX3 > ROW_W) ? MAX3 : ROW_W) / 8;   // row assembly bytes
  localparam int unsigned SB   = (RB > BB) ? RB : BB;                   // shifter bytes
  localparam int unsigned SBW  = SB * 8;                                // shifter bits
  localparam int unsigned AW   = AXI_ADDR_BITS;
  // byte counts and offsets: a row, a 4 KiB page or a whole 256-beat burst, whichever is longest
  localparam int unsigned PAGE_BYTES  = nmx_cfg_pkg::AXI_4K_BYTES;
  localparam int unsigned BURST_BYTES = nmx_cfg_pkg::AXI_MAX_BEATS * BB;
  localparam int unsigned MAXB_1 = (RB > PAGE_BYTES) ? RB : PAGE_BYTES;
  localparam int unsigned LW   = $clog2(((MAXB_1 > BURST_BYTES) ? MAXB_1 : BURST_BYTES) + 1);
  localparam int unsigned   BYTE_ELEM   = nmx_isa_pkg::BYTE_ELEM_BITS / 8;   // INP, WGT
  localparam int unsigned   WORD_ELEM   = nmx_isa_pkg::WORD_ELEM_BITS / 8;   // VEC, ROW
  localparam logic [LW-1:0] ELEM_WORD   = LW'(WORD_ELEM);
  localparam logic [LW-1:0] ELEM_BYTE   = LW'(BYTE_ELEM);
  localparam int unsigned   WORD_SHIFT  = $clog2(WORD_ELEM / BYTE_ELEM);     // row bytes of words
  localparam logic [ASW-1:0] AR_SIZE    = ASW'(BBW);
  // LOAD fields held while the command is issued
  localparam int unsigned RAW  = nmx_isa_pkg::LOAD_SRAM_ADDR_BITS;    // buffer row address
  localparam int unsigned BUFW = nmx_isa_pkg::BUFFER_BITS;
  localparam int unsigned XSW  = nmx_isa_pkg::LOAD_X_SIZE_BITS;
  localparam int unsigned XTW  = nmx_isa_pkg::LOAD_X_STRIDE_BITS;
  localparam int unsigned YSW  = nmx_isa_pkg::LOAD_Y_SIZE_BITS;
  localparam int unsigned YTW  = nmx_isa_pkg::LOAD_Y_STRIDE_BITS;

  typedef struct packed {
    logic [XB-1:0]   index;
    logic [BUFW-1:0] buf_sel;
    logic [RAW-1:0]  row;        // destination buffer row
    logic [LW-1:0]   off;        // byte offset of the payload in the first beat
    logic [LW-1:0]   take;       // payload bytes of the burst
    logic [LW-1:0]   dest;       // byte offset of the payload in the row
    logic            row_last;   // last burst of its row
    logic            cmd_last;   // last burst of its command
    logic            is_idx;     // GATHER index read: the beat's payload is the next row's index
  } meta_t;
  localparam int unsigned MW = XB + BUFW + RAW + 3 * LW + 3;   // bits of meta_t
  localparam int unsigned IDX_BYTES = 4;                         // one int32 index per row

  nmx_isa_pkg::load_insn_t ci;
  assign ci = nmx_isa_pkg::load_insn_t'(cmd_insn);

  logic halted;                  // error seen or halt: issue and write nothing new
  logic err_seen;

  // ---------------------------------------------------------------- command register
  logic                    pend_valid;
  /* verilator lint_off UNUSEDSIGNAL */
  nmx_isa_pkg::load_insn_t pend;          // opcode, token and reserved bits are not needed
  /* verilator lint_on UNUSEDSIGNAL */
  logic [XB-1:0]           pend_index;
  /* verilator lint_off UNUSEDSIGNAL */
  nmx_isa_pkg::gather_insn_t pg;           // the GATHER view of the pending command
  /* verilator lint_on UNUSEDSIGNAL */
  assign pg = nmx_isa_pkg::gather_insn_t'(pend);

  assign cmd_ready = !pend_valid && !halted;

  // ---------------------------------------------------------------- AR issue path
  logic            act;
  logic [XB-1:0]   a_index;
  logic [BUFW-1:0] a_buf;
  logic            a_contig;
  logic [LW-1:0]   a_ebytes;     // element bytes E
  logic [LW-1:0]   a_rowbytes;   // x_size * E
  logic [XSW-1:0]  a_xlast;      // x_size - 1
  logic [XTW-1:0]  a_xstride;
  logic [YTW-1:0]  a_ystride;
  logic [YSW-1:0]  a_yleft;      // rows left including the current one
  logic [RAW-1:0]  a_row;
  logic [XSW-1:0]  a_x;          // current element (gather)
  logic [AW-1:0]   a_rowaddr;    // address of element (y, 0)
  logic [AW-1:0]   a_elemaddr;   // address of element (y, x)
  logic [AW-1:0]   a_cur;        // next byte of the current segment
  logic [LW-1:0]   a_segrem;     // bytes left in the current segment
  logic [LW-1:0]   a_dest;       // row byte offset of a_cur
  logic            a_gather;     // GATHER command
  logic            a_gidx;       // GATHER: the next burst is the current row's index read
  logic            a_gwait;      // GATHER: waiting for the current row's index
  logic [AW-1:0]   a_idxaddr;    // GATHER: address of the next row's index
  logic [AW-1:0]   a_tbase;      // GATHER: table base (ext_addr)
  logic            idx_valid;    // GATHER: an index has arrived (R path) and is not yet used
  logic [AW-1:0]   idx_q;
  logic            idx_take;

  // the next burst of the current segment (4 KiB / 256-beat split)
  logic [AW-1:0]   b_addr;
  logic [LW-1:0]   b_off, b_take;
  logic            b_seg_done, b_row_done, b_cmd_done;
  logic [ALW-1:0]  b_len;

  nmx_axi_burst_split #(.BUS_BYTES(BB), .ADDR_BITS(AW), .BYTES_BITS(LW)) u_split (
    .addr        (a_cur),
    .bytes       (a_segrem),
    .burst_addr  (b_addr),
    .burst_len   (b_len),
    .burst_off   (b_off),
    .burst_bytes (b_take),
    .burst_last  (b_seg_done)
  );

  assign b_row_done = b_seg_done && !a_gidx && (a_contig || (a_x == a_xlast));
  assign b_cmd_done = b_row_done && (a_yleft == YSW'(1));

  logic  ar_valid;
  logic  meta_in_ready, meta_valid, meta_pop;
  meta_t meta_in, meta_head;
  logic  issue, start;

  assign issue    = act && !halted && !a_gwait && (!ar_valid || m_axi_arready) && meta_in_ready;
  assign idx_take = act && a_gwait && idx_valid;
  assign start = pend_valid && !halted && (!act || (issue && b_cmd_done));

  always_comb begin
    meta_in.index    = a_index;
    meta_in.buf_sel  = a_buf;
    meta_in.row      = a_row;
    meta_in.off      = b_off;
    meta_in.take     = b_take;
    meta_in.dest     = a_dest;
    meta_in.row_last = b_row_done;
    meta_in.cmd_last = b_cmd_done;
    meta_in.is_idx   = a_gidx;
  end

  // element bytes and contiguity of a command
  logic [LW-1:0] p_ebytes, p_rowbytes;
  logic          p_bytes, p_contig, p_gather;
  assign p_gather   = (pend.opcode == nmx_isa_pkg::OP_GATHER);
  assign p_bytes    = (pend.buf_sel == nmx_isa_pkg::BUF_INP) || (pend.buf_sel == nmx_isa_pkg::BUF_WGT);
  assign p_ebytes   = p_bytes ? ELEM_BYTE : ELEM_WORD;
  assign p_rowbytes = p_bytes ? LW'(pend.x_size) : (LW'(pend.x_size) << WORD_SHIFT);
  // GATHER rows are contiguous; a LOAD's are when x_stride is the element size (full width)
  assign p_contig   = p_gather || (pend.x_stride == XTW'(p_ebytes));

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      pend_valid <= 1'b0;
      act        <= 1'b0;
      ar_valid   <= 1'b0;
    end else begin
      if (m_axi_arready) ar_valid <= 1'b0;
      if (issue) begin
        ar_valid <= 1'b1;
        if (b_cmd_done) act <= 1'b0;
      end
      if (start) begin
        pend_valid <= 1'b0;
        act        <= 1'b1;
      end
      if (cmd_valid && cmd_ready) pend_valid <= 1'b1;
      if (halted) begin
        pend_valid <= 1'b0;
        act        <= 1'b0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (cmd_valid && cmd_ready) begin
      pend       <= ci;
      pend_index <= cmd_index;
    end
    if (idx_take) begin
      // GATHER: the row's address from its index (modulo 2**32), then the row as one segment
      a_cur    <= a_tbase + AW'(idx_q * AW'(a_ystride));
      a_segrem <= a_rowbytes;
      a_dest   <= '0;
      a_gwait  <= 1'b0;
    end
    if (issue) begin
      m_axi_araddr <= b_addr;
      m_axi_arlen  <= b_len;
      if (a_gidx) begin
        // GATHER: index read issued; wait for it
        a_gidx    <= 1'b0;
        a_gwait   <= 1'b1;
        a_idxaddr <= a_idxaddr + AW'(IDX_BYTES);
      end else if (!b_seg_done) begin
        // the segment continues in the next burst (4 KiB boundary)
        a_cur    <= a_cur + AW'(b_take);
        a_segrem <= a_segrem - b_take;
        a_dest   <= a_dest + b_take;
      end else if (!b_row_done) begin
        // gather: next element of the row
        a_x        <= a_x + XSW'(1);
        a_elemaddr <= a_elemaddr + AW'(a_xstride);
        a_cur      <= a_elemaddr + AW'(a_xstride);
        a_segrem   <= a_ebytes;
        a_dest     <= a_dest + b_take;
      end else begin
        // next row
        a_yleft    <= a_yleft - YSW'(1);
        a_row      <= a_row + RAW'(1);
        a_x        <= '0;
        a_rowaddr  <= a_rowaddr + AW'(a_ystride);
        a_elemaddr <= a_rowaddr + AW'(a_ystride);
        a_cur      <= a_rowaddr + AW'(a_ystride);
        a_segrem   <= a_contig ? a_rowbytes : a_ebytes;
        a_dest     <= '0;
        if (a_gather) begin
          a_gidx   <= 1'b1;
          a_cur    <= a_idxaddr;
          a_segrem <= LW'(IDX_BYTES);
        end
      end
    end
    if (start) begin
      a_index    <= pend_index;
      a_buf      <= pend.buf_sel;
      a_contig   <= p_contig;
      a_ebytes   <= p_ebytes;
      a_rowbytes <= p_rowbytes;
      a_xlast    <= pend.x_size - XSW'(1);
      a_xstride  <= pend.x_stride;
      a_ystride  <= pend.y_stride;
      a_yleft    <= pend.y_size;
      a_row      <= pend.sram_addr;
      a_x        <= '0;
      a_rowaddr  <= pend.ext_addr;
      a_elemaddr <= pend.ext_addr;
      a_cur      <= pend.ext_addr;
      a_segrem   <= p_contig ? p_rowbytes : p_ebytes;
      a_dest     <= '0;
      a_gather   <= p_gather;
      a_gidx     <= p_gather;
      a_gwait    <= 1'b0;
      a_tbase    <= pg.ext_addr;
      a_idxaddr  <= pg.idx_addr;
      if (p_gather) begin
        a_ystride <= YTW'(pg.y_stride);
        a_yleft   <= YSW'(pg.y_size);
        a_cur     <= pg.idx_addr;
        a_segrem  <= LW'(IDX_BYTES);
      end
    end
  end

  assign m_axi_arid    = '0;
  assign m_axi_arsize  = AR_SIZE;
  assign m_axi_arburst = nmx_cfg_pkg::AXI_BURST_INCR;
  assign m_axi_arvalid = ar_valid;

  // ---------------------------------------------------------------- burst metadata FIFO
  localparam int unsigned MCW = $clog2(RD_OUTSTANDING + 1);
  logic [MCW-1:0] meta_count;
  logic [MW-1:0]  meta_head_bits;

  nmx_fifo #(.WIDTH(MW), .DEPTH(RD_OUTSTANDING)) u_meta (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (issue),
    .in_ready  (meta_in_ready),
    .in_data   (meta_in),
    .out_valid (meta_valid),
    .out_ready (meta_pop),
    .out_data  (meta_head_bits),
    .count     (meta_count)
  );
  assign meta_head = meta_t'(meta_head_bits);

  // ---------------------------------------------------------------- R receive path
  logic              r_first;    // next beat is the first of the head burst
  logic [LW-1:0]     r_rem, r_dest;
  logic [LW-1:0]     c_lo, c_rem, c_dest, c_n;
  logic              c_last, beat;
  logic [RB*8-1:0]   rowbuf, placed, row_next;
  logic [SB*8-1:0]   beat_bytes, shifted;

  assign m_axi_rready = meta_valid;
  assign beat         = m_axi_rvalid && meta_valid;
  assign meta_pop     = beat && c_last;

  always_comb begin
    c_lo   = r_first ? meta_head.off : '0;
    c_rem  = r_first ? meta_head.take : r_rem;
    c_dest = r_first ? meta_head.dest : r_dest;
    c_n    = LW'(BB) - c_lo;
    if (c_rem < c_n) c_n = c_rem;
    c_last = (c_n == c_rem);
    // payload bytes of the beat, moved to their row position
    beat_bytes = SBW'(m_axi_rdata >> (c_lo * 8));
    for (int b = 0; b < int'(SB); b++) begin
      if (LW'(b) >= c_n) beat_bytes[b*8 +: 8] = '0;
    end
    shifted  = beat_bytes << (c_dest * 8);
    placed   = shifted[RB*8-1:0];
    row_next = rowbuf | placed;
  end

  // row write and completion (registered)
  logic            wr_valid;
  logic [BUFW-1:0] wr_buf;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [RAW-1:0]  wr_row;                // each buffer uses its own address width
  /* verilator lint_on UNUSEDSIGNAL */
  logic [RB*8-1:0] wr_data;
  logic            cmpl_q;
  logic            err_q;
  logic [XB-1:0]   err_idx_q;
  logic            beat_err;

  assign beat_err = beat && m_axi_rresp[nmx_cfg_pkg::AXI_RESP_ERR_BIT];

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      r_first  <= 1'b1;
      rowbuf   <= '0;
      wr_valid <= 1'b0;
      cmpl_q   <= 1'b0;
      err_q    <= 1'b0;
      err_seen <= 1'b0;
      halted   <= 1'b0;
      idx_valid <= 1'b0;
    end else begin
      wr_valid <= 1'b0;
      cmpl_q   <= 1'b0;
      err_q    <= 1'b0;
      if (idx_take || start) idx_valid <= 1'b0;
      if (beat) begin
        r_first <= c_last;
        r_rem   <= c_rem - c_n;
        r_dest  <= c_dest + c_n;
        if (meta_head.is_idx) begin
          idx_valid <= !beat_err;
          idx_q     <= AW'(beat_bytes[IDX_BYTES*8-1:0]);
        end else if (c_last && meta_head.row_last) begin
          rowbuf   <= '0;
          wr_valid <= !halted && !beat_err;
          cmpl_q   <= !halted && !beat_err && meta_head.cmd_last;
        end else begin
          rowbuf <= row_next;
        end
        if (beat_err && !err_seen && !halted) begin
          err_q    <= 1'b1;
          err_seen <= 1'b1;
        end
      end
      if (halt || beat_err) halted <= 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (beat && c_last && meta_head.row_last) begin
      wr_buf  <= meta_head.buf_sel;
      wr_row  <= meta_head.row;
      wr_data <= row_next;
    end
    if (beat_err && !err_seen) err_idx_q <= meta_head.index;
  end

  assign inp_we    = wr_valid && (wr_buf == nmx_isa_pkg::BUF_INP);
  assign wgt_we    = wr_valid && (wr_buf == nmx_isa_pkg::BUF_WGT);
  assign vec_we    = wr_valid && (wr_buf == nmx_isa_pkg::BUF_VEC);
  assign row_we    = wr_valid && (wr_buf == nmx_isa_pkg::BUF_ROW);
  assign inp_waddr = INP_AW'(wr_row);
  assign wgt_waddr = WGT_AW'(wr_row);
  assign vec_waddr = VEC_AW'(wr_row);
  assign row_waddr = ROW_AW'(wr_row);
  assign inp_wdata = wr_data[INP_W-1:0];
  assign wgt_wdata = wr_data[WGT_W-1:0];
  assign vec_wdata = wr_data[VEC_W-1:0];
  assign row_wdata = wr_data[ROW_W-1:0];

  assign cmpl_valid = cmpl_q;
  assign err_valid  = err_q;
  assign err_code   = EB'(nmx_isa_pkg::ERR_AXI_READ);
  assign err_index  = err_idx_q;

  assign idle = !pend_valid && !act && !ar_valid && !meta_valid && !wr_valid && !cmpl_q;

  // ---------------------------------------------------------------- counters
  assign rd_bytes_valid = beat;
  assign rd_bytes       = BYTES_W'(c_n);
  assign stall_mem      = meta_valid && !beat;

  // rid/rlast are not needed: one ID, bursts are counted from their metadata
  logic unused;
  assign unused = ^{m_axi_rid, m_axi_rlast, meta_count, ci.reserved, ci.opcode, ci.pop_ld,
                    ci.pop_cmp, ci.pop_st, ci.push_ld, ci.push_cmp, ci.push_st};

endmodule : nmx_load_engine
