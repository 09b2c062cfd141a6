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
// cycle t + k), column c's dot product is on psum_out[c] in cycle t + ROWS + c. A bank may be
// reloaded (first wl_en) from the cycle in which the last row using it is in PE(ROWS-1, COLS-1),
// i.e. cycle t_last + ROWS + COLS - 2: the PE still reads the old weight in that cycle.
//
// The mesh wires are flat packed vectors (portable to every synthesis front end).
module nmx_systolic_array #(
  parameter int unsigned ROWS   = 16,
  parameter int unsigned COLS   = 16,
  parameter int unsigned DATA_W = nmx_isa_pkg::BYTE_ELEM_BITS,
  parameter int unsigned PSUM_W = nmx_isa_pkg::WORD_ELEM_BITS,
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

  localparam int unsigned WB_W = NUM_BANKS * DATA_W;  // both weight banks of one PE

  // act / bank: entering PE(r, c) at index r*(COLS+1)+c; column COLS is the open east edge.
  logic [ROWS*(COLS+1)*DATA_W-1:0] act;
  logic [ROWS*(COLS+1)-1:0]        bank;
  // psum entering PE(r, c) from above at index r*COLS+c; row ROWS is the bottom output.
  logic [(ROWS+1)*COLS*PSUM_W-1:0] psum;
  // both weight banks entering PE(r, c) from above at index r*COLS+c (load chain).
  logic [(ROWS+1)*COLS*WB_W-1:0]   wgt;

  for (genvar r = 0; r < ROWS; r++) begin : g_west
    assign act[(r*(COLS+1))*DATA_W +: DATA_W] = act_in[r*DATA_W +: DATA_W];
    assign bank[r*(COLS+1)]                    = bank_in[r];
  end

  for (genvar c = 0; c < COLS; c++) begin : g_north
    assign psum[c*PSUM_W +: PSUM_W] = '0;
    assign wgt[c*WB_W +: WB_W]      = {NUM_BANKS{wl_data[c*DATA_W +: DATA_W]}};
    assign psum_out[c*PSUM_W +: PSUM_W] = psum[(ROWS*COLS+c)*PSUM_W +: PSUM_W];
  end

  for (genvar r = 0; r < ROWS; r++) begin : g_row
    for (genvar c = 0; c < COLS; c++) begin : g_col
      nmx_pe #(.DATA_W(DATA_W), .PSUM_W(PSUM_W)) u_pe (
        .clk      (clk),
        .act_in   (act[(r*(COLS+1)+c)*DATA_W +: DATA_W]),
        .bank_in  (bank[r*(COLS+1)+c]),
        .act_out  (act[(r*(COLS+1)+c+1)*DATA_W +: DATA_W]),
        .bank_out (bank[r*(COLS+1)+c+1]),
        .psum_in  (psum[(r*COLS+c)*PSUM_W +: PSUM_W]),
        .psum_out (psum[((r+1)*COLS+c)*PSUM_W +: PSUM_W]),
        .wl_en    (wl_en),
        .wl_bank  (wl_bank),
        .w_in     (wgt[(r*COLS+c)*WB_W +: WB_W]),
        .w_out    (wgt[((r+1)*COLS+c)*WB_W +: WB_W])
      );
    end
  end

  // The east edge activations and the bottom of the weight chain are intentionally left open.
  logic unused_edges;
  always_comb begin
    unused_edges = ^wgt[ROWS*COLS*WB_W +: COLS*WB_W];
    for (int r = 0; r < ROWS; r++) begin
      unused_edges ^= ^{act[(r*(COLS+1)+COLS)*DATA_W +: DATA_W], bank[r*(COLS+1)+COLS]};
    end
  end

endmodule : nmx_systolic_array
