// nmx_pe: one processing element of the weight-stationary systolic array.
//
//   psum_out <= psum_in + act_in * w[bank_in]      (signed DATA_W x DATA_W -> PSUM_W, wraps)
//   act_out  <= act_in, bank_out <= bank_in        (activation and its bank tag move right)
//
// Two weight registers (bank 0 / bank 1) make the weights double-buffered: while activations
// tagged with one bank stream through, the other bank is loaded by shifting a weight row down
// the column (wl_en, wl_bank: w[wl_bank] <= w_in[wl_bank]; w_out exposes both banks to the PE
// below). Because the bank tag travels with each activation through the skewed wavefront, the
// swap between two GEMMs is exact in every PE. Datapath registers need no reset: every
// wavefront slot is independent, so stale values only ever reach slots no one reads.
module nmx_pe #(
  parameter int unsigned DATA_W = nmx_isa_pkg::BYTE_ELEM_BITS,
  parameter int unsigned PSUM_W = nmx_isa_pkg::WORD_ELEM_BITS,
  localparam int unsigned NUM_BANKS = 2
) (
  input  logic                     clk,
  // activation from the left, to the right
  input  logic signed [DATA_W-1:0] act_in,
  input  logic                     bank_in,
  output logic signed [DATA_W-1:0] act_out,
  output logic                     bank_out,
  // partial sum from above, to below
  input  logic signed [PSUM_W-1:0] psum_in,
  output logic signed [PSUM_W-1:0] psum_out,
  // weight load chain (column-wise shift from above)
  input  logic                     wl_en,
  input  logic                     wl_bank,
  input  logic [NUM_BANKS*DATA_W-1:0] w_in,     // bank b at [b*DATA_W +: DATA_W]
  output logic [NUM_BANKS*DATA_W-1:0] w_out
);

  localparam int unsigned PROD_W = 2 * DATA_W;

  logic [NUM_BANKS*DATA_W-1:0] w_q;
  logic signed [DATA_W-1:0]    w_sel;
  logic signed [PROD_W-1:0]    prod;

  always_ff @(posedge clk) begin
    for (int b = 0; b < NUM_BANKS; b++) begin
      if (wl_en && (wl_bank == 1'(b))) w_q[b*DATA_W +: DATA_W] <= w_in[b*DATA_W +: DATA_W];
    end
  end

  assign w_out = w_q;
  assign w_sel = signed'(w_q[bank_in*DATA_W +: DATA_W]);
  assign prod  = act_in * w_sel;

  always_ff @(posedge clk) begin
    act_out  <= act_in;
    bank_out <= bank_in;
    psum_out <= psum_in + PSUM_W'(prod);
  end

endmodule : nmx_pe
