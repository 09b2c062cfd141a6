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
#(
  parameter int unsigned COLS      = 16,
  parameter int unsigned META_BITS = 1,
  localparam int unsigned W        = nmx_isa_pkg::WORD_ELEM_BITS,   // lane width (int32)
  localparam int unsigned SW       = nmx_isa_pkg::SHIFT_BITS        // shift field width
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic                    flush,
  input  logic                    in_valid,
  output logic                    in_ready,
  input  logic [COLS*W-1:0]       in_acc,
  input  logic [W-1:0]            in_row_off,
  input  logic [W-1:0]            in_row_scale,
  input  logic [META_BITS-1:0]    in_meta,
  output logic                    out_valid,
  input  logic                    out_ready,
  output logic [COLS*W-1:0]       out_data,
  output logic [META_BITS-1:0]    out_meta,
  output logic                    busy,
  input  logic                    cfg_bias_en,
  input  logic                    cfg_row_en,
  input  logic                    cfg_requant_en,
  input  logic                    cfg_pwl_en,
  input  logic                    cfg_out_int32,
  input  logic [SW-1:0]           cfg_row_shift,
  input  logic [COLS*W-1:0]       cfg_bias,
  input  logic [COLS*W-1:0]       cfg_mult,
  input  logic [COLS*SW-1:0]      cfg_shift,
  input  logic [nmx_isa_pkg::PWL_WORDS*W-1:0] cfg_pwl
);

  localparam int unsigned STAGES   = 10;
  localparam int unsigned PW       = 2 * W;                          // product width
  localparam int unsigned I8_BITS  = nmx_isa_pkg::BYTE_ELEM_BITS;    // int8 output
  localparam int unsigned SEG_BITS = $clog2(nmx_isa_pkg::PWL_SEGMENTS);

  // Written for both Verilator and Yosys' native SV frontend: plain types in function
  // signatures, results assigned to the function name.
  localparam logic signed [W-1:0]  I32_MAX = {1'b0, {(W-1){1'b1}}};
  localparam logic signed [W-1:0]  I32_MIN = {1'b1, {(W-1){1'b0}}};
  localparam logic signed [W-1:0]  I8_MAX  = W'((1 << (I8_BITS - 1)) - 1);
  localparam logic signed [W-1:0]  I8_MIN  = -I8_MAX - W'(1);
  localparam logic signed [W-1:0]  ONE     = W'(1);
  localparam logic signed [PW-1:0] ONE64   = PW'(1);

  // ---------------------------------------------------------------- arithmetic helpers
  // sat_32 of a 64-bit value: in range iff bits [63:31] are all equal
  function automatic logic signed [W-1:0] sat32_64(input logic signed [PW-1:0] x);
    if (!x[PW-1] && (x[PW-1:W-1] != '0))     sat32_64 = I32_MAX;
    else if (x[PW-1] && (x[PW-1:W-1] != '1)) sat32_64 = I32_MIN;
    else                                     sat32_64 = x[W-1:0];
  endfunction

  function automatic logic signed [W-1:0] sat32_add(input logic signed [W-1:0] a,
                                                    input logic signed [W-1:0] b);
    logic signed [W:0] s;
    s = {a[W-1], a} + {b[W-1], b};
    if (s[W] != s[W-1]) sat32_add = s[W] ? I32_MIN : I32_MAX;
    else                sat32_add = s[W-1:0];
  endfunction

  function automatic logic signed [W-1:0] sat8_32(input logic signed [W-1:0] v);
    if (v > I8_MAX)      sat8_32 = I8_MAX;
    else if (v < I8_MIN) sat8_32 = I8_MIN;
    else                 sat8_32 = v;
  endfunction

  // round-half-away-from-zero right shift, shift clamped to SHIFT_MAX; |x| <= 2^62, so
  // x + 2^61 never overflows 64 bits
  function automatic logic signed [PW-1:0] rshift_rnd(input logic signed [PW-1:0] x,
                                                      input logic [SW-1:0] s);
    logic [SW-1:0]         sc;
    logic signed [PW-1:0]  half;
    logic signed [PW-1:0]  biased;
    sc = (s > SW'(nmx_isa_pkg::SHIFT_MAX)) ? SW'(nmx_isa_pkg::SHIFT_MAX) : s;
    if (sc == '0) begin
      rshift_rnd = x;
    end else begin
      half       = ONE64 <<< (sc - SW'(1));
      biased     = x + half - {{(PW-1){1'b0}}, x[PW-1]};
      rshift_rnd = biased >>> sc;
    end
  endfunction

  function automatic logic signed [PW-1:0] mul32(input logic signed [W-1:0] a,
                                                 input logic signed [W-1:0] b);
    mul32 = {{(PW-W){a[W-1]}}, a} * {{(PW-W){b[W-1]}}, b};
  endfunction

  // ---------------------------------------------------------------- configuration views
  logic signed [W-1:0]             bias_eff   [COLS];
  logic signed [W-1:0]             mult_eff   [COLS];
  logic [SW-1:0]    shift_eff  [COLS];
  logic signed [W-1:0]             bp         [nmx_isa_pkg::PWL_BREAKPOINTS];
  logic signed [W-1:0]             slope_tab  [nmx_isa_pkg::PWL_SEGMENTS];
  logic signed [W-1:0]             icpt_tab   [nmx_isa_pkg::PWL_SEGMENTS];
  logic [SW-1:0]    row_shift_eff, pwl_shift_eff;

  always_comb begin
    for (int c = 0; c < COLS; c++) begin
      bias_eff[c]  = cfg_bias_en    ? $signed(cfg_bias[c*W +: W]) : '0;
      mult_eff[c]  = cfg_requant_en ? $signed(cfg_mult[c*W +: W]) : ONE;
      shift_eff[c] = cfg_requant_en ? cfg_shift[c*SW +: SW]      : '0;
    end
    for (int j = 0; j < nmx_isa_pkg::PWL_BREAKPOINTS; j++) bp[j] = $signed(cfg_pwl[j*W +: W]);
    for (int j = 0; j < nmx_isa_pkg::PWL_SEGMENTS; j++) begin
      slope_tab[j] = $signed(cfg_pwl[(nmx_isa_pkg::PWL_SLOPE_WORD + j)*W +: W]);
      icpt_tab[j]  = $signed(cfg_pwl[(nmx_isa_pkg::PWL_ICPT_WORD + j)*W +: W]);
    end
    row_shift_eff = cfg_row_en ? cfg_row_shift : '0;
    pwl_shift_eff = cfg_pwl_en ? cfg_pwl[nmx_isa_pkg::PWL_SHIFT_WORD*W +: SW] : '0;
  end

  // ---------------------------------------------------------------- pipeline registers
  logic                 vld  [1:STAGES];
  logic [META_BITS-1:0] meta [1:STAGES];
  logic                 adv;

  logic signed [W-1:0] s1_v [COLS];  logic signed [W-1:0] s1_off;  logic signed [W-1:0] s1_sc;
  logic signed [W-1:0] s2_v [COLS];  logic signed [W-1:0] s2_sc;
  logic signed [PW-1:0] s3_p [COLS];
  logic signed [W-1:0] s4_v [COLS];
  logic signed [PW-1:0] s5_p [COLS];
  logic signed [W-1:0] s6_v [COLS];
  logic signed [W-1:0] s7_v [COLS];  logic signed [W-1:0] s7_slope [COLS];  logic signed [W-1:0] s7_icpt [COLS];
  logic signed [PW-1:0] s8_p [COLS];  logic signed [W-1:0] s8_icpt [COLS];
  logic signed [PW-1:0] s9_q [COLS];  logic signed [W-1:0] s9_icpt [COLS];
  logic signed [W-1:0] s10_v [COLS];

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
      for (int j = 0; j < nmx_isa_pkg::PWL_BREAKPOINTS; j++)
        seg_cnt[c] += (SEG_BITS + 1)'(s6_v[c] >= bp[j]);
    end
  end

  // datapath (no reset: qualified by vld)
  always_ff @(posedge clk) begin
    if (adv) begin
      // S1
      for (int c = 0; c < COLS; c++) s1_v[c] <= sat32_add($signed(in_acc[c*W +: W]), bias_eff[c]);
      s1_off <= cfg_row_en ? $signed(in_row_off) : '0;
      s1_sc  <= cfg_row_en ? $signed(in_row_scale) : ONE;
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
        s7_slope[c] <= cfg_pwl_en ? slope_tab[seg_cnt[c][SEG_BITS-1:0]] : ONE;
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
        s10_v[c] <= cfg_out_int32 ? sat32_64(s9_q[c] + {{(PW-W){s9_icpt[c][W-1]}}, s9_icpt[c]})
                                  : sat8_32(sat32_64(s9_q[c] + {{(PW-W){s9_icpt[c][W-1]}}, s9_icpt[c]}));
      end
    end
  end

endmodule : nmx_ppu
