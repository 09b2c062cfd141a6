// nmx_ppu: post-processing unit, COLS int32 lanes, one ACC row per cycle (docs/isa.md section 4).
//
// Pipeline (one register after each stage; every stage is computed for every row, a disabled
// stage is an identity: bias 0, offset 0, multiplier 1, shift 0, PWL slope 1 / intercept 0):
//
//   S1  bias      v = sat32(a + bias[c])
//   S2  row add   v = sat32(v + off)
//   S3  row mul   p = v * sc                                   (32x32 -> 64)
//   S4  row shift v = sat32(rshift(p, row_shift))
//   S5  rq mul    p = v * mult[c]                              (32x32 -> 64)
//   S6  rq shift  v = sat32(rshift(p, shift[c]))
//   S7  PWL seg   s = #{j : v >= bp[j]}; slope = slope[s], icpt = icpt[s]
//   S8  PWL mul   p = v * slope                                (32x32 -> 64)
//   S9  PWL shift q = rshift(p, pwl_shift)
//   S10 output    v = sat32(q + icpt); out_int32 ? v : sat8(v)
//
// Latency LATENCY = 10 cycles, throughput one row per cycle. Flow control is a global stall:
// every register advances when `in_ready` (= out_ready || !out_valid); bubbles are not squeezed.
// `rshift` is round-half-away-from-zero with the shift clamped to SHIFT_MAX, computed with one
// adder as (x + 2^(s-1) - (x < 0)) >>> s, which equals sign(x) * ((|x| + 2^(s-1)) >> s).
// The cfg_* inputs must be stable while `busy` (the owner, nmx_store_engine, guarantees it);
// cfg_out_int32 is used in S10, so it must also be stable while a row is in S9 (covered by busy).
module nmx_ppu
  import nmx_isa_pkg::*;
