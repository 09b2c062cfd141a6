"""Directed violations of every assertion of rtl/sva/ (cocotb module of tests/test_sva.py).

Each checker module (``nmx_<block>_sva``) is the simulation top by itself: its inputs are the signals it
watches, so a test can break any rule directly - the "forced signal in a small test top" of
docs/verification.md. For the checker named by ``$NMX_SVA_CHECKER``, every scenario of
:data:`SCENARIOS` resets the checker, holds the legal baseline, applies its steps (one dict of signal
overrides per clock cycle; a combinational checker gets one evaluation per step), returns to the
baseline for a cycle and records which assertions fired in that window (the failure log of
rtl/sva/nmx_sva_pkg.sv; the build defines NMX_SVA_NO_FINISH so the simulation goes on). A first
scenario ``baseline`` applies nothing: it must fire nothing. The result, {scenario: [fired names]},
goes to ``sva_fire.json`` in the working directory.
"""

from __future__ import annotations

import json
import os
import pathlib
import re

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

LOG = pathlib.Path("nmx_sva_failures.log")
OP = {"LOAD": 1, "GEMM": 2, "STORE": 3, "PPUCFG": 4, "SYNC": 5, "FINISH": 6, "GATHER": 7}
IB = 128


def packed(width: int, values: dict[int, int]) -> int:
    """A packed array of ``width``-bit elements, element i = values[i] (others 0)."""
    v = 0
    for i, x in values.items():
        v |= (x & ((1 << width) - 1)) << (i * width)
    return v


def tok(pairs: dict[tuple[int, int], int], bits: int = 2) -> int:
    """tok[s][d] of nmx_token_unit (NQ = 3): element s*3+d."""
    return packed(bits, {s * 3 + d: v for (s, d), v in pairs.items()})


def bits2(pairs: list[tuple[int, int]]) -> int:
    """inc/dec[s][d]: bit s*3+d."""
    return sum(1 << (s * 3 + d) for s, d in pairs)


AXI_BASE = {"m_axi_arsize": 4, "m_axi_arburst": 1, "m_axi_awsize": 4, "m_axi_awburst": 1}

