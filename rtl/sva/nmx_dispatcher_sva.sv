// nmx_dispatcher_sva: rules of nmx_dispatcher - the static checks of docs/isa.md section 5, written
// again here from the ISA's tables (bit positions of docs/isa.md section 7, not the RTL's structs),
// the routing of checked instructions to their queue, the numbering, and the intake handshake.
module nmx_dispatcher_sva #(
  parameter int unsigned ROWS        = 16,
  parameter int unsigned COLS        = 16,
  parameter int unsigned INP_DEPTH   = 4096,
  parameter int unsigned WGT_DEPTH   = 4096,
  parameter int unsigned ACC_DEPTH   = 1024,
  parameter int unsigned VEC_DEPTH   = 512,
  parameter int unsigned QUEUE_DEPTH = 8,
  localparam int unsigned IB = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB = nmx_isa_pkg::ERROR_BITS
) (
  input logic                  clk,
  input logic                  rst_n,
  input logic                  insn_valid,
  input logic                  insn_ready,
  input logic [IB-1:0]         insn_data,
  input logic                  halt,
  input logic                  accept,
  input logic                  dispatched,
  input logic                  finish_seen,
  input logic                  err_valid,
  input logic [EB-1:0]         err_code,
  input logic [XB-1:0]         err_index,
  input logic                  held_valid,
  input logic [IB-1:0]         held,
  input logic [XB-1:0]         held_index,
  input logic [XB-1:0]         next_index,
  input logic                  finish_in,
  input logic                  err_sent,
  input logic [NQ-1:0]         fifo_push,
  input logic [NQ-1:0]         fifo_in_ready
);

  `NMX_SVA_INIT

  localparam int unsigned PWL_ROWS = (nmx_isa_pkg::PWL_WORDS + COLS - 1) / COLS;
  localparam logic [EB-1:0] E_OPC = EB'(nmx_isa_pkg::ERR_ILLEGAL_OPCODE);
  localparam logic [EB-1:0] E_FLD = EB'(nmx_isa_pkg::ERR_ILLEGAL_FIELD);
  localparam logic [EB-1:0] E_RNG = EB'(nmx_isa_pkg::ERR_BUF_RANGE);

  `NMX_SVA_RST_SEEN
  logic active_q = 1'b0;
  logic active;
  assign active = rst_n && rst_seen;

  logic          accept_q, err_sent_q, finish_in_q;
  logic [IB-1:0] insn_q;
  logic [XB-1:0] next_index_q;

  always @(posedge clk) begin
    active_q     <= active;
    accept_q     <= accept;
    insn_q       <= insn_data;
    next_index_q <= next_index;
    err_sent_q   <= err_sent;
    finish_in_q  <= finish_in;
  end

  // ---------------------------------------------------------------- reference checks of `held`
  // 18-bit sums: a 16-bit row field plus a 16-bit count never overflows
  logic [3:0]  r_op;
  logic [2:0]  r_pops, r_pushes;
  logic        r_opc_bad, r_fld_bad, r_rng_bad, r_finish;
  logic [1:0]  r_dest;
  logic [17:0] r_width, r_depth;

  always @(*) begin
    r_op      = held[3:0];
    r_pops    = held[6:4];
    r_pushes  = held[9:7];
    r_opc_bad = 1'b0;
    r_fld_bad = 1'b0;
    r_rng_bad = 1'b0;
    r_finish  = 1'b0;
    r_dest    = 2'd0;
    // row width / depth of a LOAD or GATHER destination buffer (buf_sel [11:10])
    case (held[11:10])
      2'd0:    begin r_width = 18'(ROWS); r_depth = 18'(INP_DEPTH); end
      2'd1:    begin r_width = 18'(COLS); r_depth = 18'(WGT_DEPTH); end
      2'd2:    begin r_width = 18'(COLS); r_depth = 18'(VEC_DEPTH); end
      default: begin r_width = 18'd2;     r_depth = 18'(ACC_DEPTH); end
    endcase
    case (r_op)
      4'd1: begin  // LOAD
        r_dest    = 2'd0;
        r_fld_bad = (held[127:124] != '0) || (held[35:28] == '0) || (18'(held[35:28]) > r_width) ||
                    (held[67:52] == '0);
        r_rng_bad = 18'(held[27:12]) + 18'(held[67:52]) > r_depth;
      end
      4'd2: begin  // GEMM
        r_dest    = 2'd1;
        r_fld_bad = (held[127:75] != '0) || (held[73:58] == '0);
        r_rng_bad = (18'(held[25:10]) + 18'(held[73:58]) > 18'(INP_DEPTH)) ||
                    (18'(held[41:26]) + 18'(ROWS) > 18'(WGT_DEPTH)) ||
                    (18'(held[57:42]) + 18'(held[73:58]) > 18'(ACC_DEPTH));
      end
      4'd3: begin  // STORE
        r_dest    = 2'd2;
        r_fld_bad = (held[127:122] != '0) || (held[33:26] == '0) || (18'(held[33:26]) > 18'(COLS)) ||
                    (held[65:50] == '0);
        r_rng_bad = 18'(held[25:10]) + 18'(held[65:50]) > 18'(ACC_DEPTH);
      end
      4'd4: begin  // PPUCFG: rows of the enabled stages only
        r_dest    = 2'd2;
        r_fld_bad = (held[127:85] != '0);
        r_rng_bad = (held[10] && (18'(held[36:21]) >= 18'(VEC_DEPTH))) ||
                    (held[12] && ((18'(held[52:37]) >= 18'(VEC_DEPTH)) || (18'(held[68:53]) >= 18'(VEC_DEPTH)))) ||
                    (held[13] && (18'(held[84:69]) + 18'(PWL_ROWS) > 18'(VEC_DEPTH)));
      end
      4'd5: begin  // SYNC
        r_dest    = held[11:10];
        r_fld_bad = (held[127:12] != '0) || (held[11:10] == 2'd3);
      end
      4'd6: begin  // FINISH
        r_finish  = 1'b1;
        r_fld_bad = (held[127:4] != '0);
      end
      4'd7: begin  // GATHER
        r_dest    = 2'd0;
        r_fld_bad = (held[127:126] != '0) || (held[95:94] != 2'b00) || (held[35:28] == '0) ||
                    (18'(held[35:28]) > r_width) || (held[47:36] == '0);
        r_rng_bad = 18'(held[27:12]) + 18'(held[47:36]) > r_depth;
      end
      default: r_opc_bad = 1'b1;
    endcase
    // a token bit naming the instruction's own queue
    if (!r_opc_bad && !r_finish && r_dest != 2'd3 && (r_pops[r_dest] || r_pushes[r_dest])) r_fld_bad = 1'b1;
  end

  logic          r_bad;
  logic [EB-1:0] r_code;
  assign r_bad  = r_opc_bad || r_fld_bad || r_rng_bad;
  assign r_code = r_opc_bad ? E_OPC : r_fld_bad ? E_FLD : E_RNG;

  logic [NQ-1:0] pushed;
  assign pushed = fifo_push & fifo_in_ready;

  always @(posedge clk) begin
    if (active) begin
      // the checks: a held instruction raises its error, with the ISA's code and its own index, exactly
      // when the reference finds it illegal
      `NMX_ASSERT(a_disp_check_fail, !(held_valid && !err_sent && !halt) || (err_valid == r_bad))
      `NMX_ASSERT(a_disp_check_code, !err_valid || (err_code == r_code && err_index == held_index))
      // routing: only a checked instruction enters a queue, only its own, one at a time; FINISH never
      `NMX_ASSERT(a_disp_route, (pushed == '0) || (held_valid && !r_bad && !r_finish &&
                                                   pushed == (NQ'(1) << r_dest)))
      `NMX_ASSERT(a_disp_one_push, (fifo_push & (fifo_push - NQ'(1))) == '0)
      `NMX_ASSERT(a_disp_finish_seen, !finish_seen || finish_in)
      // a held FINISH was taken from the stream, so nothing more is: the intake state is consistent
      `NMX_ASSERT(a_disp_held_finish, !(held_valid && held[3:0] == 4'd6) || finish_in)
      // intake: nothing is taken after FINISH, after an error, or while halted
      `NMX_ASSERT(a_disp_no_accept, !insn_ready || !(finish_in || err_sent || halt))
      `NMX_ASSERT(a_disp_accept, accept == (insn_valid && insn_ready))
      `NMX_ASSERT(a_disp_dispatched, !dispatched || (held_valid && !r_bad && !err_sent && !halt))
    end
    if (active && active_q) begin
      // numbering: instruction indices count the accepted instructions from 0
      `NMX_ASSERT(a_disp_index_step, next_index == next_index_q + XB'(accept_q))
      `NMX_ASSERT(a_disp_held_capture, !accept_q || (held_valid && held == insn_q && held_index == next_index_q))
      `NMX_ASSERT(a_disp_sticky, (!err_sent_q || err_sent) && (!finish_in_q || finish_in))
    end
  end

endmodule : nmx_dispatcher_sva

`ifndef FORMAL
bind nmx_dispatcher nmx_dispatcher_sva #(
  .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH),
  .VEC_DEPTH(VEC_DEPTH), .QUEUE_DEPTH(QUEUE_DEPTH)
) u_dispatcher_sva (.*);
`endif