#(
  parameter int unsigned COLS      = 16,
  parameter int unsigned META_BITS = 1
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic                    flush,
  input  logic                    in_valid,
  output logic                    in_ready,
  input  logic [COLS*32-1:0]      in_acc,
  input  logic [31:0]             in_row_off,
  input  logic [31:0]             in_row_scale,
  input  logic [META_BITS-1:0]    in_meta,
  output logic                    out_valid,
  input  logic                    out_ready,
  output logic [COLS*32-1:0]      out_data,
  output logic [META_BITS-1:0]    out_meta,
  output logic                    busy,
  input  logic                    cfg_bias_en,
  input  logic                    cfg_row_en,
  input  logic                    cfg_requant_en,
  input  logic                    cfg_pwl_en,
  input  logic                    cfg_out_int32,
  input  logic [5:0]              cfg_row_shift,
  input  logic [COLS*32-1:0]      cfg_bias,
  input  logic [COLS*32-1:0]      cfg_mult,
  input  logic [COLS*6-1:0]       cfg_shift,
  input  logic [PWL_WORDS*32-1:0] cfg_pwl
);

  localparam int unsigned STAGES   = 10;
  localparam int unsigned W        = 32;   // lane width
  localparam int unsigned PW       = 64;   // product width
  localparam int unsigned SW       = 6;    // shift field width
  localparam int unsigned SEG_BITS = $clog2(PWL_SEGMENTS);

  typedef logic signed [W-1:0]  s32_t;
  typedef logic signed [PW-1:0] s64_t;

  // ---------------------------------------------------------------- arithmetic helpers
  function automatic s32_t sat32_64(input s64_t x);
    if (x > s64_t'($signed(32'h7fff_ffff)))      return s32_t'(32'h7fff_ffff);
    else if (x < s64_t'($signed(32'h8000_0000))) return s32_t'(32'h8000_0000);
    else                                         return s32_t'(x);
  endfunction

  function automatic s32_t sat32_add(input s32_t a, input s32_t b);
    logic signed [W:0] s;
    s = {a[W-1], a} + {b[W-1], b};
    if (s[W] != s[W-1]) return s[W] ? s32_t'(32'h8000_0000) : s32_t'(32'h7fff_ffff);
    else                return s32_t'(s[W-1:0]);
  endfunction

  function automatic s32_t sat8_32(input s32_t v);
    if (v > 32'sd127)       return 32'sd127;
    else if (v < -32'sd128) return -32'sd128;
    else                    return v;
  endfunction

  // |x| <= 2^62, so x + 2^61 never overflows 64 bits.
  function automatic s64_t rshift_rnd(input s64_t x, input logic [SW-1:0] s);
    logic [SW-1:0] sc;
    s64_t          half;
    s64_t          biased;
    sc = (s > SW'(SHIFT_MAX)) ? SW'(SHIFT_MAX) : s;
    if (sc == '0) begin
      return x;
    end else begin
      half   = s64_t'(64'd1) <<< (sc - SW'(1));
      biased = x + half - (x[PW-1] ? s64_t'(64'd1) : s64_t'(64'd0));
      return biased >>> sc;
    end
  endfunction

  function automatic s64_t mul32(input s32_t a, input s32_t b);
    return s64_t'(a) * s64_t'(b);
  endfunction

  // ---------------------------------------------------------------- configuration views
  s32_t             bias_eff   [COLS];
  s32_t             mult_eff   [COLS];
  logic [SW-1:0]    shift_eff  [COLS];
  s32_t             bp         [PWL_BREAKPOINTS];
  s32_t             slope_tab  [PWL_SEGMENTS];
  s32_t             icpt_tab   [PWL_SEGMENTS];
  logic [SW-1:0]    row_shift_eff, pwl_shift_eff;

  always_comb begin
    for (int c = 0; c < COLS; c++) begin
      bias_eff[c]  = cfg_bias_en    ? s32_t'(cfg_bias[c*W +: W]) : '0;
      mult_eff[c]  = cfg_requant_en ? s32_t'(cfg_mult[c*W +: W]) : s32_t'(32'sd1);
      shift_eff[c] = cfg_requant_en ? cfg_shift[c*SW +: SW]      : '0;
    end
    for (int j = 0; j < PWL_BREAKPOINTS; j++) bp[j] = s32_t'(cfg_pwl[j*W +: W]);
    for (int j = 0; j < PWL_SEGMENTS; j++) begin
      slope_tab[j] = s32_t'(cfg_pwl[(PWL_SLOPE_WORD + j)*W +: W]);
      icpt_tab[j]  = s32_t'(cfg_pwl[(PWL_ICPT_WORD + j)*W +: W]);
    end
    row_shift_eff = cfg_row_en ? cfg_row_shift : '0;
    pwl_shift_eff = cfg_pwl_en ? cfg_pwl[PWL_SHIFT_WORD*W +: SW] : '0;
  end

  // ---------------------------------------------------------------- pipeline registers
  logic                 vld  [1:STAGES];
  logic [META_BITS-1:0] meta [1:STAGES];
  logic                 adv;

  s32_t s1_v [COLS];  s32_t s1_off;  s32_t s1_sc;
  s32_t s2_v [COLS];  s32_t s2_sc;
  s64_t s3_p [COLS];
  s32_t s4_v [COLS];
  s64_t s5_p [COLS];
  s32_t s6_v [COLS];
  s32_t s7_v [COLS];  s32_t s7_slope [COLS];  s32_t s7_icpt [COLS];
  s64_t s8_p [COLS];  s32_t s8_icpt [COLS];
  s64_t s9_q [COLS];  s32_t s9_icpt [COLS];
  s32_t s10_v [COLS];

  assign adv       = out_ready || !vld[STAGES];
  assign in_ready  = adv;
  assign out_valid = vld[STAGES];
  assign out_meta  = meta[STAGES];

  always_comb begin
    busy = 1'b0;
    for (int k = 1; k < STAGES; k++) busy |= vld[k];
    for (int c = 0; c < COLS; c++) out_data[c*W +: W] = s10_v[c];
  end

  // valid / meta shift register
  always_ff @(posedge clk) begin
    if (!rst_n || flush) begin
      for (int k = 1; k <= STAGES; k++) vld[k] <= 1'b0;
    end else if (adv) begin
      vld[1] <= in_valid;
      for (int k = 2; k <= STAGES; k++) vld[k] <= vld[k-1];
    end
  end

  always_ff @(posedge clk) begin
    if (adv) begin
      meta[1] <= in_meta;
      for (int k = 2; k <= STAGES; k++) meta[k] <= meta[k-1];
    end
  end

  // PWL segment select (S7, combinational part)
  logic [SEG_BITS:0] seg_cnt [COLS];
  always_comb begin
    for (int c = 0; c < COLS; c++) begin
      seg_cnt[c] = '0;
      for (int j = 0; j < PWL_BREAKPOINTS; j++)
        seg_cnt[c] += (SEG_BITS + 1)'(s6_v[c] >= bp[j]);
    end
  end

  // datapath (no reset: qualified by vld)
  always_ff @(posedge clk) begin
    if (adv) begin
      // S1
      for (int c = 0; c < COLS; c++) s1_v[c] <= sat32_add(s32_t'(in_acc[c*W +: W]), bias_eff[c]);
      s1_off <= cfg_row_en ? s32_t'(in_row_off) : '0;
      s1_sc  <= cfg_row_en ? s32_t'(in_row_scale) : s32_t'(32'sd1);
      // S2
      for (int c = 0; c < COLS; c++) s2_v[c] <= sat32_add(s1_v[c], s1_off);
      s2_sc <= s1_sc;
      // S3
      for (int c = 0; c < COLS; c++) s3_p[c] <= mul32(s2_v[c], s2_sc);
      // S4
      for (int c = 0; c < COLS; c++) s4_v[c] <= sat32_64(rshift_rnd(s3_p[c], row_shift_eff));
      // S5
      for (int c = 0; c < COLS; c++) s5_p[c] <= mul32(s4_v[c], mult_eff[c]);
      // S6
      for (int c = 0; c < COLS; c++) s6_v[c] <= sat32_64(rshift_rnd(s5_p[c], shift_eff[c]));
      // S7
      for (int c = 0; c < COLS; c++) begin
        s7_v[c]     <= s6_v[c];
        s7_slope[c] <= cfg_pwl_en ? slope_tab[seg_cnt[c][SEG_BITS-1:0]] : s32_t'(32'sd1);
        s7_icpt[c]  <= cfg_pwl_en ? icpt_tab[seg_cnt[c][SEG_BITS-1:0]]  : '0;
      end
      // S8
      for (int c = 0; c < COLS; c++) begin
        s8_p[c]    <= mul32(s7_v[c], s7_slope[c]);
        s8_icpt[c] <= s7_icpt[c];
      end
      // S9
      for (int c = 0; c < COLS; c++) begin
        s9_q[c]    <= rshift_rnd(s8_p[c], pwl_shift_eff);
        s9_icpt[c] <= s8_icpt[c];
      end
      // S10
      for (int c = 0; c < COLS; c++) begin
        s10_v[c] <= cfg_out_int32 ? sat32_64(s9_q[c] + s64_t'(s9_icpt[c]))
                                  : sat8_32(sat32_64(s9_q[c] + s64_t'(s9_icpt[c])));
      end
    end
  end

endmodule : nmx_ppu
