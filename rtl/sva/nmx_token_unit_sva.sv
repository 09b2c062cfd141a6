// nmx_token_unit_sva: rules of nmx_token_unit - the dependency-token counters (docs/isa.md section 2),
// the command handshake towards the engines, and the two token errors. The engines' completions are
// an obligation of the neighbours (NMX_ASSUME: asserted in simulation, assumed by the formal proof).
module nmx_token_unit_sva #(
  parameter int unsigned TOKEN_BITS     = 16,
  parameter int unsigned INFLIGHT_DEPTH = 16,
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS
) (
  input logic                                  clk,
  input logic                                  rst_n,
  input logic                                  halt,
  input logic [NQ-1:0]                         q_valid,
  input logic [NQ-1:0]                         q_pop,
  input logic [NQ-1:0][IB-1:0]                 q_insn,
  input logic [NQ-1:0][XB-1:0]                 q_index,
  input logic                                  disp_stuck,
  input logic [NQ-1:0]                         cmd_valid,
  input logic [NQ-1:0]                         cmd_ready,
  input logic [NQ-1:0][IB-1:0]                 cmd_insn,
  input logic [NQ-1:0]                         cmpl_valid,
  input logic [NQ-1:0]                         eng_idle,
  input logic                                  err_valid,
  input logic [EB-1:0]                         err_code,
  input logic [XB-1:0]                         err_index,
  input logic [NQ-1:0][NQ-1:0][TOKEN_BITS-1:0] tok,
  input logic [NQ-1:0][NQ-1:0]                 inc,
  input logic [NQ-1:0][NQ-1:0]                 dec,
  input logic [NQ-1:0]                         stg_valid,
  input logic [NQ-1:0]                         stg_leave,
  input logic [NQ-1:0]                         fl_valid,
  input logic [NQ-1:0]                         fl_empty,
  input logic [NQ-1:0]                         fl_in_ready
);

  `NMX_SVA_INIT

  localparam int unsigned OPW  = nmx_isa_pkg::OPCODE_BITS;
  localparam int unsigned POPL = nmx_isa_pkg::POP_LSB;
  localparam logic [TOKEN_BITS-1:0] TOK_MAX = '1;
  localparam logic [EB-1:0] E_OVF = EB'(nmx_isa_pkg::ERR_TOKEN_OVERFLOW);
  localparam logic [EB-1:0] E_DL  = EB'(nmx_isa_pkg::ERR_TOKEN_DEADLOCK);

  `NMX_SVA_RST_SEEN
  logic active_q = 1'b0;
  logic active;
  assign active = rst_n && rst_seen;

  logic [NQ-1:0][NQ-1:0][TOKEN_BITS-1:0] tok_q;
  logic [NQ-1:0][NQ-1:0]                 inc_q, dec_q;
  logic [NQ-1:0]                         stall_q;     // cmd_valid && !cmd_ready
  logic [NQ-1:0][IB-1:0]                 cmd_insn_q;

  always @(posedge clk) begin
    active_q   <= active;
    tok_q      <= tok;
    inc_q      <= inc;
    dec_q      <= dec;
    stall_q    <= cmd_valid & ~cmd_ready;
    cmd_insn_q <= cmd_insn;
  end

  // an instruction of queue q: is its opcode one that queue q executes (SYNC: any queue)?
  function automatic logic routed(input int unsigned q, input logic [IB-1:0] w);
    logic [OPW-1:0] op;
    op = w[OPW-1:0];
    if (op == OPW'(nmx_isa_pkg::OP_SYNC)) routed = 1'b1;
    else if (q == 0) routed = (op == OPW'(nmx_isa_pkg::OP_LOAD)) || (op == OPW'(nmx_isa_pkg::OP_GATHER));
    else if (q == 1) routed = (op == OPW'(nmx_isa_pkg::OP_GEMM));
    else             routed = (op == OPW'(nmx_isa_pkg::OP_STORE)) || (op == OPW'(nmx_isa_pkg::OP_PPUCFG));
  endfunction

  // the ISA's deadlock condition (docs/isa.md section 2), written from the rule
  logic dl_cond, any_head, all_blocked, ovf_any;
  always @(*) begin
    any_head    = 1'b0;
    all_blocked = 1'b1;
    for (int q = 0; q < int'(NQ); q++) begin
      if (q_valid[q]) begin
        any_head = 1'b1;
        // the head is blocked when one of the counters it pops is empty
        if (!(((q_insn[q][POPL + 0]) && (tok[0][q] == '0)) ||
              ((q_insn[q][POPL + 1]) && (tok[1][q] == '0)) ||
              ((q_insn[q][POPL + 2]) && (tok[2][q] == '0)))) all_blocked = 1'b0;
      end
    end
    dl_cond = disp_stuck && any_head && all_blocked && (stg_valid == '0) && (fl_empty == '1) &&
              (eng_idle == '1) && (cmpl_valid == '0);
    ovf_any = 1'b0;
    for (int s = 0; s < int'(NQ); s++)
      for (int d = 0; d < int'(NQ); d++)
        if (inc[s][d] && !dec[s][d] && tok[s][d] == TOK_MAX) ovf_any = 1'b1;
  end

  always @(posedge clk) begin
    if (active) begin
      for (int q = 0; q < int'(NQ); q++) begin
        `NMX_ASSERT_LOOP(a_tok_diag_zero, tok[q][q] == '0)
        // the queue's head is taken only when every counter it pops holds a token
        `NMX_ASSERT_LOOP(a_tok_pop_needs_token, !q_pop[q] ||
                    !((q_insn[q][POPL + 0] && tok[0][q] == '0) || (q_insn[q][POPL + 1] && tok[1][q] == '0) ||
                      (q_insn[q][POPL + 2] && tok[2][q] == '0)))
        `NMX_ASSERT_LOOP(a_tok_stage_no_overwrite, !q_pop[q] || !stg_valid[q] || stg_leave[q])
        `NMX_ASSERT_LOOP(a_tok_cmd_route, !stg_valid[q] || routed(q, cmd_insn[q]))
        `NMX_ASSERT_LOOP(a_tok_sync_not_sent, !cmd_valid[q] ||
                    (cmd_insn[q][OPW-1:0] != OPW'(nmx_isa_pkg::OP_SYNC)))
        `NMX_ASSERT_LOOP(a_tok_inflight_no_overflow, !(cmd_valid[q] && cmd_ready[q]) || fl_in_ready[q])
        `NMX_ASSUME_LOOP(a_eng_cmpl_expected, !cmpl_valid[q] || fl_valid[q])
        `NMX_ASSUME_LOOP(a_disp_head_routed, !q_valid[q] || routed(q, q_insn[q]))
        for (int s = 0; s < int'(NQ); s++) begin
          `NMX_ASSERT_LOOP(a_tok_no_underflow, !dec[s][q] || tok[s][q] != '0)
        end
      end
      `NMX_ASSERT(a_tok_halt_quiet, !halt || ((q_pop == '0) && (cmd_valid == '0) && !err_valid))
      // TOKEN_OVERFLOW: a push onto a full counter (not popped in that cycle) is reported at once
      `NMX_ASSERT(a_tok_overflow_reported, halt || !ovf_any || (err_valid && err_code == E_OVF))
      `NMX_ASSERT(a_tok_overflow_legal, !(err_valid && err_code == E_OVF) || ovf_any)
      // TOKEN_DEADLOCK exactly when the ISA's condition holds
      `NMX_ASSERT(a_tok_deadlock_reported, halt || !dl_cond || err_valid)
      `NMX_ASSERT(a_tok_deadlock_legal, !(err_valid && err_code == E_DL) || dl_cond)
      `NMX_ASSERT(a_tok_err_code, !err_valid || err_code == E_OVF || err_code == E_DL)
    end
    if (active && active_q) begin
      for (int q = 0; q < int'(NQ); q++) begin
        // a command offered to an engine stays offered, unchanged, until the engine takes it
        `NMX_ASSERT_LOOP(a_tok_cmd_held, !stall_q[q] || halt || (cmd_valid[q] && cmd_insn[q] == cmd_insn_q[q]))
        for (int s = 0; s < int'(NQ); s++) begin
          // a counter moves only by its pushes and pops, by one
          `NMX_ASSERT_LOOP(a_tok_count_step, tok[s][q] == tok_q[s][q] + TOKEN_BITS'(inc_q[s][q] && !dec_q[s][q])
                                                     - TOKEN_BITS'(dec_q[s][q] && !inc_q[s][q]))
        end
      end
    end
  end

  logic unused;
  assign unused = ^{q_index, err_index};

endmodule : nmx_token_unit_sva

`ifndef FORMAL
bind nmx_token_unit nmx_token_unit_sva #(.TOKEN_BITS(TOKEN_BITS), .INFLIGHT_DEPTH(INFLIGHT_DEPTH)) u_token_unit_sva (.*);
`endif
