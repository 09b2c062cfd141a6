// nmx_gemm_engine: the CMP engine. Executes GEMM commands (docs/isa.md section 3):
//
//   ACC[acc_addr + i][c] = accumulate ? wrap32(ACC[acc_addr + i][c] + p) : p,
//   p = sum_k INP[inp_addr + i][k] * WGT[wgt_addr + k][c],  i < m, c < COLS, k < ROWS.
//
// Three decoupled units, all in command order (see docs/rtl_compute.md):
//   * preload (PL): per command, waits until its weight bank (banks alternate per command) is
//     free, reads WGT rows wgt_addr+ROWS-1 .. wgt_addr and shifts them into that bank. This
//     overlaps the previous command's stream.
//   * stream (SU): once a command's bank is loaded, reads one INP row per cycle (mac_active) and
//     sends it, skewed, into the array tagged with the bank; the next loaded command follows
//     without a bubble.
//   * writeback: de-skews the array output; the accumulate read of ACC is issued one cycle
//     ahead (stage A) so it meets the row (stage B); the sum is registered (stage C, ACC
//     write). Rows written in the two cycles before a row's stage B (stages C and D) are
//     forwarded, so back-to-back accumulation into the same ACC rows is exact for any m.
// cmpl_valid pulses (stage D) the cycle after the last ACC row of a command was written.
//
// Preconditions (guaranteed by the dispatcher's static checks): m >= 1, every row in range.
// The engine raises no errors: err_valid is tied low. halt: stop accepting and issuing; rows
// already in the array drain into ACC; no cmpl_valid pulses after halt; idle rises when empty.
module nmx_gemm_engine #(
  parameter int unsigned ROWS      = 16,
  parameter int unsigned COLS      = 16,
  parameter int unsigned INP_DEPTH = 4096,
  parameter int unsigned WGT_DEPTH = 4096,
  parameter int unsigned ACC_DEPTH = 1024,
  localparam int unsigned DATA_W   = nmx_isa_pkg::BYTE_ELEM_BITS,   // INP/WGT int8
  localparam int unsigned ACC_W    = nmx_isa_pkg::WORD_ELEM_BITS,   // ACC int32
  localparam int unsigned INP_AW   = (INP_DEPTH > 1) ? $clog2(INP_DEPTH) : 1,
  localparam int unsigned WGT_AW   = (WGT_DEPTH > 1) ? $clog2(WGT_DEPTH) : 1,
  localparam int unsigned ACC_AW   = (ACC_DEPTH > 1) ? $clog2(ACC_DEPTH) : 1,
  localparam int unsigned INDEX_W  = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned ERR_W    = nmx_isa_pkg::ERROR_BITS
) (
  input  logic                     clk,
  input  logic                     rst_n,
  // engine command interface (docs/architecture.md)
  input  logic                     cmd_valid,
  output logic                     cmd_ready,
  input  logic [nmx_isa_pkg::INSN_BITS-1:0] cmd_insn,
  input  logic [INDEX_W-1:0]       cmd_index,
  output logic                     cmpl_valid,
  output logic                     err_valid,
  output logic [ERR_W-1:0]         err_code,
  output logic [INDEX_W-1:0]       err_index,
  input  logic                     halt,
  output logic                     idle,
  // INP read port
  output logic                     inp_re,
  output logic [INP_AW-1:0]        inp_raddr,
  input  logic [ROWS*DATA_W-1:0]   inp_rdata,
  // WGT read port
  output logic                     wgt_re,
  output logic [WGT_AW-1:0]        wgt_raddr,
  input  logic [COLS*DATA_W-1:0]   wgt_rdata,
  // ACC read port (gemm-side copy) and the shared ACC write port
  output logic                     acc_re,
  output logic [ACC_AW-1:0]        acc_raddr,
  input  logic [COLS*ACC_W-1:0]    acc_rdata,
  output logic                     acc_we,
  output logic [ACC_AW-1:0]        acc_waddr,
  output logic [COLS*ACC_W-1:0]    acc_wdata,
  // a row of INP enters the array this cycle (MAC_CYCLES / GEMM_ROWS)
  output logic                     mac_active
);

  localparam int unsigned NUM_BANKS = 2;
  localparam int unsigned M_W       = nmx_isa_pkg::GEMM_M_BITS;
  localparam int unsigned ROWS_CW   = $clog2(ROWS + 1);
  // Drain counter of a bank, loaded when its last row's INP read is issued (cycle s): that row
  // is in PE(ROWS-1, COLS-1) in cycle s+ROWS+COLS-1, the earliest legal cycle for the first
  // reload shift. The counter reads 0 in cycle s+1+DRAIN, when the reload's first WGT read may
  // issue; its shift follows one cycle later: s+2+DRAIN = s+ROWS+COLS-1.
  localparam int unsigned DRAIN     = (ROWS + COLS > 3) ? ROWS + COLS - 3 : 0;
  localparam int unsigned DRAIN_W   = (DRAIN > 0) ? $clog2(DRAIN + 1) : 1;
  // Tag pipeline: entry j belongs to the row whose INP read was issued j+1 cycles earlier.
  // entry 0: INP data valid, row enters the array; LAT-2: stage A; LAT-1: stage B.
  localparam int unsigned LAT       = ROWS + COLS;
  localparam int unsigned STAGE_A   = LAT - 2;
  localparam int unsigned STAGE_B   = LAT - 1;

  nmx_isa_pkg::gemm_insn_t insn;
  assign insn = nmx_isa_pkg::gemm_insn_t'(cmd_insn);

  // Only the GEMM fields are used; tokens, opcode and reserved bits are the dispatcher's.
  logic unused_cmd;
  assign unused_cmd = ^{cmd_index, insn.reserved, insn.push_st, insn.push_cmp, insn.push_ld,
                        insn.pop_st, insn.pop_cmp, insn.pop_ld, insn.opcode};

  assign err_valid = 1'b0;
  assign err_code  = ERR_W'(nmx_isa_pkg::ERR_NONE);
  assign err_index = '0;

  // ---------------------------------------------------------------- bank state
  // Per bank: loaded flag, the stream part of its command, and the drain counter.
  logic [NUM_BANKS-1:0]         bank_loaded;
  logic [NUM_BANKS*INP_AW-1:0]  bank_inp;
  logic [NUM_BANKS*ACC_AW-1:0]  bank_acc;
  logic [NUM_BANKS*M_W-1:0]     bank_m;
  logic [NUM_BANKS-1:0]         bank_accum;
  logic [NUM_BANKS*DRAIN_W-1:0] drain_cnt;

  // ---------------------------------------------------------------- preload unit
  logic                 pl_valid;      // holds an accepted command not yet fully preloaded
  logic                 pl_started;    // its WGT reads have begun
  logic                 pl_bank;       // bank the held command preloads into
  logic [INP_AW-1:0]    pl_inp;
  logic [ACC_AW-1:0]    pl_acc;
  logic [M_W-1:0]       pl_m;
  logic                 pl_accum;
  logic [WGT_AW-1:0]    pl_raddr;
  logic [ROWS_CW-1:0]   pl_left;       // WGT reads still to issue
  logic                 pl_bank_free;
  logic                 pl_go;         // issue a WGT read this cycle
  logic                 wl_en;         // shift the row read last cycle into the array
  logic                 wl_last;       // ... and it is the last row of the tile
  logic                 cmd_fire;

  assign pl_bank_free = !bank_loaded[pl_bank] && (drain_cnt[pl_bank*DRAIN_W +: DRAIN_W] == '0);
  assign pl_go        = pl_valid && !halt && (pl_left != '0) && (pl_started || pl_bank_free);
  assign wgt_re       = pl_go;
  assign wgt_raddr    = pl_raddr;

  assign cmd_ready = !halt && (!pl_valid || wl_last);
  assign cmd_fire  = cmd_valid && cmd_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      pl_valid   <= 1'b0;
      pl_started <= 1'b0;
      pl_bank    <= 1'b0;
      pl_left    <= '0;
      wl_en      <= 1'b0;
      wl_last    <= 1'b0;
    end else begin
      wl_en   <= pl_go;
      wl_last <= pl_go && (pl_left == ROWS_CW'(1));
      if (pl_go) begin
        pl_started <= 1'b1;
        pl_left    <= pl_left - ROWS_CW'(1);
      end
      if (wl_last) begin
        pl_valid <= 1'b0;
        pl_bank  <= ~pl_bank;
      end
      if (cmd_fire) begin
        pl_valid   <= 1'b1;
        pl_started <= 1'b0;
        pl_left    <= ROWS_CW'(ROWS);
      end
      if (halt) pl_valid <= 1'b0;
    end
  end

  always_ff @(posedge clk) begin
    if (cmd_fire) begin
      pl_raddr <= WGT_AW'(insn.wgt_addr) + WGT_AW'(ROWS - 1);
      pl_inp   <= INP_AW'(insn.inp_addr);
      pl_acc   <= ACC_AW'(insn.acc_addr);
      pl_m     <= insn.m;
      pl_accum <= insn.accumulate;
    end else if (pl_go) begin
      pl_raddr <= pl_raddr - WGT_AW'(1);
    end
  end

  // ---------------------------------------------------------------- stream unit
  logic               su_active;
  logic               su_bank;
  logic [INP_AW-1:0]  su_inp;        // next INP row
  logic [ACC_AW-1:0]  su_acc;        // its ACC row
  logic [M_W-1:0]     su_left;       // rows left, including this one
  logic               su_accum;
  logic               su_issue;
  logic               su_last;
  logic               su_load;       // take the command of bank su_sel into the stream unit
  logic               su_sel;

  assign su_issue  = su_active && !halt;
  assign su_last   = (su_left == M_W'(1));
  assign inp_re    = su_issue;
  assign inp_raddr = su_inp;
  // continue with the other bank right after a last row, or start when idle
  assign su_sel    = su_issue ? ~su_bank : su_bank;
  assign su_load   = !halt && bank_loaded[su_sel] && (su_issue ? su_last : !su_active);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      su_active   <= 1'b0;
      su_bank     <= 1'b0;
      bank_loaded <= '0;
      drain_cnt   <= '0;
    end else begin
      for (int b = 0; b < NUM_BANKS; b++) begin
        if (drain_cnt[b*DRAIN_W +: DRAIN_W] != '0) begin
          drain_cnt[b*DRAIN_W +: DRAIN_W] <= drain_cnt[b*DRAIN_W +: DRAIN_W] - DRAIN_W'(1);
        end
      end
      if (su_issue && su_last) begin
        bank_loaded[su_bank]                  <= 1'b0;
        drain_cnt[su_bank*DRAIN_W +: DRAIN_W] <= DRAIN_W'(DRAIN);
        su_bank                               <= ~su_bank;
        su_active                             <= 1'b0;
      end
      if (su_load) su_active <= 1'b1;
      // the preload unit completes a bank (never the one the stream unit clears above)
      if (wl_last) bank_loaded[pl_bank] <= 1'b1;
      if (halt) begin
        su_active   <= 1'b0;
        bank_loaded <= '0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (su_load) begin
      su_inp   <= bank_inp[su_sel*INP_AW +: INP_AW];
      su_acc   <= bank_acc[su_sel*ACC_AW +: ACC_AW];
      su_left  <= bank_m[su_sel*M_W +: M_W];
      su_accum <= bank_accum[su_sel];
    end else if (su_issue) begin
      su_inp  <= su_inp + INP_AW'(1);
      su_acc  <= su_acc + ACC_AW'(1);
      su_left <= su_left - M_W'(1);
    end
    if (wl_last) begin
      bank_inp[pl_bank*INP_AW +: INP_AW] <= pl_inp;
      bank_acc[pl_bank*ACC_AW +: ACC_AW] <= pl_acc;
      bank_m[pl_bank*M_W +: M_W]         <= pl_m;
      bank_accum[pl_bank]                <= pl_accum;
    end
  end

  // ---------------------------------------------------------------- tags, skew, array
  // tag bit/field j belongs to the row whose INP read was issued j+1 cycles earlier.
  logic [LAT-1:0]        tag_valid, tag_last, tag_accum;
  logic [LAT*ACC_AW-1:0] tag_addr;
  logic                  tag0_bank;

  always_ff @(posedge clk) begin
    if (!rst_n) tag_valid <= '0;
    else        tag_valid <= {tag_valid[LAT-2:0], su_issue};
  end

  always_ff @(posedge clk) begin
    tag_last  <= {tag_last[LAT-2:0], su_last};
    tag_accum <= {tag_accum[LAT-2:0], su_accum};
    tag_addr  <= {tag_addr[(LAT-1)*ACC_AW-1:0], su_acc};
    tag0_bank <= su_bank;
  end

  assign mac_active = tag_valid[0];

  // Input skew: element k of the row read last cycle enters array row k after k cycles.
  // Idle slots carry zero activations.
  logic [ROWS*DATA_W-1:0] arr_act;
  logic [ROWS-1:0]        arr_bank;
  logic [ROWS*DATA_W-1:0] act0;

  assign act0 = tag_valid[0] ? inp_rdata : '0;

  for (genvar r = 0; r < ROWS; r++) begin : g_skew
    if (r == 0) begin : g_direct
      assign arr_act[0 +: DATA_W] = act0[0 +: DATA_W];
      assign arr_bank[0]          = tag0_bank;
    end else begin : g_delay
      // stage j at [j*DATA_W +: DATA_W]; the last stage feeds the array
      logic [r*DATA_W-1:0] act_q;
      logic [r-1:0]        bank_q;
      if (r == 1) begin : g_one
        always_ff @(posedge clk) begin
          act_q  <= act0[r*DATA_W +: DATA_W];
          bank_q <= tag0_bank;
        end
      end else begin : g_many
        always_ff @(posedge clk) begin
          act_q  <= {act_q[(r-1)*DATA_W-1:0], act0[r*DATA_W +: DATA_W]};
          bank_q <= {bank_q[r-2:0], tag0_bank};
        end
      end
      assign arr_act[r*DATA_W +: DATA_W] = act_q[(r-1)*DATA_W +: DATA_W];
      assign arr_bank[r]                 = bank_q[r-1];
    end
  end

  logic [COLS*ACC_W-1:0] arr_psum;

  nmx_systolic_array #(.ROWS(ROWS), .COLS(COLS), .DATA_W(DATA_W), .PSUM_W(ACC_W)) u_array (
    .clk      (clk),
    .act_in   (arr_act),
    .bank_in  (arr_bank),
    .wl_en    (wl_en),
    .wl_bank  (pl_bank),
    .wl_data  (wgt_rdata),
    .psum_out (arr_psum)
  );

  // De-skew: column c leaves the array c cycles after column 0; delay it COLS-1-c cycles so a
  // whole result row is aligned at stage B.
  logic [COLS*ACC_W-1:0] prod_row;

  for (genvar c = 0; c < COLS; c++) begin : g_deskew
    localparam int unsigned DLY = COLS - 1 - c;
    if (DLY == 0) begin : g_direct
      assign prod_row[c*ACC_W +: ACC_W] = arr_psum[c*ACC_W +: ACC_W];
    end else begin : g_delay
      logic [DLY*ACC_W-1:0] q;
      if (DLY == 1) begin : g_one
        always_ff @(posedge clk) q <= arr_psum[c*ACC_W +: ACC_W];
      end else begin : g_many
        always_ff @(posedge clk) q <= {q[(DLY-1)*ACC_W-1:0], arr_psum[c*ACC_W +: ACC_W]};
      end
      assign prod_row[c*ACC_W +: ACC_W] = q[(DLY-1)*ACC_W +: ACC_W];
    end
  end

  // ---------------------------------------------------------------- ACC read-modify-write
  // stage A: accumulate read issued one cycle before the row is complete
  assign acc_re    = tag_valid[STAGE_A] && tag_accum[STAGE_A];
  assign acc_raddr = tag_addr[STAGE_A*ACC_AW +: ACC_AW];

  // stage C: registered sum, written to ACC; stage D: the write of the previous cycle
  logic                  c_valid, c_last, d_valid, d_last;
  logic [ACC_AW-1:0]     c_addr, d_addr;
  logic [COLS*ACC_W-1:0] c_data, d_data;

  // stage B: forward rows whose ACC write the stage-A read could not see
  logic [COLS*ACC_W-1:0] old_row, sum_row;
  logic [ACC_AW-1:0]     b_addr;

  assign b_addr = tag_addr[STAGE_B*ACC_AW +: ACC_AW];

  always_comb begin
    if (c_valid && (c_addr == b_addr))      old_row = c_data;
    else if (d_valid && (d_addr == b_addr)) old_row = d_data;
    else                                    old_row = acc_rdata;
    for (int c = 0; c < COLS; c++) begin
      sum_row[c*ACC_W +: ACC_W] = tag_accum[STAGE_B]
          ? old_row[c*ACC_W +: ACC_W] + prod_row[c*ACC_W +: ACC_W]
          : prod_row[c*ACC_W +: ACC_W];
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      c_valid <= 1'b0;
      d_valid <= 1'b0;
    end else begin
      c_valid <= tag_valid[STAGE_B];
      d_valid <= c_valid;
    end
  end

  always_ff @(posedge clk) begin
    c_last <= tag_last[STAGE_B];
    c_addr <= b_addr;
    c_data <= sum_row;
    d_last <= c_last;
    d_addr <= c_addr;
    d_data <= c_data;
  end

  assign acc_we    = c_valid;
  assign acc_waddr = c_addr;
  assign acc_wdata = c_data;

  assign cmpl_valid = d_valid && d_last && !halt;

  // ---------------------------------------------------------------- idle
  assign idle = !pl_valid && !wl_en && (bank_loaded == '0) && !su_active && (tag_valid == '0) &&
                !c_valid && !d_valid;

endmodule : nmx_gemm_engine
