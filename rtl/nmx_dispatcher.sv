// nmx_dispatcher: instruction intake, numbering, static checks and routing (docs/isa.md 2 and 5).
//
//   * Accepts one instruction per beat on insn_valid/insn_ready and numbers them from 0.
//   * The accepted instruction is held in one register ("held") while it is checked. Checks, in
//     the order of docs/isa.md section 5 and golden.isa.decode/check_ranges:
//       1. ILLEGAL_OPCODE: opcode not in opcode_e;
//       2. ILLEGAL_FIELD : reserved bits set, SYNC queue naming no queue (3), FINISH with
//                          dependency bits, token bit naming the instruction's own queue,
//                          LOAD/GATHER/STORE x_size 0 or > row width, y_size = 0, GEMM m = 0,
//                          GATHER idx_addr not 4-byte aligned;
//       3. BUF_RANGE     : a buffer row the instruction touches is >= that buffer's depth (PPUCFG
//                          only checks the rows of its enabled stages).
//     A failing instruction raises err_valid (code, index) and the dispatcher stops accepting.
//   * A good instruction is pushed into the FIFO of its queue (LD: LOAD, GATHER; CMP: GEMM; ST: STORE,
//     PPUCFG; SYNC: its queue field). Each FIFO entry is {index, instruction word}.
//   * FINISH is not queued: once it is accepted nothing more is accepted; finish_seen rises when
//     it has passed its checks. The top raises done when the FIFOs are empty and engines idle.
//   * halt (an error anywhere) stops the intake immediately.
//
// Written in the Verilator/Yosys common subset (docs/rtl_top.md): qualified package references.
module nmx_dispatcher #(
  parameter int unsigned ROWS        = 16,
  parameter int unsigned COLS        = 16,
  parameter int unsigned INP_DEPTH   = 4096,
  parameter int unsigned WGT_DEPTH   = 4096,
  parameter int unsigned ACC_DEPTH   = 1024,
  parameter int unsigned VEC_DEPTH   = 512,
  parameter int unsigned QUEUE_DEPTH = 8,
  localparam int unsigned IB  = nmx_isa_pkg::INSN_BITS,
  localparam int unsigned XB  = nmx_cfg_pkg::INDEX_BITS,
  localparam int unsigned NQ  = nmx_isa_pkg::NUM_QUEUES,
  localparam int unsigned EB  = nmx_isa_pkg::ERROR_BITS,
  localparam int unsigned QCW = $clog2(QUEUE_DEPTH + 1)
) (
  input  logic                  clk,
  input  logic                  rst_n,
  // instruction stream
  input  logic                  insn_valid,
  output logic                  insn_ready,
  input  logic [IB-1:0]         insn_data,
  input  logic                  halt,
  // queue heads, to the token unit (bit/element q = queue_e q)
  output logic [NQ-1:0]         q_valid,
  input  logic [NQ-1:0]         q_pop,
  output logic [NQ-1:0][IB-1:0] q_insn,
  output logic [NQ-1:0][XB-1:0] q_index,
  // status
  output logic                  accept,        // an instruction was taken from the stream
  output logic                  dispatched,    // an instruction passed its checks (INSNS)
  output logic                  finish_seen,   // FINISH accepted and checked
  output logic                  stall,         // held instruction waits for a full FIFO
  output logic                  stuck,         // no further instruction can reach a FIFO
  output logic                  queues_empty,
  // static error
  output logic                  err_valid,
  output logic [EB-1:0]         err_code,
  output logic [XB-1:0]         err_index
);

  localparam int unsigned QW        = XB + IB;           // FIFO entry: {index, insn}
  localparam int unsigned PWL_ROWS  = (nmx_isa_pkg::PWL_WORDS + COLS - 1) / COLS;
  localparam int unsigned OPW       = nmx_isa_pkg::OPCODE_BITS;
  localparam int unsigned POPL      = nmx_isa_pkg::POP_LSB;
  localparam int unsigned PUSHL     = nmx_isa_pkg::PUSH_LSB;
  localparam int unsigned QB        = nmx_isa_pkg::QUEUE_BITS;
  // range checks add a buffer row field and a row count (both BUF_FW bits) and compare the sum
  // with a depth of up to 2**BUF_FW rows: one carry bit, plus one bit of headroom
  localparam int unsigned BUF_FW    = nmx_isa_pkg::LOAD_SRAM_ADDR_BITS;
  localparam int unsigned SUMW      = BUF_FW + 2;
  localparam logic [QB-1:0] NQ_Q      = QB'(NQ);         // SYNC queue values >= NQ name no queue

  // ---------------------------------------------------------------- held instruction
  logic          held_valid;
  logic [IB-1:0] held;
  logic [XB-1:0] held_index;
  logic [XB-1:0] next_index;
  logic          finish_in;      // FINISH has been taken from the stream
  logic          err_sent;

  // decoded views of the held word (each check reads only the fields it needs)
  /* verilator lint_off UNUSEDSIGNAL */
  nmx_isa_pkg::load_insn_t   d_load;
  nmx_isa_pkg::gather_insn_t d_gather;
  nmx_isa_pkg::gemm_insn_t   d_gemm;
  nmx_isa_pkg::store_insn_t  d_store;
  nmx_isa_pkg::ppucfg_insn_t d_ppu;
  nmx_isa_pkg::sync_insn_t   d_sync;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [OPW-1:0]            opcode;
  logic [NQ-1:0]             pops, pushes;

  assign d_load  = nmx_isa_pkg::load_insn_t'(held);
  assign d_gather = nmx_isa_pkg::gather_insn_t'(held);   // buf_sel, sram_addr, x_size as LOAD
  assign d_gemm  = nmx_isa_pkg::gemm_insn_t'(held);
  assign d_store = nmx_isa_pkg::store_insn_t'(held);
  assign d_ppu   = nmx_isa_pkg::ppucfg_insn_t'(held);
  assign d_sync  = nmx_isa_pkg::sync_insn_t'(held);
  assign opcode  = held[OPW-1:0];
  assign pops    = held[POPL +: NQ];
  assign pushes  = held[PUSHL +: NQ];

  // ---------------------------------------------------------------- checks
  logic          bad_opcode, bad_field, bad_range, is_finish, check_fail;
  logic [QB-1:0] dest;           // queue_e of a queued instruction
  logic [EB-1:0] fail_code;

  // row width and depth of a LOAD destination buffer
  logic [SUMW-1:0] ld_width, ld_depth;
  always_comb begin
    case (d_load.buf_sel)
      nmx_isa_pkg::BUF_INP: begin ld_width = SUMW'(ROWS); ld_depth = SUMW'(INP_DEPTH); end
      nmx_isa_pkg::BUF_WGT: begin ld_width = SUMW'(COLS); ld_depth = SUMW'(WGT_DEPTH); end
      nmx_isa_pkg::BUF_VEC: begin ld_width = SUMW'(COLS); ld_depth = SUMW'(VEC_DEPTH); end
      default: begin ld_width = SUMW'(nmx_isa_pkg::ROW_LANES); ld_depth = SUMW'(ACC_DEPTH); end
    endcase
  end

  // reserved bits above the format of each opcode must be zero
  function automatic logic reserved_set(input logic [IB-1:0] w, input int unsigned used);
    logic r;
    r = 1'b0;
    for (int unsigned b = 0; b < IB; b++) begin
      if (b >= used) r = r | w[b];
    end
    reserved_set = r;
  endfunction

  always_comb begin
    bad_opcode = 1'b0;
    bad_field  = 1'b0;
    bad_range  = 1'b0;
    is_finish  = 1'b0;
    dest       = QB'(nmx_isa_pkg::Q_LD);
    case (opcode)
      OPW'(nmx_isa_pkg::OP_LOAD): begin
        dest      = QB'(nmx_isa_pkg::Q_LD);
        bad_field = reserved_set(held, nmx_isa_pkg::LOAD_USED_BITS) ||
                    (d_load.x_size == '0) || (SUMW'(d_load.x_size) > ld_width) ||
                    (d_load.y_size == '0);
        bad_range = (SUMW'(d_load.sram_addr) + SUMW'(d_load.y_size)) > ld_depth;
      end
      OPW'(nmx_isa_pkg::OP_GATHER): begin
        dest      = QB'(nmx_isa_pkg::Q_LD);
        bad_field = reserved_set(held, nmx_isa_pkg::GATHER_USED_BITS) ||
                    (d_gather.idx_addr[1:0] != 2'b00) ||
                    (d_gather.x_size == '0) || (SUMW'(d_gather.x_size) > ld_width) ||
                    (d_gather.y_size == '0);
        bad_range = (SUMW'(d_gather.sram_addr) + SUMW'(d_gather.y_size)) > ld_depth;
      end
      OPW'(nmx_isa_pkg::OP_GEMM): begin
        dest      = QB'(nmx_isa_pkg::Q_CMP);
        bad_field = reserved_set(held, nmx_isa_pkg::GEMM_USED_BITS) || (d_gemm.m == '0);
        bad_range = ((SUMW'(d_gemm.inp_addr) + SUMW'(d_gemm.m)) > SUMW'(INP_DEPTH)) ||
                    ((SUMW'(d_gemm.wgt_addr) + SUMW'(ROWS)) > SUMW'(WGT_DEPTH)) ||
                    ((SUMW'(d_gemm.acc_addr) + SUMW'(d_gemm.m)) > SUMW'(ACC_DEPTH));
      end
      OPW'(nmx_isa_pkg::OP_STORE): begin
        dest      = QB'(nmx_isa_pkg::Q_ST);
        bad_field = reserved_set(held, nmx_isa_pkg::STORE_USED_BITS) ||
                    (d_store.x_size == '0) || (SUMW'(d_store.x_size) > SUMW'(COLS)) ||
                    (d_store.y_size == '0);
        bad_range = (SUMW'(d_store.sram_addr) + SUMW'(d_store.y_size)) > SUMW'(ACC_DEPTH);
      end
      OPW'(nmx_isa_pkg::OP_PPUCFG): begin
        dest      = QB'(nmx_isa_pkg::Q_ST);
        bad_field = reserved_set(held, nmx_isa_pkg::PPUCFG_USED_BITS);
        bad_range = (d_ppu.bias_en && (SUMW'(d_ppu.bias_row) >= SUMW'(VEC_DEPTH))) ||
                    (d_ppu.requant_en && ((SUMW'(d_ppu.mult_row) >= SUMW'(VEC_DEPTH)) ||
                                          (SUMW'(d_ppu.shift_row) >= SUMW'(VEC_DEPTH)))) ||
                    (d_ppu.pwl_en && ((SUMW'(d_ppu.pwl_row) + SUMW'(PWL_ROWS)) > SUMW'(VEC_DEPTH)));
      end
      OPW'(nmx_isa_pkg::OP_SYNC): begin
        dest      = d_sync.queue;
        bad_field = reserved_set(held, nmx_isa_pkg::SYNC_USED_BITS) || (d_sync.queue >= NQ_Q);
      end
      OPW'(nmx_isa_pkg::OP_FINISH): begin
        is_finish = 1'b1;
        bad_field = reserved_set(held, nmx_isa_pkg::FINISH_USED_BITS) || (pops != '0) ||
                    (pushes != '0);
      end
      default: bad_opcode = 1'b1;
    endcase
    // a queued instruction may not pop or push its own queue
    if (!is_finish && (dest < NQ_Q) && (pops[dest] || pushes[dest])) bad_field = 1'b1;
  end

  always_comb begin
    if (bad_opcode)     fail_code = EB'(nmx_isa_pkg::ERR_ILLEGAL_OPCODE);
    else if (bad_field) fail_code = EB'(nmx_isa_pkg::ERR_ILLEGAL_FIELD);
    else                fail_code = EB'(nmx_isa_pkg::ERR_BUF_RANGE);
  end
  assign check_fail = bad_opcode || bad_field || bad_range;

  // ---------------------------------------------------------------- routing
  logic [NQ-1:0] fifo_in_ready, fifo_push;
  logic          held_go;        // the held instruction leaves this cycle (queued or FINISH)
  logic          held_ok;

  assign held_ok = held_valid && !check_fail && !err_sent && !halt;
  assign held_go = held_ok && (is_finish || fifo_in_ready[dest]);

  always_comb begin
    for (int q = 0; q < int'(NQ); q++) fifo_push[q] = held_ok && !is_finish && (dest == QB'(q));
  end

  assign insn_ready = !halt && !err_sent && !finish_in && (!held_valid || held_go);
  assign accept     = insn_valid && insn_ready;
  assign dispatched = held_go;
  assign stall      = held_ok && !is_finish && !fifo_in_ready[dest];
  assign stuck      = stall || finish_seen;

  assign err_valid = held_valid && check_fail && !err_sent && !halt;
  assign err_code  = fail_code;
  assign err_index = held_index;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      held_valid  <= 1'b0;
      next_index  <= '0;
      finish_in   <= 1'b0;
      finish_seen <= 1'b0;
      err_sent    <= 1'b0;
    end else begin
      if (held_go) held_valid <= 1'b0;
      if (accept) begin
        held_valid <= 1'b1;
        next_index <= next_index + XB'(1);
        if (insn_data[OPW-1:0] == OPW'(nmx_isa_pkg::OP_FINISH)) finish_in <= 1'b1;
      end
      if (held_go && is_finish) finish_seen <= 1'b1;
      if (err_valid) err_sent <= 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (accept) begin
      held       <= insn_data;
      held_index <= next_index;
    end
  end

  // ---------------------------------------------------------------- queues
  logic [NQ-1:0] empty;

  for (genvar q = 0; q < int'(NQ); q++) begin : g_queue
    logic [QW-1:0]  head;
    logic [QCW-1:0] count;
    nmx_fifo #(.WIDTH(QW), .DEPTH(QUEUE_DEPTH)) u_fifo (
      .clk       (clk),
      .rst_n     (rst_n),
      .in_valid  (fifo_push[q]),
      .in_ready  (fifo_in_ready[q]),
      .in_data   ({held_index, held}),
      .out_valid (q_valid[q]),
      .out_ready (q_pop[q]),
      .out_data  (head),
      .count     (count)
    );
    assign q_insn[q]  = head[IB-1:0];
    assign q_index[q] = head[IB +: XB];
    assign empty[q]   = (count == '0);
  end

  assign queues_empty = &empty;

endmodule : nmx_dispatcher
