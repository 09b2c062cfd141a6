"""Power estimation from the RTL's own toggle activity (docs/power.md).

capture  -- what the simulator process does: layer bounds for the window controller, the folder
saif     -- SAIF reader (fast, per-instance sums by signal class), window merger and writer
tech     -- technology files (YAML, every coefficient with its source)
energy   -- the energy model: toggles x per-module capacitance + clock tree + leakage + SRAM + DRAM
events   -- the event-count cross-check (Accelergy style) from the RTL's counters
report   -- per-run analysis: JSON, markdown, plots
"""
