// nmx_tb_top: simulation top of the NMX testbench (docs/rtl_top.md, "Testbench top").
//
// nmx_top (the DUT) + nmx_axi_mem (AXI4 slave memory model) + an instruction source:
//   * insn_src = 0: the instruction port is driven from Python pin by pin through py_insn_valid /
//     py_insn_data (NmxTb.send), insn_ready is visible as a port;
//   * insn_src = 2: block feed of the pyuvm driver (tb/env/insn_driver.py): Python writes a block
//     of up to PB instructions with the idle cycles before each (pb_data, pb_gaps, pb_n, a new
//     block when pb_seq changes) and is woken once per block (pb_wake: the block is taken, or
//     done).  Each word is offered after its gap, held until taken, the next one follows without
//     a bubble: the timing of a Python driver that drives the pins word by word, without its
//     wakeups.  A block written in the time step of the previous block's last accept (or on the
//     following falling edge) is offered from the next edge on;
//   * insn_src = 1: a built-in streamer feeds instructions from an instruction memory loaded by
//     $readmemh (backdoor, im_seq/im_ack, file name in bd_file) while im_go is high, so a program
//     runs without a Python wakeup per instruction.  The memory is a ring of im_mask+1 slots
//     (a power of two <= IMEM_DEPTH): each load puts im_count instructions of program index
//     im_base.. into slots (im_base & im_mask).., and im_avail (one past the last loaded index)
//     bounds the stream.  A Program longer than the ring is refilled in chunks while it runs:
//     im_room rises when the streamer has passed index im_wake (the slots of the next chunk are
//     free), one Python wakeup per chunk (tb/bfm/tb_top.py, StreamFeed).
// Every Python-visible signal is a port of this module; the clock is driven by cocotb.
module nmx_tb_top #(
  parameter int unsigned ROWS          = 16,
  parameter int unsigned COLS          = 16,
  parameter int unsigned INP_DEPTH     = 4096,
  parameter int unsigned WGT_DEPTH     = 4096,
  parameter int unsigned ACC_DEPTH     = 1024,
  parameter int unsigned VEC_DEPTH     = 512,
  parameter int unsigned QUEUE_DEPTH   = 8,
  parameter int unsigned TOKEN_BITS    = 16,
  parameter int unsigned AXI_DATA_BITS = 128,
  parameter int unsigned AXI_ID_BITS   = 4,
  parameter int unsigned MEM_BYTES     = 1 << 24,
  parameter int unsigned IMEM_DEPTH    = 1 << 18,
  parameter int unsigned NUM_WIN       = 4,
  parameter int unsigned FILE_CHARS    = 256,
  localparam int unsigned PB           = 32,
  localparam int unsigned IB           = 128,
  localparam int unsigned AXI_ADDR_BITS = 32,
  localparam int unsigned STRB_BITS    = AXI_DATA_BITS / 8
) (
  input  logic                    clk,
  input  logic                    rst_n,
  // instruction source
  input  logic [1:0]              insn_src,       // 0 pins, 1 streamer, 2 block feed
  input  logic                    py_insn_valid,
  input  logic [IB-1:0]           py_insn_data,
  input  logic [PB*IB-1:0]        pb_data,        // block feed: word j at [j*IB +: IB]
  input  logic [PB*8-1:0]         pb_gaps,        // idle cycles before word j
  input  logic [7:0]              pb_n,           // words in the block
  input  logic [7:0]              pb_seq,         // changes: a new block
  output logic [7:0]              pb_taken,       // words of the current block taken
  output logic                    pb_wake,        // the block is taken, or done
  output logic                    insn_ready,
  output logic                    insn_fire,      // an instruction was taken this cycle
  output logic [31:0]             insn_count,     // instructions taken since reset (both sources)
  output logic                    insn_wake,      // insn_ready | done: one edge for the pins driver
  input  logic [7:0]              im_seq,
  output logic [7:0]              im_ack,
  input  logic [31:0]             im_count,
  input  logic [31:0]             im_base,
  input  logic [31:0]             im_mask,
  input  logic [31:0]             im_wake,
  input  logic                    im_go,
  output logic [31:0]             im_sent,
  output logic [31:0]             im_avail,
  output logic                    im_room,
  // DUT status
  output logic                    busy,
  output logic                    done,
  output logic                    error,
  output logic [3:0]              error_code,
  output logic [31:0]             error_index,
  input  logic [nmx_isa_pkg::COUNTER_BITS-1:0] cnt_sel,
  output logic [63:0]             cnt_value,
  // memory model configuration and backdoor (see nmx_axi_mem)
  input  logic [31:0]             mem_size,
  input  logic [15:0]             rd_latency,
  input  logic [15:0]             wr_latency,
  input  logic [7:0]              bw_bytes,
  input  logic [7:0]              p_ar, p_r, p_aw, p_w, p_b,
  input  logic [31:0]             seed,
  input  logic [NUM_WIN*32-1:0]   err_lo,
  input  logic [NUM_WIN*32-1:0]   err_hi,
  input  logic [7:0]              bd_seq,
  output logic [7:0]              bd_ack,
  input  logic [3:0]              bd_cmd,
  input  logic [31:0]             bd_words,
  input  logic [8*FILE_CHARS-1:0] bd_file,
  output logic [31:0]             proto_errors,
  output logic [31:0]             rd_bursts,
  output logic [31:0]             wr_bursts,
  output logic [63:0]             cycle,
  output logic [15:0]             mem_q_rd,
  output logic [15:0]             mem_q_wr,
  output logic [15:0]             mem_q_wbeats,
  output logic [15:0]             mem_q_b
);

  // ---------------------------------------------------------------- AXI wires
  logic [AXI_ID_BITS-1:0]   awid, bid, arid, rid;
  logic [AXI_ADDR_BITS-1:0] awaddr, araddr;
  logic [7:0]               awlen, arlen;
  logic [2:0]               awsize, arsize;
  logic [1:0]               awburst, arburst, bresp, rresp;
  logic                     awvalid, awready, wlast, wvalid, wready, bvalid, bready;
  logic                     arvalid, arready, rlast, rvalid, rready;
  logic [AXI_DATA_BITS-1:0] wdata, rdata;
  logic [STRB_BITS-1:0]     wstrb;

  // ---------------------------------------------------------------- instruction streamer
  localparam int unsigned IMW = $clog2(IMEM_DEPTH);
  logic [IB-1:0]  imem [IMEM_DEPTH];
  logic [31:0]    im_ptr;
  logic           im_valid, insn_valid;
  logic [IB-1:0]  insn_data;
  logic [IMW-1:0] im_slot, im_first;
  // block feed state (below)
  logic [7:0] pb_cur, pb_idx, pb_gap_left, pb_i, pb_gap;
  logic       pb_new, pb_valid, pb_more;
  logic [4:0] pb_next;

  assign im_slot    = im_ptr[IMW-1:0] & im_mask[IMW-1:0];
  assign im_first   = im_base[IMW-1:0] & im_mask[IMW-1:0];
  assign im_valid   = im_go && (im_ptr < im_avail) && !done;
  assign insn_valid = (insn_src == 2'd1) ? im_valid : (insn_src == 2'd2) ? pb_valid : py_insn_valid;
  assign insn_data  = (insn_src == 2'd1) ? imem[im_slot]
                    : (insn_src == 2'd2) ? pb_data[32'(pb_i[4:0]) * IB +: IB] : py_insn_data;
  assign insn_fire  = insn_valid && insn_ready;
  assign im_sent    = im_ptr;
  assign im_room    = im_ptr >= im_wake;

  assign insn_wake  = insn_ready || done;

  always_ff @(posedge clk) begin
    if (!rst_n) im_ptr <= '0;
    else if ((insn_src == 2'd1) && insn_fire) im_ptr <= im_ptr + 32'd1;
  end

  // ---------------------------------------------------------------- block feed
  assign pb_new   = pb_seq != pb_cur;
  assign pb_i     = pb_new ? 8'd0 : pb_idx;
  assign pb_gap   = pb_new ? pb_gaps[7:0] : pb_gap_left;
  assign pb_valid = (pb_i < pb_n) && (pb_gap == 8'd0) && !done;
  assign pb_taken = pb_i;
  assign pb_wake  = (pb_i >= pb_n) || done;
  assign pb_next  = pb_i[4:0] + 5'd1;
  assign pb_more  = (pb_i + 8'd1) < pb_n;

  always_ff @(posedge clk) begin
    pb_cur <= pb_seq;
    if (!rst_n) begin
      pb_idx      <= 8'hFF;  // nothing to offer until a new block
      pb_gap_left <= '0;
    end else if ((insn_src == 2'd2) && pb_valid && insn_ready) begin
      pb_idx      <= pb_i + 8'd1;
      pb_gap_left <= pb_more ? pb_gaps[32'(pb_next) * 8 +: 8] : 8'd0;
    end else begin
      pb_idx      <= pb_i;
      pb_gap_left <= (pb_gap != 8'd0) ? pb_gap - 8'd1 : 8'd0;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) insn_count <= '0;
    else if (insn_fire) insn_count <= insn_count + 32'd1;
  end

  // a load never wraps the ring (the driver splits chunks at the ring's end)
  always_ff @(posedge clk) begin
    if (im_seq != im_ack) begin
      if (im_count != 0) $readmemh(bd_file, imem, 32'(im_first), 32'(im_first) + im_count - 1);
      im_avail <= im_base + im_count;
      im_ack   <= im_seq;
    end
  end
  initial begin
    im_ack   = '0;
    im_avail = '0;
  end

  // ---------------------------------------------------------------- activity windows (power builds)
  // Built only with +define+NMX_POWER and --trace-saif (tb/power/capture.py, docs/power.md).  The
  // backdoor command BD_ACT_START (folder in bd_file, window period in bd_words) arms the capture:
  // a pre-roll window opens at once and is cut after `period` cycles like any window (so idle cycles
  // before the first instruction have exact windows too); a window is cut when the first
  // instruction is accepted, at every layer boundary (an accepted instruction whose index is the next entry of
  // <folder>/bounds.hex, first word = count) and every `period` cycles; BD_ACT_STOP closes the last.
  // Each window is one SAIF file <folder>/windows/wNNNNNN.saif; <folder>/windows.tsv lists them as
  // "index start_cycle end_cycle insn_lo insn_hi end_reason rd_bytes wr_bytes" (end_reason:
  // layer|period|end; bytes: AXI data beats of the window, the DRAM traffic).  Decisions are
  // taken at the rising edge
  // (from the values the edge samples); the cut itself happens 1 ns after the following falling
  // edge, when nothing changes, so a net's last value in one window is its first value in the next
  // (the reader relies on this to correct Verilator's per-file initial toggle, tb/power/saif.py).
  localparam logic [3:0]  BD_ACT_START   = 4'd5;
  localparam logic [3:0]  BD_ACT_STOP    = 4'd6;
  localparam int unsigned ACT_MAX_BOUNDS = 65536;
  localparam realtime     ACT_CUT_DELAY  = 1ns;   // < half the testbench's 10 ns clock period
`ifdef NMX_POWER
  import "DPI-C" context function void nmx_saif_close();
  logic [31:0] act_bounds [ACT_MAX_BOUNDS];
  string       act_dir;
  int          act_fd = 0;
  int          act_win = 0;
  int          act_bi = 1;
  bit          act_armed = 1'b0;
  bit          act_started = 1'b0;
  bit          act_cut = 1'b0;
  bit          act_stop = 1'b0;
  string       act_reason = "";
  longint unsigned act_period = 0;
  longint unsigned act_open_cycle = 0;
  longint unsigned act_open_insn = 0;
  longint unsigned act_rd_bytes = 0;   // AXI read/write bytes of the open window (DRAM traffic)
  longint unsigned act_wr_bytes = 0;

  task automatic act_open(input string reason);
    act_reason     = reason;
    act_open_cycle = cycle;
    act_open_insn  = 64'(insn_count);
    act_rd_bytes   = 0;
    act_wr_bytes   = 0;
    $dumpfile($sformatf("%0s/windows/w%06d.saif", act_dir, act_win));
    $dumpvars(0, u_dut);
  endtask

  task automatic act_close(input string next_reason);
    nmx_saif_close();
    $fdisplay(act_fd, "%0d\t%0d\t%0d\t%0d\t%0d\t%0s\t%0d\t%0d", act_win, act_open_cycle, cycle,
              act_open_insn, insn_count, next_reason, act_rd_bytes, act_wr_bytes);
    act_win = act_win + 1;
  endtask

  always @(posedge clk) begin
    if (bd_seq != bd_ack && bd_cmd == BD_ACT_START) begin
      act_dir    = $sformatf("%0s", bd_file);
      act_period = 64'(bd_words);
      for (int i = 0; i < ACT_MAX_BOUNDS; i++) act_bounds[i] = '0;
      $readmemh({act_dir, "/bounds.hex"}, act_bounds);
      if (act_bounds[0] >= ACT_MAX_BOUNDS) $fatal(1, "activity: %0d layer bounds > %0d", act_bounds[0], ACT_MAX_BOUNDS - 1);
      act_fd = $fopen({act_dir, "/windows.tsv"}, "w");
      if (act_fd == 0) $fatal(1, "activity: cannot write %0s/windows.tsv", act_dir);
      $fdisplay(act_fd, "index\tstart_cycle\tend_cycle\tinsn_lo\tinsn_hi\tend_reason\trd_bytes\twr_bytes");
      act_win = 0; act_bi = 1; act_started = 1'b0; act_stop = 1'b0; act_cut = 1'b0;
      act_armed = 1'b1;
      act_open("arm");
    end else if (bd_seq != bd_ack && bd_cmd == BD_ACT_STOP && act_armed) begin
      act_stop = 1'b1;
    end else if (act_armed) begin
      // skip bounds at or below the accepted index (a bound at 0 opens window 1 like the first fire)
      while (act_bi <= int'(act_bounds[0]) && act_bounds[act_bi] < insn_count) act_bi = act_bi + 1;
      if (insn_fire && !act_started) begin
        act_started = 1'b1; act_cut = 1'b1; act_reason = "layer";
        if (act_bi <= int'(act_bounds[0]) && act_bounds[act_bi] == insn_count) act_bi = act_bi + 1;
      end else if (insn_fire && act_bi <= int'(act_bounds[0]) && act_bounds[act_bi] == insn_count) begin
        act_cut = 1'b1; act_reason = "layer"; act_bi = act_bi + 1;
      end else if (act_period != 0 && cycle - act_open_cycle >= act_period) begin
        act_cut = 1'b1; act_reason = "period";
      end
    end
  end

  always @(posedge clk) begin
    if (act_armed && rvalid && rready) act_rd_bytes = act_rd_bytes + 64'(STRB_BITS);
    if (act_armed && wvalid && wready) act_wr_bytes = act_wr_bytes + 64'($countones(wstrb));
  end

  // the cut waits ACT_CUT_DELAY after the falling edge: the testbench writes DUT inputs (the block
  // feed, cnt_sel) at falling edges, so a cut at the edge itself could fall on either side of them
  always @(negedge clk) begin
    if (act_armed && (act_stop || act_cut)) #(ACT_CUT_DELAY);
    if (act_armed && act_stop) begin
      act_close("end");
      $fclose(act_fd);
      act_fd = 0; act_armed = 1'b0; act_stop = 1'b0; act_cut = 1'b0;
    end else if (act_armed && act_cut) begin
      act_close(act_reason);
      act_open(act_reason);
      act_cut = 1'b0;
    end
  end
`else
  always @(posedge clk) begin
    if (bd_seq != bd_ack && (bd_cmd == BD_ACT_START || bd_cmd == BD_ACT_STOP))
      $fatal(1, "activity capture needs the power build (run with --power): +define+NMX_POWER");
  end
`endif

  // ---------------------------------------------------------------- DUT
  nmx_top #(
    .ROWS(ROWS), .COLS(COLS), .INP_DEPTH(INP_DEPTH), .WGT_DEPTH(WGT_DEPTH), .ACC_DEPTH(ACC_DEPTH),
    .VEC_DEPTH(VEC_DEPTH), .QUEUE_DEPTH(QUEUE_DEPTH), .TOKEN_BITS(TOKEN_BITS),
    .AXI_DATA_BITS(AXI_DATA_BITS), .AXI_ADDR_BITS(AXI_ADDR_BITS), .AXI_ID_BITS(AXI_ID_BITS)
  ) u_dut (
    .clk(clk), .rst_n(rst_n),
    .insn_valid(insn_valid), .insn_ready(insn_ready), .insn_data(insn_data),
    .m_axi_awid(awid), .m_axi_awaddr(awaddr), .m_axi_awlen(awlen), .m_axi_awsize(awsize),
    .m_axi_awburst(awburst), .m_axi_awvalid(awvalid), .m_axi_awready(awready),
    .m_axi_wdata(wdata), .m_axi_wstrb(wstrb), .m_axi_wlast(wlast), .m_axi_wvalid(wvalid),
    .m_axi_wready(wready),
    .m_axi_bid(bid), .m_axi_bresp(bresp), .m_axi_bvalid(bvalid), .m_axi_bready(bready),
    .m_axi_arid(arid), .m_axi_araddr(araddr), .m_axi_arlen(arlen), .m_axi_arsize(arsize),
    .m_axi_arburst(arburst), .m_axi_arvalid(arvalid), .m_axi_arready(arready),
    .m_axi_rid(rid), .m_axi_rdata(rdata), .m_axi_rresp(rresp), .m_axi_rlast(rlast),
    .m_axi_rvalid(rvalid), .m_axi_rready(rready),
    .busy(busy), .done(done), .error(error), .error_code(error_code), .error_index(error_index),
    .cnt_sel(cnt_sel), .cnt_value(cnt_value)
  );

  // ---------------------------------------------------------------- memory model
  nmx_axi_mem #(
    .DATA_BITS(AXI_DATA_BITS), .ADDR_BITS(AXI_ADDR_BITS), .ID_BITS(AXI_ID_BITS),
    .MEM_BYTES(MEM_BYTES), .NUM_WIN(NUM_WIN), .FILE_CHARS(FILE_CHARS)
  ) u_mem (
    .clk(clk), .rst_n(rst_n),
    .s_axi_awid(awid), .s_axi_awaddr(awaddr), .s_axi_awlen(awlen), .s_axi_awsize(awsize),
    .s_axi_awburst(awburst), .s_axi_awvalid(awvalid), .s_axi_awready(awready),
    .s_axi_wdata(wdata), .s_axi_wstrb(wstrb), .s_axi_wlast(wlast), .s_axi_wvalid(wvalid),
    .s_axi_wready(wready),
    .s_axi_bid(bid), .s_axi_bresp(bresp), .s_axi_bvalid(bvalid), .s_axi_bready(bready),
    .s_axi_arid(arid), .s_axi_araddr(araddr), .s_axi_arlen(arlen), .s_axi_arsize(arsize),
    .s_axi_arburst(arburst), .s_axi_arvalid(arvalid), .s_axi_arready(arready),
    .s_axi_rid(rid), .s_axi_rdata(rdata), .s_axi_rresp(rresp), .s_axi_rlast(rlast),
    .s_axi_rvalid(rvalid), .s_axi_rready(rready),
    .mem_size(mem_size), .rd_latency(rd_latency), .wr_latency(wr_latency),
    .bw_bytes(bw_bytes),
    .p_ar(p_ar), .p_r(p_r), .p_aw(p_aw), .p_w(p_w), .p_b(p_b), .seed(seed),
    .err_lo(err_lo), .err_hi(err_hi),
    .bd_seq(bd_seq), .bd_ack(bd_ack), .bd_cmd(bd_cmd), .bd_words(bd_words), .bd_file(bd_file),
    .proto_errors(proto_errors), .rd_bursts(rd_bursts), .wr_bursts(wr_bursts), .cycle(cycle),
    .q_rd(mem_q_rd), .q_wr(mem_q_wr), .q_wbeats(mem_q_wbeats), .q_b(mem_q_b)
  );

endmodule : nmx_tb_top
