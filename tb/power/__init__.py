"""Power estimation from the RTL's own toggle activity (docs/power.md).

capture      -- the simulator-process side: layer bounds for the window controller, the folder
saif         -- SAIF reader (fast), window merger (per-window corrections) and writer
hier         -- which RTL module each SAIF instance is; register / net / memory / clock bits
tech         -- technology files (YAML, every coefficient with its unit and source)
energy       -- the energy model: toggles x per-module size + clock tree + leakage + SRAM + DRAM
report       -- per-run analysis: run SAIF, JSON, markdown, plots, event-count cross-check
cpu_baseline -- float PyTorch on this CPU against the accelerator's GOPS/W
"""
