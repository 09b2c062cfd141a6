// nmx_saif_dpi: closes the current SAIF trace file of a power build (tb/hdl/nmx_tb_top.sv).
//
// Verilator's $dumpoff only stops dumping; it neither writes the SAIF nor lets $dumpfile/$dumpvars
// open another file.  The generated model's symbol table owns the trace file opened by $dumpvars
// and closes it with _traceDumpClose(), which writes the SAIF of everything dumped so far.  Calling
// it from a DPI function (the scope of nmx_tb_top) ends one activity window, so the next $dumpvars
// opens a fresh file: one SAIF per window.
#include "svdpi.h"
#include "verilated_dpi.h"
#include "Vtop__Syms.h"

extern "C" void nmx_saif_close() {
    const svScope scope = svGetScope();
    if (!scope) return;
    auto* syms = static_cast<Vtop__Syms*>(static_cast<const VerilatedScope*>(scope)->symsp());
    syms->_traceDumpClose();
}
