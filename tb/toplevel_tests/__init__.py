"""cocotb test modules for ``nmx_tb_top`` (the whole accelerator); see tb/harness.py."""
