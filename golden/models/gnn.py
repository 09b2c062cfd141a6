"""Two-layer GNNs from PyTorch Geometric: GCN (``GCNConv``) and GraphSAGE (``SAGEConv``, mean).

Graphs:

* ``karate``: Zachary's karate club, built into PyG in memory (``KarateClub`` never downloads):
  34 nodes, 156 directed edges, identity features, 4 communities; trained on a seeded stratified
  half of the nodes (18), tested on the other 16.
* ``sbm``: a seeded stochastic block model, 10 000 nodes in 5 blocks (expected degree 8 inside
  the block + 8 across), 32-d Gaussian features whose means depend on the block (weakly: the
  graph is needed for high accuracy); the split is 10% train / 90% test nodes.

The graph structure is part of the model: every input tuple of one model shares the same
``edge_index``; only the node features ``x`` vary between calibration/fidelity inputs (Karate:
seeded N(0, 0.1^2) perturbations of the identity features; SBM: fresh draws of the block-conditional
features).  That lets the compiler fold the normalised adjacency into a constant GEMM operand,
built with :func:`dense_normalized_adjacency`; :class:`DenseGNN` is the same network written with
that dense matrix and plain matmuls, numerically equal to the PyG layers (tests assert it).

Both PyG models export cleanly with ``torch.export`` (the export contains index_select /
scatter-add style message passing); the dense form exports to mm/addmm/relu only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GCNConv, SAGEConv

from golden.models._util import disk_cached, freeze, recipe_key, seeded, state_copy


# -------------------------------------------------------------------------------------- graphs
@dataclass(frozen=True)
class Graph:
    """A node-classification graph: features, COO edges (source row 0 -> target row 1), labels."""

    x: torch.Tensor
    edge_index: torch.Tensor
    y: torch.Tensor
    train_mask: torch.Tensor
    num_classes: int
    feature_sigma: float
    """Std of the fresh feature noise used for calibration/fidelity inputs."""


@functools.cache
def karate() -> Graph:
    from torch_geometric.datasets import KarateClub

    d = KarateClub()[0]  # in-memory dataset, no root directory, nothing downloaded
    # PyG's own mask labels one node per class; SAGE cannot generalise from that with identity
    # features, so both models train on a seeded, class-stratified half of the nodes instead.
    rng = np.random.default_rng(34)
    train = np.zeros(d.num_nodes, dtype=bool)
    for c in range(4):
        members = np.flatnonzero(d.y.numpy() == c)
        train[rng.permutation(members)[: (len(members) + 1) // 2]] = True
    return Graph(d.x.clone(), d.edge_index.clone(), d.y.clone(), torch.tensor(train), 4, 0.1)


SBM_NODES, SBM_BLOCKS, SBM_FEATURES = 10_000, 5, 32
SBM_P_IN, SBM_P_OUT = 4e-3, 1e-3
"""Expected degree ~ 8 within the block + ~ 8 across the other four blocks (homophily ~ 0.5)."""


def _sbm_features(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    means = np.random.default_rng(4242).normal(0.0, 0.35, size=(SBM_BLOCKS, SBM_FEATURES))
    return means[y] + rng.normal(0.0, 1.0, size=(len(y), SBM_FEATURES))


@functools.cache
def sbm_graph(seed: int = 0) -> Graph:
    """Symmetric SBM without self loops or duplicate edges, sampled sparsely (O(E) memory).

    For each block pair the number of edges is Binomial(n_a * n_b, p) and the endpoints are
    uniform; duplicates are merged, so the realised density is marginally below p.
    """
    rng = np.random.default_rng(seed)
    n, k = SBM_NODES, SBM_BLOCKS
    y = np.repeat(np.arange(k), n // k)
    starts = np.arange(k) * (n // k)
    src_l, dst_l = [], []
    for a in range(k):
        for b in range(a, k):
            na, nb = n // k, n // k
            pairs = na * nb if a != b else na * (na - 1) // 2
            m = rng.binomial(pairs, SBM_P_IN if a == b else SBM_P_OUT)
            s = starts[a] + rng.integers(0, na, size=m)
            t = starts[b] + rng.integers(0, nb, size=m)
            src_l.append(s)
            dst_l.append(t)
    s, t = np.concatenate(src_l), np.concatenate(dst_l)
    keep = s != t
    s, t = s[keep], t[keep]
    e = np.unique(np.concatenate([np.stack([s, t]), np.stack([t, s])], axis=1), axis=1)
    x = _sbm_features(y, rng)
    train = np.zeros(n, dtype=bool)
    train[rng.permutation(n)[: n // 10]] = True
    return Graph(torch.tensor(x, dtype=torch.float32), torch.tensor(e, dtype=torch.int64),
                 torch.tensor(y, dtype=torch.int64), torch.tensor(train), k, 1.0)


# -------------------------------------------------------------------------------------- models
class GCN(nn.Module):
    """GCNConv -> ReLU -> GCNConv (PyG defaults: self loops, symmetric normalisation, bias)."""

    def __init__(self, cin: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(cin, hidden)
        self.conv2 = GCNConv(hidden, classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x, edge_index)), edge_index)


class SAGE(nn.Module):
    """SAGEConv(mean) -> ReLU -> SAGEConv(mean): out = lin_l(mean of neighbours) + lin_r(self)."""

    def __init__(self, cin: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv1 = SAGEConv(cin, hidden, aggr="mean")
        self.conv2 = SAGEConv(hidden, classes, aggr="mean")
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x, edge_index)), edge_index)


def dense_normalized_adjacency(edge_index: torch.Tensor, n: int, kind: str = "gcn") -> torch.Tensor:
    """Dense (n, n) float32 propagation matrix P with ``aggregate(x) = P @ x`` as PyG computes it.

    Edges run source ``edge_index[0]`` -> target ``edge_index[1]``; row = target, so
    ``A[t, s]`` counts edges s -> t (duplicates add up, as in PyG's scatter-add).

    * ``"gcn"``: ``D^-1/2 (A + I) D^-1/2`` with D the in-degree of A + I (``gcn_norm`` defaults,
      existing self loops are replaced by a single weight-1 loop like ``add_remaining_self_loops``).
    * ``"mean"``: ``D^-1 A`` (row-normalised, no self loop); rows of isolated nodes are zero, which
      is what PyG's mean aggregation returns for nodes without incoming edges.
    """
    src, dst = edge_index[0], edge_index[1]
    a = torch.zeros(n, n, dtype=torch.float64)
    if kind == "gcn":
        keep = src != dst
        ones = torch.ones(int(keep.sum()), dtype=torch.float64)
        a.index_put_((dst[keep], src[keep]), ones, accumulate=True)
        a += torch.eye(n, dtype=torch.float64)
        dinv = a.sum(1).pow(-0.5)
        return (dinv[:, None] * a * dinv[None, :]).float()
    if kind == "mean":
        a.index_put_((dst, src), torch.ones(src.numel(), dtype=torch.float64), accumulate=True)
        deg = a.sum(1, keepdim=True)
        return (a / deg.clamp(min=1.0)).float()
    raise ValueError(kind)


class DenseGNN(nn.Module):
    """The same 2-layer GCN/SAGE with a fixed dense propagation matrix: forward(x) only.

    GCN layer: ``P @ (x @ W^T) + b``; SAGE layer: ``(P @ x) @ Wl^T + bl + x @ Wr^T``, i.e. PyG's
    operation order, so the float results agree to rounding.
    """

    def __init__(self, model: GCN | SAGE, edge_index: torch.Tensor, n: int) -> None:
        super().__init__()
        self.kind = "gcn" if isinstance(model, GCN) else "mean"
        self.register_buffer("adj", dense_normalized_adjacency(edge_index, n, self.kind))
        self.lins = nn.ModuleList()
        for conv in (model.conv1, model.conv2):
            if isinstance(conv, GCNConv):
                lin = nn.Linear(conv.in_channels, conv.out_channels)
                lin.weight.data.copy_(conv.lin.weight.data)
                lin.bias.data.copy_(conv.bias.data)
                self.lins.append(lin)
            else:
                lin_l = nn.Linear(conv.in_channels, conv.out_channels)
                lin_l.load_state_dict(conv.lin_l.state_dict())
                lin_r = nn.Linear(conv.in_channels, conv.out_channels, bias=False)
                lin_r.load_state_dict(conv.lin_r.state_dict())
                self.lins.append(nn.ModuleList([lin_l, lin_r]))

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        lin = self.lins[i]
        if isinstance(lin, nn.Linear):
            return self.adj @ (x @ lin.weight.t()) + lin.bias
        lin_l, lin_r = lin[0], lin[1]
        return lin_l(self.adj @ x) + lin_r(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._layer(1, torch.relu(self._layer(0, x)))


# -------------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class GnnRecipe:
    arch: str  # "gcn" | "sage"
    graph: str  # "karate" | "sbm"
    hidden: int
    steps: int
    lr: float
    seed: int


RECIPES: dict[str, GnnRecipe] = {
    "gcn_karate": GnnRecipe("gcn", "karate", 16, 200, 0.01, 11),
    "sage_karate": GnnRecipe("sage", "karate", 16, 200, 0.01, 12),
    "gcn_sbm": GnnRecipe("gcn", "sbm", 64, 100, 0.01, 13),
    "sage_sbm": GnnRecipe("sage", "sbm", 64, 100, 0.01, 14),
}


def graph_of(name: str) -> Graph:
    return karate() if RECIPES[name].graph == "karate" else sbm_graph()


def _arch(name: str) -> GCN | SAGE:
    r, g = RECIPES[name], graph_of(name)
    with seeded(r.seed, threads=None):
        cls = GCN if r.arch == "gcn" else SAGE
        return cls(g.x.shape[1], r.hidden, g.num_classes)


def train(model: nn.Module, g: Graph, r: GnnRecipe) -> nn.Module:
    """Full-batch Adam (weight decay 5e-4) on the training nodes, 1 thread, no dropout."""
    with seeded(r.seed, threads=1):
        opt = torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=5e-4)
        model.train()
        for _ in range(r.steps):
            out = model(g.x, g.edge_index)
            loss = nn.functional.cross_entropy(out[g.train_mask], g.y[g.train_mask])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def _make_state(name: str) -> dict[str, torch.Tensor]:
    model = _arch(name)
    train(model, graph_of(name), RECIPES[name])
    return state_copy(model)


@functools.cache
def _cached_state(name: str) -> dict[str, torch.Tensor]:
    """Karate trains in well under a second: only the SBM models use the disk cache."""
    if RECIPES[name].graph == "karate":
        return _make_state(name)
    code = [_make_state, _arch, GCN, SAGE, train, sbm_graph, _sbm_features]
    return disk_cached(recipe_key(name, RECIPES[name], SBM_P_IN, SBM_P_OUT, code=code),
                       lambda: _make_state(name))


def build(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """A fresh eval-mode copy of the trained GNN and the example input (x, edge_index) of its graph."""
    model = _arch(name)
    model.load_state_dict(_cached_state(name))
    g = graph_of(name)
    return freeze(model), (g.x, g.edge_index)


def build_dense(name: str) -> tuple[DenseGNN, tuple[torch.Tensor, ...]]:
    """The dense-adjacency equivalent of ``build(name)``: forward(x) with P folded in as a buffer."""
    model, (x, ei) = build(name)
    return freeze(DenseGNN(model, ei, x.shape[0])), (x,)


def _features(name: str, n: int, seed: int) -> list[torch.Tensor]:
    """Node-feature matrices: item 0 of seed 0 is the dataset's own features, the rest are fresh."""
    g = graph_of(name)
    out = []
    for i in range(n):
        if seed == 0 and i == 0:
            out.append(g.x)
            continue
        gen = torch.Generator().manual_seed(seed * 100_003 + i)
        if RECIPES[name].graph == "karate":
            out.append(g.x + g.feature_sigma * torch.randn(g.x.shape, generator=gen))
        else:
            rng = np.random.default_rng(seed * 100_003 + i)
            out.append(torch.tensor(_sbm_features(g.y.numpy(), rng), dtype=torch.float32))
    return out


def calibration(name: str, n: int) -> list[tuple[torch.Tensor, ...]]:
    ei = graph_of(name).edge_index
    return [(x, ei) for x in _features(name, n, seed=1_000)]


def batch(name: str, n: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    ei = graph_of(name).edge_index
    return [(x, ei) for x in _features(name, n, seed)]


def targets(name: str, n: int, seed: int) -> list[torch.Tensor]:
    """Node labels (num_nodes,) for every input of ``batch`` (the graph's labels do not change)."""
    return [graph_of(name).y] * n


def accuracy(name: str, split: str = "test") -> float:
    """Top-1 node accuracy of the float model on the dataset features.

    ``split`` "test" = nodes outside the training mask; "all" = every node.
    """
    model, ex = build(name)
    g = graph_of(name)
    with torch.no_grad():
        pred = model(*ex).argmax(-1)
    mask = ~g.train_mask if split == "test" else torch.ones_like(g.train_mask)
    return float((pred[mask] == g.y[mask]).float().mean())