# checker -> (Verilog parameters of the build, baseline, {assertion: [step, ...]})
CHECKERS: dict[str, tuple[dict[str, int], dict[str, int], dict[str, list[dict[str, int]]]]] = {
    "nmx_fifo_sva": (
        {"WIDTH": 8, "DEPTH": 5},
        {
            "in_valid": 0,
            "in_ready": 1,
            "out_valid": 0,
            "out_ready": 0,
            "push": 0,
            "pop": 0,
            "wr_ptr": 0,
            "rd_ptr": 0,
            "count": 0,
        },
        {
            "a_fifo_count_range": [{"count": 6, "wr_ptr": 1, "out_valid": 1}],
            "a_fifo_no_overflow": [{"count": 5, "in_ready": 0, "out_valid": 1, "push": 1, "in_valid": 1}],
            "a_fifo_no_underflow": [{"pop": 1, "out_ready": 1}],
            "a_fifo_flags": [{"in_ready": 0}],
            "a_fifo_handshake": [{"push": 1}],
            "a_fifo_ptr_range": [{"rd_ptr": 6, "wr_ptr": 6}],
            "a_fifo_ptr_count": [{"wr_ptr": 2}],
            "a_fifo_count_step": [{"count": 1, "wr_ptr": 1, "out_valid": 1}],
        },
    ),
    "nmx_token_unit_sva": (
        {"TOKEN_BITS": 2, "INFLIGHT_DEPTH": 2},
        {
            "halt": 0,
            "q_valid": 0,
            "q_pop": 0,
            "q_insn": 0,
            "q_index": 0,
            "disp_stuck": 0,
            "cmd_valid": 0,
            "cmd_ready": 0,
            "cmd_insn": 0,
            "cmpl_valid": 0,
            "eng_idle": 7,
            "err_valid": 0,
            "err_code": 0,
            "err_index": 0,
            "tok": 0,
            "inc": 0,
            "dec": 0,
            "stg_valid": 0,
            "stg_leave": 0,
            "fl_valid": 0,
            "fl_empty": 7,
            "fl_in_ready": 7,
        },
        {
            "a_tok_diag_zero": [{"tok": tok({(1, 1): 1})}],
            "a_tok_pop_needs_token": [{"q_pop": 1, "q_insn": packed(IB, {0: OP["LOAD"] | 1 << 5})}],
            "a_tok_stage_no_overwrite": [
                {
                    "q_pop": 4,
                    "stg_valid": 4,
                    "cmd_insn": packed(IB, {2: OP["STORE"]}),
                    "q_insn": packed(IB, {2: OP["STORE"]}),
                }
            ],
            "a_tok_cmd_route": [{"stg_valid": 2, "cmd_insn": packed(IB, {1: OP["LOAD"]})}],
            "a_tok_sync_not_sent": [
                {"stg_valid": 1, "cmd_valid": 1, "cmd_insn": packed(IB, {0: OP["SYNC"]})}
            ],
            "a_tok_inflight_no_overflow": [
                {
                    "stg_valid": 1,
                    "cmd_valid": 1,
                    "cmd_ready": 1,
                    "fl_in_ready": 6,
                    "cmd_insn": packed(IB, {0: OP["LOAD"]}),
                }
            ],
            "a_eng_cmpl_expected": [{"cmpl_valid": 2}],
            "a_disp_head_routed": [{"q_valid": 4, "q_insn": packed(IB, {2: OP["GEMM"]})}],
            "a_tok_no_underflow": [{"dec": bits2([(0, 1)])}],
            "a_tok_halt_quiet": [{"halt": 1, "q_pop": 1, "q_insn": packed(IB, {0: OP["LOAD"]})}],
            "a_tok_overflow_reported": [{"inc": bits2([(0, 1)]), "tok": tok({(0, 1): 3})}],
            "a_tok_overflow_legal": [{"err_valid": 1, "err_code": 7}],
            "a_tok_deadlock_reported": [
                {"disp_stuck": 1, "q_valid": 1, "q_insn": packed(IB, {0: OP["LOAD"] | 1 << 5})}
            ],
            "a_tok_deadlock_legal": [{"err_valid": 1, "err_code": 6}],
            "a_tok_err_code": [{"err_valid": 1, "err_code": 3}],
            "a_tok_cmd_held": [
                {"stg_valid": 1, "cmd_valid": 1, "cmd_insn": packed(IB, {0: OP["LOAD"]})},
                {"stg_valid": 1, "cmd_insn": packed(IB, {0: OP["LOAD"]})},
            ],
            "a_tok_count_step": [{"tok": tok({(0, 2): 1})}],
        },
    ),
    "nmx_dispatcher_sva": (
        {
            "ROWS": 4,
            "COLS": 4,
            "INP_DEPTH": 12,
            "WGT_DEPTH": 10,
            "ACC_DEPTH": 6,
            "VEC_DEPTH": 14,
            "QUEUE_DEPTH": 2,
        },
        {
            "insn_valid": 0,
            "insn_ready": 0,
            "insn_data": 0,
            "halt": 0,
            "accept": 0,
            "dispatched": 0,
            "finish_seen": 0,
            "err_valid": 0,
            "err_code": 0,
            "err_index": 0,
            "held_valid": 0,
            "held": 0,
            "held_index": 0,
            "next_index": 0,
            "finish_in": 0,
            "err_sent": 0,
            "fifo_push": 0,
            "fifo_in_ready": 7,
        },
        {
            # LOAD with x_size = 0: ILLEGAL_FIELD, but no error raised
            "a_disp_check_fail": [{"held_valid": 1, "held": OP["LOAD"] | 1 << 52}],
            # opcode 0 reported as ILLEGAL_FIELD instead of ILLEGAL_OPCODE
            "a_disp_check_code": [{"held_valid": 1, "held": 0, "err_valid": 1, "err_code": 2}],
            # a legal GEMM (m = 1) pushed into the LD queue
            "a_disp_route": [{"held_valid": 1, "held": OP["GEMM"] | 1 << 58, "fifo_push": 1}],
            "a_disp_one_push": [{"fifo_push": 3, "fifo_in_ready": 0}],
            "a_disp_finish_seen": [{"finish_seen": 1}],
            "a_disp_held_finish": [{"held_valid": 1, "held": OP["FINISH"]}],
            "a_disp_no_accept": [{"finish_in": 1, "insn_ready": 1}],
            "a_disp_accept": [{"insn_valid": 1, "insn_ready": 1}],
            "a_disp_dispatched": [{"dispatched": 1}],
            "a_disp_index_step": [{"next_index": 5}],
            "a_disp_held_capture": [
                {"accept": 1, "insn_valid": 1, "insn_ready": 1, "insn_data": OP["SYNC"]},
                {"next_index": 1},
            ],
            "a_disp_sticky": [{"err_sent": 1}, {}],
        },
    ),
    "nmx_axi_burst_split_sva": (
        {"BUS_BYTES": 16, "ADDR_BITS": 32, "BYTES_BITS": 16},
        {
            "addr": 0,
            "bytes": 16,
            "burst_addr": 0,
            "burst_len": 0,
            "burst_off": 0,
            "burst_bytes": 16,
            "burst_last": 1,
        },
        {
            "a_split_aligned": [{"burst_addr": 0x10}],
            "a_split_progress": [{"burst_bytes": 0, "burst_last": 0}],
            "a_split_no_4k": [{"addr": 0xFF0, "burst_addr": 0xFF0, "burst_len": 1}],
            "a_split_len_legal": [{"burst_len": 1}],
            "a_split_last": [{"burst_last": 0}],
            "a_split_maximal": [{"bytes": 32, "burst_last": 0}],
        },
    ),
    "nmx_load_engine_sva": (
        {
            "INP_DEPTH": 12,
            "WGT_DEPTH": 10,
            "VEC_DEPTH": 14,
            "ACC_DEPTH": 6,
            "AXI_DATA_BITS": 128,
            "RD_OUTSTANDING": 2,
        },
        {
            "idle": 1,
            "m_axi_arid": 0,
            "m_axi_araddr": 0,
            "m_axi_arlen": 0,
            "m_axi_arvalid": 0,
            "m_axi_arready": 1,
            "m_axi_rlast": 0,
            "m_axi_rvalid": 0,
            "m_axi_rready": 0,
            "issue": 0,
            "meta_in_ready": 1,
            "act": 0,
            "a_gather": 0,
            "a_gidx": 0,
            "a_gwait": 0,
            "inp_we": 0,
            "inp_waddr": 0,
            "wgt_we": 0,
            "wgt_waddr": 0,
            "vec_we": 0,
            "vec_waddr": 0,
            "row_we": 0,
            "row_waddr": 0,
            **{k: v for k, v in AXI_BASE.items() if k.startswith("m_axi_ar")},
        },
        {
            "a_axi_ar_4k": [
                {"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0, "m_axi_araddr": 0xFF0, "m_axi_arlen": 1}
            ],
            "a_axi_ar_size": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0, "m_axi_arsize": 3}],
            "a_axi_ar_burst": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0, "m_axi_arburst": 2}],
            "a_axi_ar_aligned": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0, "m_axi_araddr": 8}],
            "a_axi_rd_outstanding": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_rready": 1}] * 3
            + [{"idle": 0, "m_axi_rready": 1}],
            "a_axi_r_ready": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_rready": 1}, {"idle": 0}],
            "a_axi_r_expected": [{"m_axi_rvalid": 1, "m_axi_rready": 1}],
            "a_ld_idle_drained": [{"m_axi_arvalid": 1, "m_axi_arready": 0}],
            "a_ld_meta_no_overflow": [{"idle": 0, "issue": 1, "meta_in_ready": 0}],
            "a_ld_state_legal": [{"idle": 0, "act": 1, "a_gather": 1, "a_gidx": 1, "a_gwait": 1}],
            "a_ld_wr_range": [{"idle": 0, "inp_we": 1, "inp_waddr": 13}],
            "a_ld_one_write": [{"idle": 0, "inp_we": 1, "wgt_we": 1}],
            "a_axi_ar_hold": [{"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0}, {"idle": 0}],
            "a_axi_ar_stable": [
                {"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0},
                {"idle": 0, "m_axi_arvalid": 1, "m_axi_arready": 0, "m_axi_araddr": 0x10},
            ],
        },
    ),
    "nmx_store_engine_sva": (
        {"COLS": 4, "ACC_DEPTH": 6, "VEC_DEPTH": 14, "AXI_DATA_BITS": 128, "OUTSTANDING": 2},
        {
            "idle": 1,
            "cmpl_valid": 0,
            "m_axi_awid": 0,
            "m_axi_awaddr": 0,
            "m_axi_awlen": 0,
            "m_axi_awvalid": 0,
            "m_axi_awready": 1,
            "m_axi_wdata": 0,
            "m_axi_wstrb": 0,
            "m_axi_wlast": 0,
            "m_axi_wvalid": 0,
            "m_axi_wready": 1,
            "m_axi_bvalid": 0,
            "m_axi_bready": 1,
            "fe_state": 0,
            "beat_fire": 0,
            "burst_start": 0,
            "aw_in_ready": 1,
            "w_in_ready": 1,
            "b_in_ready": 1,
            "b_fire": 0,
            "b_err": 0,
            "ret_out_data": 0,
            "b_out_bits": 0,
            "acc_re": 0,
            "acc_raddr": 0,
            "vec_re": 0,
            "vec_raddr": 0,
            **{k: v for k, v in AXI_BASE.items() if k.startswith("m_axi_aw")},
        },
        {
            "a_axi_aw_4k": [
                {"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0, "m_axi_awaddr": 0xFF0, "m_axi_awlen": 1}
            ],
            "a_axi_aw_size": [{"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0, "m_axi_awsize": 2}],
            "a_axi_aw_burst": [{"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0, "m_axi_awburst": 0}],
            "a_axi_aw_aligned": [{"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0, "m_axi_awaddr": 4}],
            # AW announces 2 beats, the W burst ends after 1
            "a_axi_wlast": [
                {"idle": 0, "m_axi_awvalid": 1, "m_axi_awlen": 1},
                {"idle": 0, "m_axi_wvalid": 1, "m_axi_wlast": 1},
                {"idle": 0},
            ],
            "a_axi_wr_outstanding": [{"idle": 0, "m_axi_awvalid": 1}] * 3 + [{"idle": 0}],
            "a_axi_b_ready": [{"idle": 0, "m_axi_awvalid": 1}, {"idle": 0, "m_axi_bready": 0}],
            "a_axi_b_expected": [{"m_axi_bvalid": 1}],
            "a_st_idle_drained": [{"m_axi_wvalid": 1, "m_axi_wready": 0}],
            "a_st_fifo_room": [{"idle": 0, "beat_fire": 1, "w_in_ready": 0}],
            "a_st_fe_state_legal": [{"idle": 0, "fe_state": 6}],
            "a_st_store_cmpl_after_b": [{"idle": 0, "cmpl_valid": 1, "ret_out_data": 1}],
            "a_st_rd_range": [{"idle": 0, "acc_re": 1, "acc_raddr": 7}],
            "a_axi_aw_hold": [{"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0}, {"idle": 0}],
            "a_axi_aw_stable": [
                {"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0},
                {"idle": 0, "m_axi_awvalid": 1, "m_axi_awready": 0, "m_axi_awaddr": 0x10},
            ],
            "a_axi_w_hold": [{"idle": 0, "m_axi_wvalid": 1, "m_axi_wready": 0}, {"idle": 0}],
            "a_axi_w_stable": [
                {"idle": 0, "m_axi_wvalid": 1, "m_axi_wready": 0},
                {"idle": 0, "m_axi_wvalid": 1, "m_axi_wready": 0, "m_axi_wdata": 1},
            ],
        },
    ),
    "nmx_gemm_engine_sva": (
        {"ROWS": 4, "COLS": 4, "INP_DEPTH": 12, "WGT_DEPTH": 10, "ACC_DEPTH": 6},
        {
            "idle": 1,
            "err_valid": 0,
            "inp_re": 0,
            "inp_raddr": 0,
            "wgt_re": 0,
            "wgt_raddr": 0,
            "acc_re": 0,
            "acc_raddr": 0,
            "acc_we": 0,
            "acc_waddr": 0,
            "bank_loaded": 0,
            "drain_cnt": 0,
            "pl_go": 0,
            "pl_started": 0,
            "pl_bank": 0,
            "wl_en": 0,
            "su_issue": 0,
            "su_bank": 0,
        },
        {
            "a_gemm_wl_bank_free": [{"idle": 0, "wl_en": 1, "bank_loaded": 1}],
            "a_gemm_reload_drained": [{"idle": 0, "pl_go": 1, "drain_cnt": 2}],
            "a_gemm_stream_loaded": [{"idle": 0, "su_issue": 1, "su_bank": 1, "bank_loaded": 1}],
            "a_gemm_sram_range": [{"idle": 0, "inp_re": 1, "inp_raddr": 13}],
            "a_gemm_idle_quiet": [{"acc_we": 1}],
            "a_gemm_no_error": [{"idle": 0, "err_valid": 1}],
        },
    ),
    "nmx_top_sva": (
        {"AXI_DATA_BITS": 128, "AXI_ID_BITS": 4},
        {
            "insn_valid": 0,
            "insn_ready": 0,
            "insn_data": 0,
            "m_axi_awvalid": 0,
            "m_axi_awready": 1,
            "m_axi_wvalid": 0,
            "m_axi_bvalid": 0,
            "m_axi_bready": 1,
            "m_axi_arvalid": 0,
            "m_axi_arready": 1,
            "m_axi_rvalid": 0,
            "m_axi_rready": 1,
            "m_axi_rlast": 0,
            "done": 0,
            "error": 0,
            "error_code": 0,
            "error_index": 0,
            "err_flag": 0,
            "init_busy": 0,
            "d_finish": 0,
            "d_empty": 1,
            "t_quiescent": 1,
            "eng_idle": 7,
            "cnt": 0,
            "started": 0,
            "d_accept": 0,
            "d_stall": 0,
            "ld_stall_mem": 0,
            "st_stall_mem": 0,
            "stall_token": 0,
        },
        {
            "a_isa_no_accept_after_done": [{"done": 1, "d_finish": 1, "insn_ready": 1}],
            "a_isa_no_accept_after_error": [{"err_flag": 1, "insn_ready": 1}],
            "a_isa_no_accept_in_init": [{"init_busy": 1, "insn_ready": 1}],
            "a_isa_done_rule": [{"done": 1}],
            "a_isa_error_code": [{"error": 1}],
            "a_isa_done_drained": [{"done": 1, "d_finish": 1, "m_axi_arvalid": 1, "m_axi_arready": 0}],
            # withdrawn, then offered again without a reset
            "a_insn_valid_held": [{"insn_valid": 1}, {}, {"insn_valid": 1, "insn_data": 7}],
            "a_insn_data_stable": [{"insn_valid": 1}, {"insn_valid": 1, "insn_data": 5}],
            "a_isa_done_sticky": [{"done": 1, "d_finish": 1}, {}],
            "a_isa_counters_frozen": [{"done": 1, "d_finish": 1}, {"done": 1, "d_finish": 1, "cnt": 1}],
            # a register a reset left as it was: an engine still busy in the cycle after a reset cycle
            "a_reset_state": [{"rst_n": 0}, {"eng_idle": 3}],
            # a cycle of STALL_DISPATCH's event the counter did not count (element 10 of cnt stays 0)
            "a_cnt_event_step": [{"d_stall": 1}, {}],
        },
    ),
}
COMBINATIONAL = {"nmx_axi_burst_split_sva"}


def logged() -> list[str]:
    if not LOG.exists():
        return []
    return [m.group(1) for m in re.finditer(r"NMX-SVA FAIL (\w+)", LOG.read_text())]


@cocotb.test()
async def fire_every_assertion(dut) -> None:  # type: ignore[no-untyped-def]
    name = os.environ["NMX_SVA_CHECKER"]
    _params, base, scenarios = CHECKERS[name]
    comb = name in COMBINATIONAL

    def drive(over: dict[str, int]) -> None:
        for k, v in {**base, **over}.items():
            getattr(dut, k).value = v

    if not comb:
        Clock(dut.clk, 10, unit="ns").start()
    fired: dict[str, list[str]] = {}
    for scen, steps in [("baseline", [{}, {}, {}]), *scenarios.items()]:
        if comb:
            drive({})
            await Timer(1, unit="ns")
            mark = len(logged())
            for st in steps:
                drive(st)
                await Timer(1, unit="ns")
            drive({})
            await Timer(1, unit="ns")
        else:
            await FallingEdge(dut.clk)
            drive({})
            dut.rst_n.value = 0
            for _ in range(2):
                await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            dut.rst_n.value = 1
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            mark = len(logged())
            for st in steps:
                drive(st)
                await RisingEdge(dut.clk)
                await FallingEdge(dut.clk)
            drive({})
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
        fired[scen] = sorted(set(logged()[mark:]))
    pathlib.Path("sva_fire.json").write_text(json.dumps(fired, indent=1, sort_keys=True))
