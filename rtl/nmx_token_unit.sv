// nmx_token_unit: the six dependency-token counters between the three engine queues
// (docs/isa.md section 2, docs/architecture.md "Engine command interface").
//
// Per queue q (0 LD, 1 CMP, 2 ST):
//   * The FIFO head is taken (q_pop) only when every counter it pops (X->q for each pop_X) is
//     non-zero; the pops are performed in that cycle and the instruction moves into a one-entry
//     stage register that drives the engine's command port (cmd_valid/cmd_insn/cmd_index).
//   * A command accepted by the engine (cmd_valid && cmd_ready) is appended to the queue's
//     in-flight FIFO ({push bits, index}); each cmpl_valid pulse of the engine (in acceptance
//     order) pops it and performs its pushes (q->X for each push_X).
//   * SYNC never reaches the engine: in the stage register it waits until the in-flight FIFO is
//     empty (every earlier command of that engine completed), then performs its pushes.
// Errors (err_valid for one cycle, the top keeps the first):
//   * TOKEN_OVERFLOW: a push onto a counter at 2**TOKEN_BITS-1 (not popped in the same cycle),
//     reported for the pushing instruction.
//   * TOKEN_DEADLOCK: no further instruction can arrive (disp_stuck), no stage register or
//     in-flight command exists, every engine is idle, and every non-empty FIFO head waits for a
//     token; the index is the smallest among those heads.
// With several simultaneous errors the smallest instruction index is reported.
module nmx_token_unit #(
  parameter int unsigned TOKEN_BITS     = 16,
  parameter int unsigned INFLIGHT_DEPTH = 16,    // accepted-but-incomplete commands per engine
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic                  halt,
  // FIFO heads from the dispatcher
  input  logic [NQ-1:0]         q_valid,
  output logic [NQ-1:0]         q_pop,
  input  logic [NQ-1:0][IB-1:0] q_insn,
  input  logic [NQ-1:0][XB-1:0] q_index,
  input  logic                  disp_stuck,
  // engine command ports
  output logic [NQ-1:0]         cmd_valid,
  input  logic [NQ-1:0]         cmd_ready,
  output logic [NQ-1:0][IB-1:0] cmd_insn,
  output logic [NQ-1:0][XB-1:0] cmd_index,
  input  logic [NQ-1:0]         cmpl_valid,
  input  logic [NQ-1:0]         eng_idle,
  // status
  output logic [NQ-1:0]         stall_token,   // head waits for a token (STALL_*_TOKEN)
  output logic                  quiescent,     // no staged and no in-flight command
  output logic                  err_valid,
  output logic [EB-1:0]         err_code,
  output logic [XB-1:0]         err_index
);

  localparam int unsigned OPW   = nmx_isa_pkg::OPCODE_BITS;
  localparam int unsigned POPL  = nmx_isa_pkg::POP_LSB;
  localparam int unsigned PUSHL = nmx_isa_pkg::PUSH_LSB;
  localparam int unsigned FW    = NQ + XB;                      // in-flight entry {push, index}
  localparam int unsigned FCW   = $clog2(INFLIGHT_DEPTH + 1);
  localparam logic [TOKEN_BITS-1:0] TOK_MAX = '1;

  // tok[s][d]: counter s->d (pushed by queue s, popped by queue d); the diagonal is unused
  logic [NQ-1:0][NQ-1:0][TOKEN_BITS-1:0] tok;

  // ---------------------------------------------------------------- heads and stages
  logic [NQ-1:0]         head_ok;      // every token the head pops is available
  logic [NQ-1:0]         stg_valid, stg_sync, stg_leave, sync_fire;
  logic [NQ-1:0][IB-1:0] stg_insn;
  logic [NQ-1:0][XB-1:0] stg_index;
  logic [NQ-1:0]         fl_in_ready, fl_valid, fl_empty;
  logic [NQ-1:0][FW-1:0] fl_head;
  logic [NQ-1:0]         pe_valid;     // a push event of queue q this cycle
  logic [NQ-1:0][NQ-1:0] pe_bits;
  logic [NQ-1:0][XB-1:0] pe_index;

  always_comb begin
    for (int q = 0; q < int'(NQ); q++) begin
      head_ok[q] = 1'b1;
      for (int s = 0; s < int'(NQ); s++) begin
        if (q_insn[q][POPL + s] && (tok[s][q] == '0)) head_ok[q] = 1'b0;
      end
      stall_token[q] = q_valid[q] && !head_ok[q];
      stg_sync[q]    = (stg_insn[q][OPW-1:0] == OPW'(nmx_isa_pkg::OP_SYNC));
      cmd_valid[q]   = stg_valid[q] && !stg_sync[q] && fl_in_ready[q] && !halt;
      sync_fire[q]   = stg_valid[q] && stg_sync[q] && fl_empty[q] && !halt;
      stg_leave[q]   = (cmd_valid[q] && cmd_ready[q]) || sync_fire[q];
      q_pop[q]       = q_valid[q] && head_ok[q] && (!stg_valid[q] || stg_leave[q]) && !halt;
      // pushes: engine completion (in-flight head) or a SYNC leaving its stage
      pe_valid[q]    = sync_fire[q] || (cmpl_valid[q] && fl_valid[q]);
      pe_bits[q]     = sync_fire[q] ? stg_insn[q][PUSHL +: NQ] : fl_head[q][XB +: NQ];
      pe_index[q]    = sync_fire[q] ? stg_index[q] : fl_head[q][XB-1:0];
    end
  end

  assign cmd_insn  = stg_insn;
  assign cmd_index = stg_index;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      stg_valid <= '0;
    end else begin
      for (int q = 0; q < int'(NQ); q++) begin
        if (stg_leave[q]) stg_valid[q] <= 1'b0;
        if (q_pop[q]) stg_valid[q] <= 1'b1;
        if (halt) stg_valid[q] <= 1'b0;
      end
    end
  end

  always_ff @(posedge clk) begin
    for (int q = 0; q < int'(NQ); q++) begin
      if (q_pop[q]) begin
        stg_insn[q]  <= q_insn[q];
        stg_index[q] <= q_index[q];
      end
    end
  end

  // ---------------------------------------------------------------- in-flight FIFOs
  for (genvar q = 0; q < int'(NQ); q++) begin : g_inflight
    logic [FCW-1:0] count;
    nmx_fifo #(.WIDTH(FW), .DEPTH(INFLIGHT_DEPTH)) u_fifo (
      .clk       (clk),
      .rst_n     (rst_n),
      .in_valid  (cmd_valid[q] && cmd_ready[q]),
      .in_ready  (fl_in_ready[q]),
      .in_data   ({stg_insn[q][PUSHL +: NQ], stg_index[q]}),
      .out_valid (fl_valid[q]),
      .out_ready (cmpl_valid[q]),
      .out_data  (fl_head[q]),
      .count     (count)
    );
    assign fl_empty[q] = (count == '0);
  end

  // ---------------------------------------------------------------- counters
  logic [NQ-1:0][NQ-1:0] inc, dec, ovf;

  always_comb begin
    for (int s = 0; s < int'(NQ); s++) begin
      for (int d = 0; d < int'(NQ); d++) begin
        if (s != d) begin
          inc[s][d] = pe_valid[s] && pe_bits[s][d];
          dec[s][d] = q_pop[d] && q_insn[d][POPL + s];
        end else begin
          inc[s][d] = 1'b0;
          dec[s][d] = 1'b0;
        end
        ovf[s][d] = inc[s][d] && !dec[s][d] && (tok[s][d] == TOK_MAX);
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      tok <= '0;
    end else begin
      for (int s = 0; s < int'(NQ); s++) begin
        for (int d = 0; d < int'(NQ); d++) begin
          if (inc[s][d] && !dec[s][d]) tok[s][d] <= tok[s][d] + TOKEN_BITS'(1);
          else if (dec[s][d] && !inc[s][d]) tok[s][d] <= tok[s][d] - TOKEN_BITS'(1);
        end
      end
    end
  end

  // ---------------------------------------------------------------- errors
  logic          ovf_valid;
  logic [XB-1:0] ovf_index;
  logic          dl_valid;
  logic [XB-1:0] dl_index;
  logic          any_head;

  always_comb begin
    ovf_valid = 1'b0;
    ovf_index = '1;
    for (int s = 0; s < int'(NQ); s++) begin
      if ((ovf[s] != '0) && (pe_index[s] <= ovf_index)) begin
        ovf_valid = 1'b1;
        ovf_index = pe_index[s];
      end
    end
  end

  always_comb begin
    dl_valid = disp_stuck && (stg_valid == '0) && (fl_empty == '1) && (eng_idle == '1) &&
               (cmpl_valid == '0) && !halt;
    any_head = 1'b0;
    dl_index = '1;
    for (int q = 0; q < int'(NQ); q++) begin
      if (q_valid[q]) begin
        any_head = 1'b1;
        if (head_ok[q]) dl_valid = 1'b0;
        if (q_index[q] <= dl_index) dl_index = q_index[q];
      end
    end
    dl_valid = dl_valid && any_head;
  end

  always_comb begin
    err_valid = (ovf_valid || dl_valid) && !halt;
    if (ovf_valid) begin
      err_code  = EB'(nmx_isa_pkg::ERR_TOKEN_OVERFLOW);
      err_index = ovf_index;
    end else begin
      err_code  = EB'(nmx_isa_pkg::ERR_TOKEN_DEADLOCK);
      err_index = dl_index;
    end
  end

  assign quiescent = (stg_valid == '0) && (fl_empty == '1);

endmodule : nmx_token_unit
