// nmx_sva_pkg: the assertion macros and the failure report shared by every checker of rtl/sva/
// (docs/verification.md, "Assertions"). Simulation and verification only: never synthesized, never
// linted with rtl/ (tb.sim_env.rtl_sources() globs rtl/*.sv, not this folder). Compile it first.
//
// Every checker is a module nmx_<block>_sva bound into its block (`bind` at the end of its file) and
// sampling at the rising clock edge, so the rules read the values of the edge. The macros:
//
//   `NMX_ASSERT(name, cond)  a rule of the block itself.
//   `NMX_ASSUME(name, cond)  a rule the block's neighbours (or the testbench) must keep: checked like an
//                            assertion in simulation, an assumption of the block's formal proof
//                            (tb/formal: `assume` when FORMAL is defined).
//   `NMX_ASSERT_LOOP, `NMX_ASSUME_LOOP  the same inside a for loop (unlabelled for Yosys, which allows
//                            one cell per label; formal reports then name the rule by file and line).
//   `NMX_SVA_INIT            one per checker: truncates the failure log at time 0 in simulation.
//   `NMX_SVA_RST_SEEN        one per clocked checker: rst_seen, high once the block has seen a reset
//                            (constant 1 in formal, where the wrapper assumes the reset). Rules hold
//                            while rst_n and rst_seen are high; rules over two cycles also need the
//                            previous cycle to be such a cycle (active_q).
//
// In simulation (Verilator --assert, tb.sim_env.run_cocotb) a failing rule calls fail(): it prints
// "NMX-SVA FAIL <name> (<instance path>)", appends the same line to SVA_LOG in the simulator's working
// directory (tb.sim_env.check_results puts it into the SimFailure it raises) and ends the simulation
// with $finish, so the running cocotb test fails ("the simulation ended prematurely"). With
// +define+NMX_SVA_NO_FINISH the simulation goes on after a failure (the directed tests of
// tests/test_sva.py fire one rule after another in one simulation).
//
// With FORMAL (Yosys' native SystemVerilog front end, tb/formal) the macros are plain immediate
// assertions/assumptions: the checkers use only what that front end reads (no concurrent properties,
// no sequences, no bind; registered copies instead of $past).
`ifndef NMX_SVA_PKG_SV
`define NMX_SVA_PKG_SV
`ifdef FORMAL
  `define NMX_ASSERT(name, cond) name: assert (cond);
  `define NMX_ASSUME(name, cond) name: assume (cond);
  // inside a for loop: Yosys names a labelled assertion's cell by its label, once per module
  `define NMX_ASSERT_LOOP(name, cond) assert (cond);
  `define NMX_ASSUME_LOOP(name, cond) assume (cond);
  `define NMX_SVA_INIT
  // the proof's wrapper assumes reset in the first cycle; rules hold whenever rst_n is high (a register
  // here would be free in the induction step and could switch one checker off against another)
  `define NMX_SVA_RST_SEEN wire rst_seen = 1'b1;
`else
  `define NMX_ASSERT_LOOP(name, cond) `NMX_ASSERT(name, cond)
  `define NMX_ASSUME_LOOP(name, cond) `NMX_ASSUME(name, cond)
  `define NMX_SVA_INIT initial nmx_sva_pkg::init();
  `define NMX_SVA_RST_SEEN logic rst_seen = 1'b0; always @(posedge clk) if (!rst_n) rst_seen <= 1'b1;
  `define NMX_ASSERT(name, cond) name: assert (cond) else nmx_sva_pkg::fail($sformatf("%m"), `"name`");
  `define NMX_ASSUME(name, cond) name: assert (cond) else nmx_sva_pkg::fail($sformatf("%m"), `"name`");

package nmx_sva_pkg;

  localparam string SVA_LOG = "nmx_sva_failures.log";

  // truncate the log: called from an initial block of every checker (time 0, before any clock edge)
  function automatic void init();
    int fd;
    fd = $fopen(SVA_LOG, "w");
    if (fd != 0) $fclose(fd);
  endfunction

  function automatic void fail(input string where, input string name);
    int fd;
    $display("[%0t] NMX-SVA FAIL %s (%s)", $time, name, where);
    fd = $fopen(SVA_LOG, "a");
    if (fd != 0) begin
      $fdisplay(fd, "NMX-SVA FAIL %s (%s) at %0t", name, where, $time);
      $fclose(fd);
    end
`ifndef NMX_SVA_NO_FINISH
    $finish;
`endif
  endfunction

endpackage : nmx_sva_pkg
`endif
`endif
