// nmx_systolic_array: ROWS x COLS weight-stationary array of nmx_pe.
//
// PE(r, c) holds weight W[k = r][n = c] (two banks). Row r of the array reduces over k = r.
//   * act_in[r*DATA_W +: DATA_W], bank_in[r]: activation element k = r entering row r at column 0.
//     The caller skews them: element k of an input row must arrive k cycles after element 0.
//     Activations move one column right per cycle.
//   * psum flows down: PE(0, c) starts from 0, PE(r, c) adds its product to PE(r-1, c)'s sum.
//   * psum_out[c*PSUM_W +: PSUM_W]: registered output of PE(ROWS-1, c).
//   * weight load: wl_data (one WGT row, COLS x DATA_W) enters the top row when wl_en; every
//     wl_en cycle shifts bank wl_bank down by one row. Feeding WGT rows k = ROWS-1 .. 0 in ROWS
//     consecutive wl_en cycles leaves W[k][c] in PE(k, c).
// Timing: if element 0 of an input row is on act_in[0] in cycle t (element k on act_in[k] in
// cycle t + k), column c's dot product is on psum_out[c] in cycle t + ROWS + c.
module nmx_systolic_array #(
  parameter int unsigned ROWS   = 16,
  parameter int unsigned COLS   = 16,
  parameter int unsigned DATA_W = 8,
  parameter int unsigned PSUM_W = 32,
  localparam int unsigned NUM_BANKS = 2
) (
  input  logic                     clk,
  input  logic [ROWS*DATA_W-1:0]   act_in,
  input  logic [ROWS-1:0]          bank_in,
  input  logic                     wl_en,
  input  logic                     wl_bank,
  input  logic [COLS*DATA_W-1:0]   wl_data,
  output logic [COLS*PSUM_W-1:0]   psum_out
);

  // act[r][c] / bank[r][c]: activation entering PE(r, c); column COLS is the unused east edge.
  logic [DATA_W-1:0] act  [ROWS][COLS+1];
  logic              bank [ROWS][COLS+1];
  // psum[r][c]: partial sum entering PE(r, c) from above; row ROWS is the bottom output.
  logic [PSUM_W-1:0] psum [ROWS+1][COLS];
  // wgt[r][c][b]: weight of bank b entering PE(r, c) from above in the load chain.
  logic [DATA_W-1:0] wgt  [ROWS+1][COLS][NUM_BANKS];

  for (genvar r = 0; r < ROWS; r++) begin : g_west
    assign act[r][0]  = act_in[r*DATA_W +: DATA_W];
    assign bank[r][0] = bank_in[r];
  end

  for (genvar c = 0; c < COLS; c++) begin : g_north
    assign psum[0][c] = '0;
    for (genvar b = 0; b < NUM_BANKS; b++) begin : g_bank
      assign wgt[0][c][b] = wl_data[c*DATA_W +: DATA_W];
    end
    assign psum_out[c*PSUM_W +: PSUM_W] = psum[ROWS][c];
  end

  for (genvar r = 0; r < ROWS; r++) begin : g_row
    for (genvar c = 0; c < COLS; c++) begin : g_col
      nmx_pe #(.DATA_W(DATA_W), .PSUM_W(PSUM_W)) u_pe (
        .clk      (clk),
        .act_in   (act[r][c]),
        .bank_in  (bank[r][c]),
        .act_out  (act[r][c+1]),
        .bank_out (bank[r][c+1]),
        .psum_in  (psum[r][c]),
        .psum_out (psum[r+1][c]),
        .wl_en    (wl_en),
        .wl_bank  (wl_bank),
        .w_in     (wgt[r][c]),
        .w_out    (wgt[r+1][c])
      );
    end
  end

  // The east edge activations and the bottom weight chain are intentionally left open.
  logic unused_edges;
  always_comb begin
    unused_edges = 1'b0;
    for (int r = 0; r < ROWS; r++) unused_edges ^= ^{act[r][COLS], bank[r][COLS]};
    for (int c = 0; c < COLS; c++) begin
      for (int b = 0; b < NUM_BANKS; b++) unused_edges ^= ^wgt[ROWS][c][b];
    end
  end

endmodule : nmx_systolic_array
