"""Block test of nmx_axi_burst_split (through the ``nmx_axi_burst_split_tb`` wrapper).

The wrapper holds one splitter per beat size 1 .. 128 bytes fed the same request. For random and
corner requests (address, byte count, beat size) the test walks the request burst by burst as
the DMA engines do (issue, advance by ``burst_bytes``, until ``burst_last``) and checks the AXI
rules on every burst - full-width beats from an aligned address, at most 256 beats, no 4 KiB
crossing - and on the whole walk: the bursts carry exactly the request's bytes, in order, with no
gap or overlap, and a burst only ends before the request does at a 4 KiB boundary or after 256
beats (so the split is the unique greedy one). The same walk computed by :func:`split` must match.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
from cocotb.triggers import Timer

from tb.blocks import block_param

PAGE_BYTES = 4096
"""AXI4: a burst must not cross a 4 KiB boundary."""
MAX_BEATS = 256
"""AXI4: an INCR burst has at most 256 beats."""
ADDR_BITS = block_param("ADDR_BITS", 32)
BYTES_BITS = block_param("BYTES_BITS", 16)
NUM_SIZES = block_param("NUM_SIZES", 8)
LEN_BITS = 8
ADDR_MOD = 1 << ADDR_BITS


@dataclass(frozen=True)
class Burst:
    addr: int       # beat-aligned AxADDR
    len: int        # AxLEN = beats - 1
    off: int        # byte offset of the payload in the first beat
    nbytes: int     # payload bytes
    last: bool      # ends the request


def split(addr: int, nbytes: int, bus: int) -> list[Burst]:
    """Reference split of a request of ``nbytes`` bytes from ``addr`` on a ``bus``-byte bus."""
    out = []
    while nbytes:
        off = addr % bus
        take = min(nbytes, PAGE_BYTES - addr % PAGE_BYTES, MAX_BEATS * bus - off)
        out.append(Burst(addr - off, -(-(off + take) // bus) - 1, off, take, take == nbytes))
        addr, nbytes = (addr + take) % ADDR_MOD, nbytes - take
    return out


def _field(value: int, i: int, width: int) -> int:
    return (value >> (i * width)) & ((1 << width) - 1)


async def rtl_split(dut, addr: int, nbytes: int, size_index: int) -> list[Burst]:
    """Walk the request through splitter ``size_index`` exactly as the engines do."""
    out: list[Burst] = []
    request = (addr, nbytes)
    while True:
        dut.addr.value, dut.bytes.value = addr, nbytes
        await Timer(1, unit="ns")
        b = Burst(_field(dut.burst_addr.value.to_unsigned(), size_index, ADDR_BITS),
                  _field(dut.burst_len.value.to_unsigned(), size_index, LEN_BITS),
                  _field(dut.burst_off.value.to_unsigned(), size_index, BYTES_BITS),
                  _field(dut.burst_bytes.value.to_unsigned(), size_index, BYTES_BITS),
                  bool(_field(dut.burst_last.value.to_unsigned(), size_index, 1)))
        out.append(b)
        assert len(out) <= request[1], f"request {request} does not end"
        if b.last or b.nbytes == 0:
            return out
        addr, nbytes = (addr + b.nbytes) % ADDR_MOD, nbytes - b.nbytes


def check_walk(addr: int, nbytes: int, bus: int, bursts: list[Burst]) -> None:
    """The AXI rules on every burst and exact, in-order, greedy coverage of the request."""
    what = f"request addr={addr:#x} bytes={nbytes} bus={bus}"
    cur, left = addr, nbytes
    for k, b in enumerate(bursts):
        beats = b.len + 1
        at = f"{what}, burst {k} {b}"
        assert b.nbytes >= 1, f"{at}: empty burst"
        assert b.addr % bus == 0, f"{at}: address not aligned to the bus"
        assert b.addr + b.off == cur, f"{at}: does not continue at {cur:#x}"
        assert b.off < bus, f"{at}: payload does not start in the first beat"
        assert beats <= MAX_BEATS, f"{at}: {beats} beats"
        assert (beats - 1) * bus < b.off + b.nbytes <= beats * bus, f"{at}: beats do not fit the payload"
        first_page = b.addr // PAGE_BYTES
        last_page = (b.addr + beats * bus - 1) // PAGE_BYTES
        assert first_page == last_page, f"{at}: crosses a 4 KiB boundary"
        assert b.nbytes <= left, f"{at}: runs past the request"
        assert b.last == (b.nbytes == left), f"{at}: burst_last wrong"
        if not b.last:
            end = b.addr + b.off + b.nbytes
            assert end % PAGE_BYTES == 0 or beats == MAX_BEATS, f"{at}: ends early for no reason"
        cur, left = (cur + b.nbytes) % ADDR_MOD, left - b.nbytes
    assert left == 0, f"{what}: {left} bytes not covered"
    assert bursts == split(addr, nbytes, bus), f"{what}: differs from the reference split"


def corner_requests() -> list[tuple[int, int, int]]:
    """(addr, bytes, size index): page ends, the 256-beat limit, address wrap, the longest count."""
    out = []
    top = (1 << BYTES_BITS) - 1
    for i in range(NUM_SIZES):
        bus = 1 << i
        limit = MAX_BEATS * bus
        for page in (0, 1, 7, ADDR_MOD // PAGE_BYTES - 1):
            base = page * PAGE_BYTES
            out += [(base, 1, i), (base, PAGE_BYTES, i), (base, PAGE_BYTES + 1, i),
                    (base + PAGE_BYTES - 1, 1, i), (base + PAGE_BYTES - 1, 2, i),
                    (base, limit, i), (base, limit + 1, i), (base + 1, limit, i),
                    (base + PAGE_BYTES - bus, 2 * bus, i), (base + 3, top, i)]
        out += [(ADDR_MOD - 5, 10, i), (ADDR_MOD - 1, top, i)]
    return out


def random_request(rng: random.Random) -> tuple[int, int, int]:
    size_index = rng.randrange(NUM_SIZES)
    pick = rng.random()
    if pick < 0.4:       # near a 4 KiB boundary
        addr = (rng.randrange(ADDR_MOD // PAGE_BYTES) * PAGE_BYTES + rng.randint(-70, 70)) % ADDR_MOD
    else:
        addr = rng.randrange(ADDR_MOD)
    pick = rng.random()
    if pick < 0.4:
        nbytes = rng.randint(1, 80)
    elif pick < 0.8:
        nbytes = rng.randint(1, 3 * PAGE_BYTES)
    else:
        nbytes = rng.randint(1, (1 << BYTES_BITS) - 1)
    return addr, nbytes, size_index


@cocotb.test()
async def test_corners(dut):
    for addr, nbytes, i in corner_requests():
        check_walk(addr, nbytes, 1 << i, await rtl_split(dut, addr, nbytes, i))


@cocotb.test()
async def test_random_requests(dut):
    rng = random.Random(7)
    bursts = 0
    for _ in range(1500):
        addr, nbytes, i = random_request(rng)
        walk = await rtl_split(dut, addr, nbytes, i)
        check_walk(addr, nbytes, 1 << i, walk)
        bursts += len(walk)
    dut._log.info(f"1500 random requests, {bursts} bursts checked")
