"""Max aggregation over a fixed graph (compiler/lower/ops/graph_max.py): ``scatter_reduce`` amax.

* exactness of the slot max tree: the golden simulator's output equals the max over the quantised
  input codes, dense (8 nodes) and gather-based (sparse, 160 nodes) constant-left GEMMs, signed
  input (differences beyond 127 codes: the split relu) and non-negative input;
* PyG ``SAGEConv(aggr="max")`` x2 on the karate graph plus a node without in-edges: fidelity of the
  golden simulator against float PyTorch on held-out features (the bar is the measured figure with
  margin);
* PyG ``GATConv`` (2 heads) -> ELU -> ``GATConv`` on the same graph (graph_attention.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compiler import compile_model
from compiler.fidelity import fidelity
from golden.sim import quantize, run_program


class _AmaxAgg(nn.Module):
    """out[i] = max over edges j -> i of x[j] (0 without in-edges), as PyG's max aggregation."""

    def __init__(self, n: int, relu: bool = False) -> None:
        super().__init__()
        self.n, self.relu = n, relu

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        if self.relu:
            x = torch.relu(x)
        src, dst = edge_index[0], edge_index[1]
        idx = dst[:, None].expand(-1, x.shape[1])
        out = torch.zeros(self.n, x.shape[1])
        return out.scatter_reduce(0, idx, x.index_select(0, src), reduce="amax", include_self=False)


def _hand_graph() -> torch.Tensor:
    """8 nodes: in-degrees 1, 2, 3, 5 (one duplicate edge), 1, 2, 2 and 0 (node 7)."""
    e = [(1, 0),
         (0, 1), (2, 1),
         (0, 2), (1, 2), (3, 2),
         (0, 3), (1, 3), (2, 3), (4, 3), (4, 3),
         (7, 4),
         (3, 5), (6, 5),
         (5, 6), (7, 6)]
    return torch.tensor(e).t().contiguous()


def _random_graph(n: int, seed: int, max_deg: int = 4) -> torch.Tensor:
    """Random in-degrees 0..max_deg (node 0 has none), sources anywhere."""
    g = np.random.default_rng(seed)
    src, dst = [], []
    for i in range(1, n):
        k = int(g.integers(1, max_deg + 1))
        src += list(g.integers(0, n, k))
        dst += [i] * k
    return torch.tensor([src, dst])


def _exact(n: int, ei: torch.Tensor, relu: bool, feat: int, seed: int) -> dict:
    m = _AmaxAgg(n, relu).eval()
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(n, feat, generator=g) for _ in range(6)]
    if not relu:     # a pair of neighbours of node 3 / node 1 ~255 codes apart (split relu)
        for x in xs:
            x[0, :] = 4.0
            x[2, :] = -4.0
    prog = compile_model(m, (xs[0], ei), calibration=[(x, ei) for x in xs[:4]])
    xin = prog.tensor(prog.manifest["inputs"][0])
    src, dst = ei[0].numpy(), ei[1].numpy()
    for x in xs:
        q = quantize(x.numpy(), xin["scale"], "int8").astype(np.float64)
        if relu:
            q = np.maximum(q, 0)
        want = np.zeros((n, feat))
        for i in range(n):
            js = src[dst == i]
            if len(js):
                want[i] = q[js].max(0)
        (got,) = run_program(prog, (x, ei))
        out = prog.tensor(prog.manifest["outputs"][0])
        err = np.abs(got.numpy() / xin["scale"] - want).max()
        assert err <= 2 * out["scale"] / xin["scale"] + 1e-6, err   # exact up to the int32 output LSB
    meta = next(ly["meta"] for ly in prog.manifest["layers"] if ly["op"] == "scatter_reduce")
    return meta


@pytest.mark.parametrize("relu", [False, True])
def test_max_tree_exact_dense(relu: bool) -> None:
    meta = _exact(8, _hand_graph(), relu, 20, 3)
    assert meta["max_slots"] == 5 and meta["max_signed"] is (not relu)
    assert "tiles_total" in meta            # dense constant-left GEMMs


def test_max_tree_exact_sparse() -> None:
    meta = _exact(160, _random_graph(160, 7), False, 24, 4)
    assert meta["gather_blocks"] == 10      # gather-based: 160 nodes / 16 per block


def _karate_plus_isolated() -> torch.Tensor:
    """Karate club (34 nodes, degrees 1..17) and node 34 with an out-edge but no in-edges."""
    from golden.models.gnn import karate
    ei = karate().edge_index
    return torch.cat([ei, torch.tensor([[34], [0]])], 1)


class _SageMax(nn.Module):
    def __init__(self, cin: int, hid: int, out: int) -> None:
        super().__init__()
        from torch_geometric.nn import SAGEConv
        self.c1 = SAGEConv(cin, hid, aggr="max")
        self.c2 = SAGEConv(hid, out, aggr="max")

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.c2(torch.relu(self.c1(x, edge_index)), edge_index)


def test_sage_max_karate() -> None:
    ei = _karate_plus_isolated()
    n = 35
    deg = torch.bincount(ei[1], minlength=n)
    assert deg[34] == 0 and len(set(deg.tolist())) > 5
    torch.manual_seed(0)
    m = _SageMax(16, 32, 4).eval()
    g = torch.Generator().manual_seed(5)
    cal = [(torch.randn(n, 16, generator=g), ei) for _ in range(8)]
    held = [(torch.randn(n, 16, generator=g), ei) for _ in range(6)]
    prog = compile_model(m, cal[0], calibration=cal)
    f = fidelity(m, held, program=prog)
    assert f.cosine >= 0.995, str(f)         # measured: min 0.9998, mean 0.9999, top-1 100%
    assert f.top1 >= 0.95, str(f)


class _Gat(nn.Module):
    """GATConv (2 heads, concat) -> ELU -> GATConv (1 head), as the coverage row pyg_gat."""

    def __init__(self, cin: int, hid: int, out: int) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv
        self.c1 = GATConv(cin, hid // 2, heads=2)
        self.c2 = GATConv(hid, out, heads=1)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.c2(torch.nn.functional.elu(self.c1(x, edge_index)), edge_index)


def test_gat_karate() -> None:
    """Segment max + log-domain segment softmax + runtime-weighted aggregation (graph_attention.py)."""
    ei = _karate_plus_isolated()
    n = 35
    torch.manual_seed(1)
    m = _Gat(16, 32, 4).eval()
    g = torch.Generator().manual_seed(6)
    cal = [(torch.randn(n, 16, generator=g), ei) for _ in range(8)]
    held = [(torch.randn(n, 16, generator=g), ei) for _ in range(6)]
    prog = compile_model(m, cal[0], calibration=cal)
    ops = {ly["op"] for ly in prog.manifest["layers"]}
    assert {"scatter_reduce", "div"} <= ops
    f = fidelity(m, held, program=prog)
    assert f.cosine >= 0.99, str(f)          # measured: min 0.9926, mean 0.9976, top-1 98.6%
