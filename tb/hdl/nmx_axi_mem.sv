// nmx_axi_mem: simulation-only AXI4 slave memory model for the NMX testbench (docs/rtl_top.md).
//
// Designed for simulation speed: the memory array lives here, and everything Python needs is
// done without per-cycle Python wakeups:
//   * backdoor: $readmemh / $writememh of a file whose name Python writes into `bd_file` (a
//     right-aligned ASCII string in a vector), triggered by changing `bd_seq`; `bd_ack` echoes
//     the sequence number once the command has been executed (at a rising clock edge).
//     Commands (`bd_cmd`): BD_LOAD (words 0..bd_words-1 from the file), BD_DUMP (words
//     0..bd_words-1 to the file), BD_LOG_OPEN (transfer log to the file), BD_LOG_CLOSE.
//   * latency: an accepted AR gets its first beat no earlier than rd_latency cycles later; a
//     write response no earlier than wr_latency cycles after the last W beat was consumed.
//   * bandwidth: with bw_bytes != 0 each direction moves at most bw_bytes per cycle on average
//     (a credit counter per direction gains bw_bytes per cycle, capped at two beats; an R beat
//     is presented and a W beat accepted only with a full beat of credit); 0 = one beat per cycle.
//   * back-pressure: each of AR/R/AW/W/B stalls with probability p_*/256 per cycle, drawn from
//     per-channel xorshift32 generators seeded from `seed` (reset reseeds them).
//   * errors: a read beat answers DECERR when its (bus-aligned) address is >= mem_size (or beyond
//     the array), SLVERR when it overlaps an injection window [err_lo[i], err_hi[i]) (empty
//     windows have lo >= hi); a write burst answers DECERR/SLVERR when any strobed byte is at or
//     beyond mem_size / inside a window (and such bytes are not written).
//   * protocol checks: burst type INCR, full-width size, bus-aligned address, no 4 KiB
//     crossing, WLAST on the last beat only; violations count in proto_errors and are logged.
//   * transfer log: one line per completed transaction (see docs/rtl_top.md for the format).
// W beats may arrive before their AW (buffered in a FIFO of W_FIFO_DEPTH beats).
module nmx_axi_mem #(
  parameter int unsigned DATA_BITS    = 128,
  parameter int unsigned ADDR_BITS    = 32,
  parameter int unsigned ID_BITS      = 4,
  parameter int unsigned MEM_BYTES    = 1 << 24,
  parameter int unsigned MAX_RD       = 64,    // accepted, not yet answered read bursts
  parameter int unsigned MAX_WR       = 64,    // accepted write bursts (AW) and pending B
  parameter int unsigned W_FIFO_DEPTH = 512,
  parameter int unsigned NUM_WIN      = 4,
  parameter int unsigned FILE_CHARS   = 256,
  localparam int unsigned BB          = DATA_BITS / 8,
  localparam int unsigned BBW         = $clog2(BB)
) (
  input  logic                    clk,
  input  logic                    rst_n,
  // AXI4 slave
  input  logic [ID_BITS-1:0]      s_axi_awid,
  input  logic [ADDR_BITS-1:0]    s_axi_awaddr,
  input  logic [7:0]              s_axi_awlen,
  input  logic [2:0]              s_axi_awsize,
  input  logic [1:0]              s_axi_awburst,
  input  logic                    s_axi_awvalid,
  output logic                    s_axi_awready,
  input  logic [DATA_BITS-1:0]    s_axi_wdata,
  input  logic [BB-1:0]           s_axi_wstrb,
  input  logic                    s_axi_wlast,
  input  logic                    s_axi_wvalid,
  output logic                    s_axi_wready,
  output logic [ID_BITS-1:0]      s_axi_bid,
  output logic [1:0]              s_axi_bresp,
  output logic                    s_axi_bvalid,
  input  logic                    s_axi_bready,
  input  logic [ID_BITS-1:0]      s_axi_arid,
  input  logic [ADDR_BITS-1:0]    s_axi_araddr,
  input  logic [7:0]              s_axi_arlen,
  input  logic [2:0]              s_axi_arsize,
  input  logic [1:0]              s_axi_arburst,
  input  logic                    s_axi_arvalid,
  output logic                    s_axi_arready,
  output logic [ID_BITS-1:0]      s_axi_rid,
  output logic [DATA_BITS-1:0]    s_axi_rdata,
  output logic [1:0]              s_axi_rresp,
  output logic                    s_axi_rlast,
  output logic                    s_axi_rvalid,
  input  logic                    s_axi_rready,
  // configuration (static during a run)
  input  logic [31:0]             mem_size,
  input  logic [15:0]             rd_latency,
  input  logic [15:0]             wr_latency,
  input  logic [7:0]              bw_bytes,
  input  logic [7:0]              p_ar, p_r, p_aw, p_w, p_b,
  input  logic [31:0]             seed,
  input  logic [NUM_WIN*32-1:0]   err_lo,
  input  logic [NUM_WIN*32-1:0]   err_hi,
  // backdoor
  input  logic [7:0]              bd_seq,
  output logic [7:0]              bd_ack,
  input  logic [3:0]              bd_cmd,
  input  logic [31:0]             bd_words,
  input  logic [8*FILE_CHARS-1:0] bd_file,
  // statistics
  output logic [31:0]             proto_errors,
  output logic [31:0]             rd_bursts,
  output logic [31:0]             wr_bursts,
  output logic [63:0]             cycle,
  // occupancy, for hang diagnosis: accepted read bursts not fully answered, write bursts
  // without all their W beats, buffered W beats, pending B responses
  output logic [15:0]             q_rd,
  output logic [15:0]             q_wr,
  output logic [15:0]             q_wbeats,
  output logic [15:0]             q_b
);

  localparam int unsigned MEM_WORDS = MEM_BYTES / BB;
  localparam logic [3:0] BD_LOAD      = 4'd1;
  localparam logic [3:0] BD_DUMP      = 4'd2;
  localparam logic [3:0] BD_LOG_OPEN  = 4'd3;
  localparam logic [3:0] BD_LOG_CLOSE = 4'd4;
  localparam logic [1:0] RESP_OKAY   = 2'b00;
  localparam logic [1:0] RESP_SLVERR = 2'b10;
  localparam logic [1:0] RESP_DECERR = 2'b11;
  localparam logic [1:0] BURST_INCR  = 2'b01;

  logic [DATA_BITS-1:0] mem [MEM_WORDS];

  int log_fd;
  initial log_fd = 0;

  // ---------------------------------------------------------------- random stalls
  logic [31:0] lf_ar, lf_r, lf_aw, lf_w, lf_b;

  function automatic logic [31:0] xs32(input logic [31:0] x);
    logic [31:0] y;
    y = x ^ (x << 13);
    y = y ^ (y >> 17);
    y = y ^ (y << 5);
    return y;
  endfunction

  // nonzero seed per channel
  function automatic logic [31:0] seed_of(input logic [31:0] s, input logic [31:0] salt);
    logic [31:0] v;
    v = xs32(s ^ salt);
    return (v == 32'd0) ? salt : v;
  endfunction

  logic st_ar, st_r, st_aw, st_w, st_b;
  assign st_ar = lf_ar[7:0] < p_ar;
  assign st_r  = lf_r[7:0]  < p_r;
  assign st_aw = lf_aw[7:0] < p_aw;
  assign st_w  = lf_w[7:0]  < p_w;
  assign st_b  = lf_b[7:0]  < p_b;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      lf_ar <= seed_of(seed, 32'h9E3779B9);
      lf_r  <= seed_of(seed, 32'h85EBCA6B);
      lf_aw <= seed_of(seed, 32'hC2B2AE35);
      lf_w  <= seed_of(seed, 32'h27D4EB2F);
      lf_b  <= seed_of(seed, 32'h165667B1);
      cycle <= '0;
    end else begin
      lf_ar <= xs32(lf_ar);
      lf_r  <= xs32(lf_r);
      lf_aw <= xs32(lf_aw);
      lf_w  <= xs32(lf_w);
      lf_b  <= xs32(lf_b);
      cycle <= cycle + 64'd1;
    end
  end

  // ---------------------------------------------------------------- bandwidth credits
  localparam int unsigned CRW = $clog2(2 * BB + 256) + 1;
  logic [CRW-1:0] rd_credit, wr_credit;
  logic           rd_bw_ok, wr_bw_ok;
  assign rd_bw_ok = (bw_bytes == 8'd0) || (rd_credit >= CRW'(BB));
  assign wr_bw_ok = (bw_bytes == 8'd0) || (wr_credit >= CRW'(BB));

  function automatic logic [CRW-1:0] credit_next(input logic [CRW-1:0] c, input logic take);
    logic [CRW-1:0] v;
    v = c + CRW'(bw_bytes) - (take ? CRW'(BB) : '0);
    return (v > CRW'(2 * BB)) ? CRW'(2 * BB) : v;
  endfunction

  // ---------------------------------------------------------------- address checks
  function automatic logic in_window(input logic [31:0] lo, input logic [31:0] hi);
    logic hit;
    hit = 1'b0;
    for (int i = 0; i < int'(NUM_WIN); i++) begin
      if ((err_lo[i*32 +: 32] < err_hi[i*32 +: 32]) && (lo < err_hi[i*32 +: 32]) &&
          (hi > err_lo[i*32 +: 32])) hit = 1'b1;
    end
    return hit;
  endfunction

  // response of a read beat at bus-aligned byte address a
  function automatic logic [1:0] read_resp(input logic [ADDR_BITS-1:0] a);
    if ((64'(a) >= 64'(mem_size)) || (64'(a) >= 64'(MEM_BYTES))) return RESP_DECERR;
    if (in_window(32'(a), 32'(a) + BB)) return RESP_SLVERR;
    return RESP_OKAY;
  endfunction

  function automatic logic burst_bad(input logic [ADDR_BITS-1:0] a, input logic [7:0] len,
                                     input logic [2:0] size, input logic [1:0] burst);
    logic [31:0] span;
    span = 32'(a[11:0]) + (32'(len) + 32'd1) * BB;
    return (burst != BURST_INCR) || (size != 3'(BBW)) || (a[BBW-1:0] != '0) || (span > 32'd4096);
  endfunction

  // ---------------------------------------------------------------- read path
  // Accepted ARs queue up; the R output register is loaded with the next beat of the head burst
  // whenever it is free (or being taken) and the burst's latency has elapsed; the burst leaves
  // the queue when its last beat is loaded. The log line is written when RLAST is taken.
  localparam int unsigned RQW = $clog2(MAX_RD);
  logic [ID_BITS-1:0]   rq_id   [MAX_RD];
  logic [ADDR_BITS-1:0] rq_addr [MAX_RD];
  logic [7:0]           rq_len  [MAX_RD];
  logic [63:0]          rq_t    [MAX_RD];   // cycle the AR was accepted
  logic [RQW-1:0]       rq_head, rq_tail;
  logic [RQW:0]         rq_count;
  logic [7:0]           r_beat;              // next beat of the head burst
  logic [1:0]           r_worst;             // worst response of the head burst so far
  // side information of the presented beat, for the log
  logic [ADDR_BITS-1:0] ro_addr;
  logic [7:0]           ro_len;
  logic [63:0]          ro_t;
  logic [1:0]           ro_worst;

  logic ar_fire, r_fire, r_load, ar_bad;
  assign s_axi_arready = (rq_count != (RQW+1)'(MAX_RD)) && !st_ar;
  assign ar_fire = s_axi_arvalid && s_axi_arready;
  assign r_fire  = s_axi_rvalid && s_axi_rready;
  assign r_load  = (!s_axi_rvalid || s_axi_rready) && (rq_count != '0) && !st_r && rd_bw_ok &&
                   (cycle >= rq_t[rq_head] + 64'(rd_latency));
  assign ar_bad  = ar_fire && burst_bad(s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst);

  always_ff @(posedge clk) begin
    logic [ADDR_BITS-1:0] a;
    logic [1:0]           resp, worst;
    if (!rst_n) begin
      rq_head      <= '0;
      rq_tail      <= '0;
      rq_count     <= '0;
      r_beat       <= '0;
      r_worst      <= RESP_OKAY;
      s_axi_rvalid <= 1'b0;
      rd_bursts    <= '0;
    end else begin
      if (ar_fire) begin
        rq_id[rq_tail]   <= s_axi_arid;
        rq_addr[rq_tail] <= s_axi_araddr;
        rq_len[rq_tail]  <= s_axi_arlen;
        rq_t[rq_tail]    <= cycle;
        rq_tail          <= rq_tail + 1'b1;
        if (ar_bad && (log_fd != 0))
          $fwrite(log_fd, "PROTO AR id=%0d addr=%08x len=%0d size=%0d burst=%0d cycle=%0d\n",
                  s_axi_arid, s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst, cycle);
      end
      if (r_fire) begin
        s_axi_rvalid <= 1'b0;
        if (s_axi_rlast) begin
          rd_bursts <= rd_bursts + 32'd1;
          if (log_fd != 0)
            $fwrite(log_fd, "R %0d %08x %0d %0d %0d %0d\n", s_axi_rid, ro_addr, ro_len, ro_worst,
                    ro_t, cycle);
        end
      end
      if (r_load) begin
        a     = {rq_addr[rq_head][ADDR_BITS-1:BBW], BBW'(0)} + ADDR_BITS'(32'(r_beat) * BB);
        resp  = read_resp(a);
        worst = (r_beat == 8'd0) ? resp : ((resp > r_worst) ? resp : r_worst);
        s_axi_rvalid <= 1'b1;
        s_axi_rid    <= rq_id[rq_head];
        s_axi_rresp  <= resp;
        s_axi_rlast  <= (r_beat == rq_len[rq_head]);
        s_axi_rdata  <= (resp == RESP_OKAY) ? mem[a[ADDR_BITS-1:BBW]] : '0;
        ro_addr      <= rq_addr[rq_head];
        ro_len       <= rq_len[rq_head];
        ro_t         <= rq_t[rq_head];
        ro_worst     <= worst;
        r_worst      <= worst;
        if (r_beat == rq_len[rq_head]) begin
          r_beat  <= '0;
          rq_head <= rq_head + 1'b1;
        end else begin
          r_beat <= r_beat + 8'd1;
        end
      end
      rq_count <= rq_count + (ar_fire ? 1 : 0)
                           - ((r_load && (r_beat == rq_len[rq_head])) ? 1 : 0);
    end
  end

  // ---------------------------------------------------------------- write path
  // AWs and W beats queue up independently; a W beat is consumed (written with its strobes)
  // when its burst's AW is known; the last beat queues the B response, which is presented
  // wr_latency cycles later at the earliest.
  localparam int unsigned WQW = $clog2(MAX_WR);
  localparam int unsigned WFW = $clog2(W_FIFO_DEPTH);
  logic [ID_BITS-1:0]   wq_id   [MAX_WR];
  logic [ADDR_BITS-1:0] wq_addr [MAX_WR];
  logic [7:0]           wq_len  [MAX_WR];
  logic [63:0]          wq_t    [MAX_WR];
  logic [WQW-1:0]       wq_head, wq_tail;
  logic [WQW:0]         wq_count;
  logic [DATA_BITS-1:0] wf_data [W_FIFO_DEPTH];
  logic [BB-1:0]        wf_strb [W_FIFO_DEPTH];
  logic                 wf_last [W_FIFO_DEPTH];
  logic [WFW-1:0]       wf_head, wf_tail;
  logic [WFW:0]         wf_count;
  logic [7:0]           w_beat;
  logic [1:0]           w_worst;
  logic [ID_BITS-1:0]   bq_id   [MAX_WR];
  logic [1:0]           bq_resp [MAX_WR];
  logic [63:0]          bq_t    [MAX_WR];
  logic [WQW-1:0]       bq_head, bq_tail;
  logic [WQW:0]         bq_count;

  logic aw_fire, w_fire, w_go, w_end, b_load, aw_bad, w_bad;
  assign s_axi_awready = (wq_count != (WQW+1)'(MAX_WR)) && !st_aw;
  assign s_axi_wready  = (wf_count != (WFW+1)'(W_FIFO_DEPTH)) && !st_w && wr_bw_ok;
  assign aw_fire = s_axi_awvalid && s_axi_awready;
  assign w_fire  = s_axi_wvalid && s_axi_wready;
  assign w_go    = (wq_count != '0) && (wf_count != '0) && (bq_count != (WQW+1)'(MAX_WR));
  assign w_end   = w_go && (w_beat == wq_len[wq_head]);
  assign b_load  = (!s_axi_bvalid || s_axi_bready) && (bq_count != '0) && !st_b &&
                   (cycle >= bq_t[bq_head] + 64'(wr_latency));
  assign aw_bad  = aw_fire && burst_bad(s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst);
  assign w_bad   = w_go && (wf_last[wf_head] != (w_beat == wq_len[wq_head]));

  always_ff @(posedge clk) begin
    logic [ADDR_BITS-1:0] a;
    logic [1:0]           resp, worst;
    logic [DATA_BITS-1:0] mask;
    logic [BB-1:0]        s;
    if (!rst_n) begin
      wq_head      <= '0;
      wq_tail      <= '0;
      wq_count     <= '0;
      wf_head      <= '0;
      wf_tail      <= '0;
      wf_count     <= '0;
      bq_head      <= '0;
      bq_tail      <= '0;
      bq_count     <= '0;
      w_beat       <= '0;
      w_worst      <= RESP_OKAY;
      s_axi_bvalid <= 1'b0;
      wr_bursts    <= '0;
    end else begin
      if (aw_fire) begin
        wq_id[wq_tail]   <= s_axi_awid;
        wq_addr[wq_tail] <= s_axi_awaddr;
        wq_len[wq_tail]  <= s_axi_awlen;
        wq_t[wq_tail]    <= cycle;
        wq_tail          <= wq_tail + 1'b1;
        if (aw_bad && (log_fd != 0))
          $fwrite(log_fd, "PROTO AW id=%0d addr=%08x len=%0d size=%0d burst=%0d cycle=%0d\n",
                  s_axi_awid, s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst, cycle);
      end
      if (w_fire) begin
        wf_data[wf_tail] <= s_axi_wdata;
        wf_strb[wf_tail] <= s_axi_wstrb;
        wf_last[wf_tail] <= s_axi_wlast;
        wf_tail          <= wf_tail + 1'b1;
      end
      if (w_go) begin
        a    = {wq_addr[wq_head][ADDR_BITS-1:BBW], BBW'(0)} + ADDR_BITS'(32'(w_beat) * BB);
        s    = wf_strb[wf_head];
        resp = RESP_OKAY;
        mask = '0;
        for (int b = 0; b < int'(BB); b++) begin
          if (s[b]) begin
            if ((64'(a) + 64'(b) >= 64'(mem_size)) || (64'(a) + 64'(b) >= 64'(MEM_BYTES)))
              resp = RESP_DECERR;
            else if (in_window(32'(a) + 32'(b), 32'(a) + 32'(b) + 32'd1)) begin
              if (resp != RESP_DECERR) resp = RESP_SLVERR;
            end else
              mask[b*8 +: 8] = 8'hFF;
          end
        end
        if ((64'(a) < 64'(MEM_BYTES)) && (mask != '0))
          mem[a[ADDR_BITS-1:BBW]] <= (mem[a[ADDR_BITS-1:BBW]] & ~mask) | (wf_data[wf_head] & mask);
        worst = (resp > w_worst) ? resp : w_worst;
        if (w_bad && (log_fd != 0))
          $fwrite(log_fd, "PROTO W id=%0d addr=%08x beat=%0d wlast=%0d len=%0d cycle=%0d\n",
                  wq_id[wq_head], wq_addr[wq_head], w_beat, wf_last[wf_head], wq_len[wq_head], cycle);
        wf_head <= wf_head + 1'b1;
        if (w_end) begin
          bq_id[bq_tail]   <= wq_id[wq_head];
          bq_resp[bq_tail] <= worst;
          bq_t[bq_tail]    <= cycle;
          bq_tail          <= bq_tail + 1'b1;
          if (log_fd != 0)
            $fwrite(log_fd, "W %0d %08x %0d %0d %0d %0d\n", wq_id[wq_head], wq_addr[wq_head],
                    wq_len[wq_head], worst, wq_t[wq_head], cycle);
          wq_head   <= wq_head + 1'b1;
          w_beat    <= '0;
          w_worst   <= RESP_OKAY;
          wr_bursts <= wr_bursts + 32'd1;
        end else begin
          w_beat  <= w_beat + 8'd1;
          w_worst <= worst;
        end
      end
      if (s_axi_bvalid && s_axi_bready) s_axi_bvalid <= 1'b0;
      if (b_load) begin
        s_axi_bvalid <= 1'b1;
        s_axi_bid    <= bq_id[bq_head];
        s_axi_bresp  <= bq_resp[bq_head];
        bq_head      <= bq_head + 1'b1;
      end
      wq_count <= wq_count + (aw_fire ? 1 : 0) - (w_end ? 1 : 0);
      wf_count <= wf_count + (w_fire ? 1 : 0) - (w_go ? 1 : 0);
      bq_count <= bq_count + (w_end ? 1 : 0) - (b_load ? 1 : 0);
    end
  end

  assign q_rd     = 16'(rq_count) + 16'(s_axi_rvalid);
  assign q_wr     = 16'(wq_count);
  assign q_wbeats = 16'(wf_count);
  assign q_b      = 16'(bq_count) + 16'(s_axi_bvalid);

  always_ff @(posedge clk) begin
    if (!rst_n) proto_errors <= '0;
    else proto_errors <= proto_errors + 32'(ar_bad) + 32'(aw_bad) + 32'(w_bad);
  end

  // ---------------------------------------------------------------- backdoor
  always_ff @(posedge clk) begin
    if (bd_seq != bd_ack) begin
      case (bd_cmd)
        BD_LOAD:  if (bd_words != 0) $readmemh(bd_file, mem, 0, bd_words - 1);
        BD_DUMP:  if (bd_words != 0) $writememh(bd_file, mem, 0, bd_words - 1);
        BD_LOG_OPEN: begin
          if (log_fd != 0) $fclose(log_fd);
          log_fd = $fopen(bd_file, "w");
        end
        BD_LOG_CLOSE: begin
          if (log_fd != 0) $fclose(log_fd);
          log_fd = 0;
        end
        default: ;
      endcase
      bd_ack <= bd_seq;
    end
  end

  initial bd_ack = '0;

  // bandwidth credits: taken by the R beat loaded / the W beat accepted this cycle
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      rd_credit <= '0;
      wr_credit <= '0;
    end else begin
      rd_credit <= credit_next(rd_credit, r_load);
      wr_credit <= credit_next(wr_credit, w_fire);
    end
  end

endmodule : nmx_axi_mem
